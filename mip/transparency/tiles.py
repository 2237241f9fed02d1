"""C2SP tlog-tiles: a log served as immutable tiles of hashes and bundles of entries.

A tile of height ``H`` at level ``L``, number ``N``, lists ``W`` consecutive hashes of tree level
``H*L`` starting at hash ``N * 2**H``; a full tile has ``W = 2**H``, a partial one fewer. C2SP fixes
``H = 8`` (256 hashes, 8,192 bytes) and serves tiles at ``tile/<L>/<N>[.p/<W>]`` and entry bundles
(the entries under a level-0 tile, each prefixed by its big-endian uint16 length) at
``tile/entries/<N>[.p/<W>]``; ``N`` is written in 3-digit path elements, all but the last
prefixed with ``x`` (1234067 is ``x001/x234/067``).

The tile of a stored hash and the tiles a client must fetch to check hashes against a checkpoint
follow golang.org/x/mod/sumdb/tlog (which takes the height as a parameter, as here, so its test
vectors apply); :class:`TileHashReader` authenticates every tile it is handed against the tree's
root before it returns a hash from one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import msgspec

from mip.errors import InvalidProofError, InvalidTilePathError, LogEntryError, TileMismatchError
from mip.transparency.merkle import HASH_SIZE, node_hash
from mip.transparency.prover import HashReader, split_stored_hash_index, stored_hash_index

#: The tile height C2SP tlog-tiles fixes: 2**8 = 256 hashes in a full tile.
TILE_HEIGHT = 8
#: The level number of entry bundles (``tile/entries/...``).
ENTRIES_LEVEL = -1
#: Entries in a bundle are prefixed by a big-endian uint16 length.
MAX_ENTRY_SIZE = 0xFFFF

_PATH_BASE = 1000
_LEVEL_RE = re.compile(r"0|[1-9][0-9]?")
_WIDTH_RE = re.compile(r"[1-9][0-9]{0,2}")
_ELEMENT_RE = re.compile(r"x?[0-9]{3}")


class Tile(msgspec.Struct, frozen=True):
    """One tile: ``width`` hashes of tree level ``height * level`` from ``index * 2**height``.

    ``level`` is :data:`ENTRIES_LEVEL` for an entry bundle (the entries under level-0 tile
    ``index``).
    """

    height: int
    level: int
    index: int
    width: int

    @property
    def is_full(self) -> bool:
        """Whether the tile holds ``2**height`` hashes."""
        return self.width == 1 << self.height

    def path(self) -> str:
        """The C2SP path (without the log's URL prefix), e.g. ``tile/0/x001/234.p/7``."""
        number = self.index
        text = f"{number % _PATH_BASE:03d}"
        while number >= _PATH_BASE:
            number //= _PATH_BASE
            text = f"x{number % _PATH_BASE:03d}/{text}"
        level = "entries" if self.level == ENTRIES_LEVEL else str(self.level)
        partial = "" if self.is_full else f".p/{self.width}"
        return f"tile/{level}/{text}{partial}"


def parse_tile_path(path: str, height: int = TILE_HEIGHT) -> Tile:
    """The tile a C2SP path names; anything but the one canonical spelling is refused with
    :class:`InvalidTilePathError` (leading zeros, widths out of range, other separators)."""
    fields = path.split("/")
    if len(fields) < 3 or fields[0] != "tile":
        raise InvalidTilePathError(f"not a tile path: {path[:80]!r}")
    if fields[1] == "entries":
        level = ENTRIES_LEVEL
    elif _LEVEL_RE.fullmatch(fields[1]) and int(fields[1]) < 64:
        level = int(fields[1])
    else:
        raise InvalidTilePathError(
            f"not a tile path: {path[:80]!r} (the level is 0 to 63 or 'entries')"
        )
    width = 1 << height
    elements = fields[2:]
    if len(elements) >= 2 and elements[-2].endswith(".p"):
        if not _WIDTH_RE.fullmatch(elements[-1]) or not 0 < int(elements[-1]) < width:
            raise InvalidTilePathError(
                f"not a tile path: {path[:80]!r} (a partial width is 1 to {width - 1})"
            )
        width = int(elements[-1])
        elements = [*elements[:-2], elements[-2][: -len(".p")]]
    number = 0
    for position, element in enumerate(elements):
        last = position == len(elements) - 1
        if not _ELEMENT_RE.fullmatch(element) or element.startswith("x") == last:
            raise InvalidTilePathError(
                f"not a tile path: {path[:80]!r} (the index is written as 3-digit elements, "
                "all but the last starting with 'x')"
            )
        number = number * _PATH_BASE + int(element.removeprefix("x"))
    tile = Tile(height, level, number, width)
    if tile.path() != path:
        # e.g. "x000/001": a leading zero element is another spelling of 1.
        raise InvalidTilePathError(f"not the canonical path of its tile: {path[:80]!r}")
    return tile


def tile_for_index(height: int, index: int) -> tuple[Tile, int, int]:
    """The narrowest tile of ``height`` holding stored hash ``index``, and the byte range of
    the tile's data whose hashes rebuild that stored hash (a subtree inside the tile)."""
    level, n = split_stored_hash_index(index)
    tile_level = level // height
    level -= tile_level * height  # the level inside the tile
    tile_index = (n << level) >> height
    n -= (tile_index << height) >> level  # the position at that level inside the tile
    width = (n + 1) << level
    tile = Tile(height, tile_level, tile_index, width)
    return tile, (n << level) * HASH_SIZE, ((n + 1) << level) * HASH_SIZE


def tile_hash(data: bytes) -> bytes:
    """The hash of the subtree whose bottom row is ``data`` (a power of two of hashes)."""
    if len(data) == HASH_SIZE:
        return data
    half = len(data) // 2
    return node_hash(tile_hash(data[:half]), tile_hash(data[half:]))


def hash_from_tile(tile: Tile, data: bytes, index: int) -> bytes:
    """Stored hash ``index``, rebuilt from the data of ``tile`` (which must hold it)."""
    if len(data) < tile.width * HASH_SIZE:
        raise TileMismatchError(
            f"tile {tile.path()} has {len(data)} bytes; {tile.width} hashes are "
            f"{tile.width * HASH_SIZE}"
        )
    wanted, start, end = tile_for_index(tile.height, index)
    if (wanted.level, wanted.index) != (tile.level, tile.index) or tile.width < wanted.width:
        raise InvalidProofError(
            f"stored hash {index} is in tile {wanted.path()}, not {tile.path()}"
        )
    return tile_hash(data[start:end])


def tile_hash_indexes(tile: Tile) -> list[int]:
    """The stored hash indexes whose hashes, in order, are the data of ``tile``."""
    start = tile.index << tile.height
    level = tile.height * tile.level
    return [stored_hash_index(level, start + offset) for offset in range(tile.width)]


def tile_data(tile: Tile, reader: HashReader) -> bytes:
    """The bytes of ``tile``: its hashes, read from ``reader``, concatenated."""
    hashes = reader.read_hashes(tile_hash_indexes(tile))
    if len(hashes) != tile.width:
        raise InvalidProofError(f"the hash store returned {len(hashes)} hashes for {tile.path()}")
    return b"".join(hashes)


def hashes_at_level(tile_level: int, height: int, tree_size: int) -> int:
    """How many hashes tile level ``tile_level`` has in a tree of ``tree_size`` entries."""
    return tree_size >> (height * max(tile_level, 0))


def tile_exists(tile: Tile, tree_size: int) -> bool:
    """Whether a tree of ``tree_size`` entries has all of ``tile`` (so it is immutable)."""
    available = hashes_at_level(tile.level, tile.height, tree_size)
    return tile.width > 0 and (tile.index << tile.height) + tile.width <= available


def new_tiles(height: int, old_size: int, new_size: int) -> list[Tile]:
    """The tiles a log publishes when it grows from ``old_size`` to ``new_size`` entries."""
    tiles = []
    level = 0
    while new_size >> (height * level) > 0:
        old_count = old_size >> (height * level)
        new_count = new_size >> (height * level)
        if old_count != new_count:
            for number in range(old_count >> height, new_count >> height):
                tiles.append(Tile(height, level, number, 1 << height))
            number = new_count >> height
            width = new_count - (number << height)
            if width > 0:
                tiles.append(Tile(height, level, number, width))
        level += 1
    return tiles


def encode_entry_bundle(entries: Sequence[bytes]) -> bytes:
    """An entry bundle: each entry prefixed by its big-endian uint16 length."""
    parts = []
    for entry in entries:
        if len(entry) > MAX_ENTRY_SIZE:
            raise LogEntryError(f"a log entry of {len(entry)} bytes is over {MAX_ENTRY_SIZE}")
        parts.append(len(entry).to_bytes(2, "big") + entry)
    return b"".join(parts)


def decode_entry_bundle(data: bytes) -> list[bytes]:
    """The entries of an entry bundle; a truncated one raises :class:`TileMismatchError`."""
    entries = []
    position = 0
    while position < len(data):
        if position + 2 > len(data):
            raise TileMismatchError("the entry bundle ends inside a length prefix")
        length = int.from_bytes(data[position : position + 2], "big")
        position += 2
        if position + length > len(data):
            raise TileMismatchError("the entry bundle ends inside an entry")
        entries.append(data[position : position + length])
        position += length
    return entries


def _tile_parent(tile: Tile, steps: int, tree_size: int) -> Tile | None:
    """``tile``'s ancestor ``steps`` tile levels up in a tree of ``tree_size`` (``None``: none)."""
    level = tile.level + steps
    number = tile.index >> (steps * tile.height)
    width = 1 << tile.height
    available = tree_size >> (level * tile.height)
    if (number << tile.height) + width >= available:
        if number << tile.height >= available:
            return None
        width = available - (number << tile.height)
    return Tile(tile.height, level, number, width)


class TileHashReader:
    """A :class:`HashReader` over tiles fetched by ``fetch``, each checked against the root.

    Before returning any hash it rebuilds the tree's root from the tiles it fetched (and each
    full tile's hash from its parent tile); a tile that disagrees raises
    :class:`TileMismatchError` -- "a tile that lies" -- so every hash it returns is proven to be
    in the tree of ``tree_size`` entries with root ``root``. Only checked tiles are handed to
    ``on_verified``, so a cache keeps nothing unproven.
    """

    def __init__(
        self,
        tree_size: int,
        root: bytes,
        fetch: Callable[[list[Tile]], list[bytes]],
        height: int = TILE_HEIGHT,
        on_verified: Callable[[list[Tile], list[bytes]], None] | None = None,
    ) -> None:
        self.tree_size = tree_size
        self.root = root
        self.height = height
        self._fetch = fetch
        self._on_verified = on_verified

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        """See :meth:`HashReader.read_hashes`."""
        order: dict[Tile, int] = {}
        tiles: list[Tile] = []

        def plan(tile: Tile) -> int:
            if tile not in order:
                order[tile] = len(tiles)
                tiles.append(tile)
            return order[tile]

        # The tiles that rebuild the root: once it matches, they are authenticated.
        root_indexes = _root_indexes(self.tree_size)
        root_tiles = []
        for index in root_indexes:
            tile = _tile_parent(tile_for_index(self.height, index)[0], 0, self.tree_size)
            assert tile is not None
            root_tiles.append(plan(tile))
        # Then the tiles of the wanted hashes, each after the ancestors that authenticate it.
        wanted_tiles = []
        for index in indexes:
            if index >= stored_hash_index(0, self.tree_size):
                raise InvalidProofError(f"stored hash {index} is not in a tree of {self.tree_size}")
            tile = tile_for_index(self.height, index)[0]
            steps = 0
            while True:
                parent = _tile_parent(tile, steps, self.tree_size)
                if parent is not None and parent in order:
                    break
                steps += 1
            for down in range(steps - 1, -1, -1):
                child = _tile_parent(tile, down, self.tree_size)
                assert child is not None
                plan(child)
            found = _tile_parent(tile, 0, self.tree_size)
            assert found is not None
            wanted_tiles.append(order[found])

        data = self._fetch(list(tiles))
        if len(data) != len(tiles):
            raise TileMismatchError(f"asked for {len(tiles)} tiles, got {len(data)}")
        for tile, content in zip(tiles, data, strict=True):
            if len(content) != tile.width * HASH_SIZE:
                raise TileMismatchError(
                    f"tile {tile.path()} has {len(content)} bytes, not {tile.width * HASH_SIZE}"
                )
        root = hash_from_tile(tiles[root_tiles[-1]], data[root_tiles[-1]], root_indexes[-1])
        for position in range(len(root_indexes) - 2, -1, -1):
            slot = root_tiles[position]
            root = node_hash(hash_from_tile(tiles[slot], data[slot], root_indexes[position]), root)
        if root != self.root:
            raise TileMismatchError(
                f"the tiles do not rebuild the root of the tree of size {self.tree_size}: "
                "at least one of them lies"
            )
        for slot in range(len(set(root_tiles)), len(tiles)):
            tile = tiles[slot]
            parent = _tile_parent(tile, 1, self.tree_size)
            if parent is None or parent not in order:
                raise TileMismatchError(f"tile {tile.path()} has no authenticated parent")
            expected = hash_from_tile(
                parent,
                data[order[parent]],
                stored_hash_index(parent.level * parent.height, tile.index),
            )
            if tile_hash(data[slot]) != expected:
                raise TileMismatchError(
                    f"tile {tile.path()} does not hash to its entry in tile {parent.path()}"
                )
        if self._on_verified is not None:
            self._on_verified(list(tiles), list(data))
        return [
            hash_from_tile(tiles[slot], data[slot], index)
            for slot, index in zip(wanted_tiles, indexes, strict=True)
        ]


def _root_indexes(tree_size: int) -> list[int]:
    """The stored hashes whose combination is the root of ``tree_size`` entries."""
    indexes = []
    lo = 0
    while lo < tree_size:
        level = (tree_size - lo).bit_length() - 1
        indexes.append(stored_hash_index(level, lo >> level))
        lo += 1 << level
    return indexes
