"""Size limits a reader enforces (MIP-1 §9). Settings, not constants baked into code paths."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Upper bounds on untrusted input; every reader takes one (defaults are the spec's)."""

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
