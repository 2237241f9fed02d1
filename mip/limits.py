"""Size limits a reader enforces (MIP-1 §9). Settings, not constants baked into code paths."""

from __future__ import annotations

from typing import NamedTuple


class Limits(NamedTuple):
    """Upper bounds on untrusted input; every reader takes one (defaults are the spec's).

    A named tuple, not a msgspec struct (ADR 0012): :mod:`mip.archive` needs it, and ``memos
    publish`` and ``memos verify`` start reading the archive before msgspec is imported.
    """

    max_manifest_bytes: int = 1 << 20
    max_envelope_bytes: int = 2 << 20
    max_parts: int = 1024
    max_entries: int = 4096
    max_blob_bytes: int = 64 << 30
    max_record_bytes: int = 8 << 20
    max_records: int = 10_000_000
    max_safetensors_header_bytes: int = 16 << 20
    max_signatures: int = 16


DEFAULT_LIMITS = Limits()

# Limits of the manifest schema itself (MIP-1 §5.4): fixed by the protocol, not reader settings,
# so every implementation accepts the same manifests.

#: Longest cube card README, in characters (Unicode code points, as JSON Schema counts them).
#: 64 Ki characters hold the longest model cards commonly published (a few thousand words with
#: tables) and keep a card, even at four UTF-8 bytes a character, well inside the 1 MiB manifest.
MAX_CARD_README_CHARS = 65_536
#: Longest homepage or repository URL of a card, in characters.
MAX_CARD_URL_CHARS = 2_000
