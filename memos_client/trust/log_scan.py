"""Read a range of log entries, each proven to be in a signed tree (spec §12.5, §12.9).

Entries come from C2SP entry bundles; their leaf hashes from level-0 tiles, which
:class:`~mip.transparency.tiles.TileHashReader` authenticates against the checkpoint's root
before it returns a hash. An entry whose leaf hash differs from the proven one -- a bundle or a
tile that lies -- is :class:`~mip.errors.TileMismatchError` (``log_tile_mismatch``). Tiles and
bundles are immutable URLs, so a CDN in front of the registry serves every byte read here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from mip.errors import TileMismatchError
from mip.transparency.merkle import HASH_SIZE, leaf_hash
from mip.transparency.prover import stored_hash_index
from mip.transparency.tiles import (
    ENTRIES_LEVEL,
    MAX_ENTRY_SIZE,
    TILE_HEIGHT,
    Tile,
    TileHashReader,
    decode_entry_bundle,
)

if TYPE_CHECKING:
    from mip.registry_api import LogConsistency, LogInclusion, LogInfo
    from mip.transparency.checkpoint import Checkpoint

_WIDTH = 1 << TILE_HEIGHT


class LogClient(Protocol):
    """The log's reads (spec §12.4), as :class:`memos_client.registry.client.RegistryClient`
    makes them; the trust layer sits below the registry client, so it names only this seam."""

    def log_info(self) -> LogInfo:
        """``GET /v1/log``."""
        ...

    def log_consistency(self, first: int, second: int) -> LogConsistency:
        """``GET /v1/log/consistency``."""
        ...

    def log_inclusion(
        self, name: str, version: str, event: str = "publish", tree_size: int | None = None
    ) -> LogInclusion:
        """``GET /v1/log/cubes/.../inclusion``."""
        ...

    def log_tile(self, tile_path: str, limit: int) -> bytes:
        """``GET /v1/log/tile/...`` (at most ``limit`` bytes)."""
        ...


def _fetch_all(client: LogClient, tiles: list[Tile], entry_size: int) -> list[bytes]:
    """Every tile's bytes (at most ``width * entry_size`` each), fetched 8 at a time."""

    def one(tile: Tile) -> bytes:
        return client.log_tile(tile.path(), tile.width * entry_size)

    if len(tiles) < 2:
        return [one(tile) for tile in tiles]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="memos-tiles") as pool:
        return list(pool.map(one, tiles))


def read_proven_entries(
    client: LogClient, checkpoint: Checkpoint, start: int, end: int
) -> list[bytes]:
    """Entries ``start`` to ``end - 1`` of the tree ``checkpoint`` signs (verified: the caller
    checked the checkpoint's signature), each one's leaf hash proven by tiles."""
    end = min(end, checkpoint.size)
    if start >= end:
        return []
    reader = TileHashReader(
        checkpoint.size, checkpoint.root_hash, lambda tiles: _fetch_all(client, tiles, HASH_SIZE)
    )
    proven = reader.read_hashes([stored_hash_index(0, index) for index in range(start, end)])
    bundles = [
        Tile(TILE_HEIGHT, ENTRIES_LEVEL, number, min(_WIDTH, checkpoint.size - number * _WIDTH))
        for number in range(start // _WIDTH, (end - 1) // _WIDTH + 1)
    ]
    entries: list[bytes] = []
    for bundle, data in zip(bundles, _fetch_all(client, bundles, 2 + MAX_ENTRY_SIZE), strict=True):
        number, width = bundle.index, bundle.width
        found = decode_entry_bundle(data)
        if len(found) != width:
            raise TileMismatchError(
                f"entry bundle {bundle.path()} holds {len(found)} entries, not {width}"
            )
        first = number * _WIDTH
        for offset, entry in enumerate(found):
            index = first + offset
            if start <= index < end:
                if leaf_hash(entry) != proven[index - start]:
                    raise TileMismatchError(
                        f"entry {index} of bundle {bundle.path()} is not the entry the "
                        f"tiles prove for the tree of {checkpoint.size}: the bundle lies"
                    )
                entries.append(entry)
    return entries
