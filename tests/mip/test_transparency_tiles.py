"""C2SP tlog-tiles: paths (Go's vectors), the tiles a growing log publishes, tile checks.

The tree test follows golang.org/x/mod/sumdb/tlog's TestTree: a log of 100 entries with tiles of
height 2, every tile extending the previous one, every proof rebuilt from tiles alone.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mip.errors import InvalidProofError, InvalidTilePathError, TileMismatchError
from mip.transparency.merkle import leaf_hash, verify_consistency, verify_inclusion
from mip.transparency.prover import (
    consistency_proof,
    hashes_to_store,
    inclusion_proof,
    stored_hash_index,
    tree_hash,
)
from mip.transparency.tiles import (
    TILE_HEIGHT,
    Tile,
    TileHashReader,
    decode_entry_bundle,
    encode_entry_bundle,
    hash_from_tile,
    new_tiles,
    parse_tile_path,
    tile_data,
    tile_exists,
    tile_for_index,
)
from tests.mip.test_transparency_merkle import Store

GO = json.loads(
    (Path(__file__).resolve().parents[2] / "spec/vectors/transparency/go-sumdb.json").read_text()
)


@pytest.mark.parametrize("vector", GO["tile_paths"], ids=lambda v: v["path"])
def test_go_tile_paths(vector: dict[str, int | str]) -> None:
    tile = Tile(
        int(vector["height"]), int(vector["level"]), int(vector["index"]), int(vector["width"])
    )
    assert tile.path() == vector["path"]
    assert parse_tile_path(str(vector["path"]), int(vector["height"])) == tile


@pytest.mark.parametrize(
    "path",
    [
        *GO["bad_tile_paths"],
        "tile/0/x000/001",  # a leading zero element: another spelling of 1
        "tile/0/001.p/0",
        "tile/0/001.p/256",
        "tile/0/001.p/07",
        "tile/64/000",
        "tile/01/000",
        "tile/0/1",
        "tile/0/x001",
        "tile/0",
        "blob/0/000",
        "tile/0/000/",
        "tile/0/000.p/",
        "tile/entries/000.p/5/6",
    ],
)
def test_bad_tile_paths_are_refused(path: str) -> None:
    with pytest.raises(InvalidTilePathError):
        parse_tile_path(path)


@given(st.integers(0, 63) | st.just(-1), st.integers(0, 10**12), st.integers(1, 256))
def test_tile_paths_round_trip(level: int, index: int, width: int) -> None:
    tile = Tile(TILE_HEIGHT, level, index, width)
    assert parse_tile_path(tile.path()) == tile


@given(st.text(max_size=40))
def test_any_text_parses_or_is_refused(path: str) -> None:
    try:
        tile = parse_tile_path(path)
    except InvalidTilePathError:
        return
    assert tile.path() == path


@pytest.mark.parametrize(("old", "new", "count"), GO["new_tiles_height_10"])
def test_go_new_tiles_counts(old: int, new: int, count: int) -> None:
    assert len(new_tiles(10, old, new)) == count


def test_c2sp_example_of_a_tree_of_70000() -> None:
    """tlog-tiles: 273 full level-0 tiles, one of width 112, one full level-1 tile, one of
    width 17, one level-2 tile of width 1."""
    tiles = new_tiles(TILE_HEIGHT, 0, 70_000)
    assert sum(1 for t in tiles if t.level == 0 and t.is_full) == 273
    assert [t.width for t in tiles if not t.is_full] == [112, 17, 1]
    assert sum(1 for t in tiles if t.level == 1 and t.is_full) == 1
    assert tile_exists(Tile(8, 0, 273, 112), 70_000)
    assert not tile_exists(Tile(8, 0, 273, 113), 70_000)
    assert not tile_exists(Tile(8, 3, 0, 1), 70_000)


def test_tree_of_100_with_tiles_of_height_2() -> None:
    height = 2
    store = Store()
    published: dict[Tile, bytes] = {}
    leaves, roots = [], []
    verified: list[Tile] = []
    for n in range(100):
        leaf = leaf_hash(b"leaf %d" % n)
        start = len(store)
        store.extend(hashes_to_store(n, leaf, store))
        leaves.append(leaf)
        roots.append(tree_hash(n + 1, store))
        for tile in new_tiles(height, n, n + 1):
            data = tile_data(tile, store)
            before = published.get(Tile(height, tile.level, tile.index, tile.width - 1), b"")
            assert data[: len(before)] == before
            assert len(data) == len(before) + 32
            published[tile] = data
        for index in range(start, len(store)):
            tile, _, _ = tile_for_index(height, index)
            assert hash_from_tile(tile, published[tile], index) == store[index]
        verified.clear()
        reader = TileHashReader(
            n + 1,
            roots[-1],
            lambda tiles: [published[t] for t in tiles],
            height=height,
            on_verified=lambda tiles, _data: verified.extend(tiles),
        )
        for j in range(n + 1):
            assert reader.read_hashes([stored_hash_index(0, j)]) == [leaves[j]]
            verify_inclusion(j, n + 1, leaves[j], inclusion_proof(n + 1, j, reader), roots[-1])
            assert tree_hash(j + 1, reader) == roots[j]
            proof = consistency_proof(n + 1, j + 1, reader)
            verify_consistency(j + 1, n + 1, proof, roots[j], roots[-1])
        assert verified
        with pytest.raises(InvalidProofError):
            reader.read_hashes([stored_hash_index(0, n + 1)])


def test_a_lying_tile_is_caught() -> None:
    """Tree of 300 (tiles of 256): the root is rebuilt from tile/1/000.p/1 and tile/0/001.p/44;
    a hash of the full tile/0/000 is only proven by its parent."""
    store = Store()
    for n in range(300):
        store.extend(hashes_to_store(n, leaf_hash(b"%d" % n), store))
    root = tree_hash(300, store)

    def lying(target: Tile) -> TileHashReader:
        def fetch(tiles: list[Tile]) -> list[bytes]:
            out = []
            for tile in tiles:
                data = bytearray(tile_data(tile, store))
                if tile == target:
                    data[5 * 32] ^= 1
                out.append(bytes(data))
            return out

        return TileHashReader(300, root, fetch)

    with pytest.raises(TileMismatchError, match="does not hash to its entry"):
        lying(Tile(8, 0, 0, 256)).read_hashes([stored_hash_index(0, 5)])
    with pytest.raises(TileMismatchError, match="rebuild the root"):
        lying(Tile(8, 0, 1, 44)).read_hashes([stored_hash_index(0, 261)])
    short = TileHashReader(300, root, lambda tiles: [b"\0" * 32 for _ in tiles])
    with pytest.raises(TileMismatchError, match="bytes, not"):
        short.read_hashes([stored_hash_index(0, 5)])
    honest = TileHashReader(300, root, lambda tiles: [tile_data(t, store) for t in tiles])
    assert honest.read_hashes([stored_hash_index(0, 5)]) == [store[stored_hash_index(0, 5)]]


def test_entry_bundles() -> None:
    entries = [b"", b"a", b"x" * 300]
    bundle = encode_entry_bundle(entries)
    assert bundle[:2] == b"\0\0"
    assert bundle[2:5] == b"\0\1a"
    assert decode_entry_bundle(bundle) == entries
    with pytest.raises(TileMismatchError):
        decode_entry_bundle(bundle[:-1])
    with pytest.raises(TileMismatchError):
        decode_entry_bundle(b"\0")
