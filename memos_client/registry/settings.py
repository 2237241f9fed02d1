"""The bounds a registry client keeps to: timeouts, deadlines, size limits, upload sizes.

Settings, not constants in code paths (python-tuf keeps its limits the same way); the defaults can
be changed for one process with ``MEMOS_HTTP_TIMEOUT`` and ``MEMOS_HTTP_DEADLINE``.
"""

from __future__ import annotations

import msgspec

from memos_client.errors import UsageError
from mip.limits import DEFAULT_LIMITS


class ClientSettings(msgspec.Struct, frozen=True):
    """Bounds on what a registry may make this client do (python-tuf keeps them as settings)."""

    #: Seconds to connect, and to wait for each next byte.
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    #: Seconds a request may take in all (its body read included), before any transfer time.
    deadline: float = 120.0
    #: Transfers (blobs up and down) get ``deadline + size / min_transfer_rate`` seconds.
    min_transfer_rate: float = 64 << 10
    #: The largest JSON document accepted (a cube document of thousands of versions fits).
    max_document_bytes: int = 16 << 20
    #: The largest envelope accepted (MIP-1 §9's limit).
    max_envelope_bytes: int = DEFAULT_LIMITS.max_envelope_bytes
    #: The most of an error answer read (the message shown is shorter still).
    max_error_bytes: int = 64 << 10
    max_redirects: int = 5
    #: Blobs up to this size go in one PUT; larger ones through a resumable session (spec §3).
    monolithic_limit: int = 256 << 20
    #: Chunk size of resumable uploads (the server may announce a smaller maximum).
    upload_chunk: int = 32 << 20

    @classmethod
    def from_environment(cls) -> ClientSettings:
        """The defaults, with ``MEMOS_HTTP_TIMEOUT`` (seconds to wait for each next byte, as
        uv's ``UV_HTTP_TIMEOUT``) and ``MEMOS_HTTP_DEADLINE`` (seconds a request may take
        before any transfer time) when set."""
        import os

        changes: dict[str, float] = {}
        for variable, field in (
            ("MEMOS_HTTP_TIMEOUT", "read_timeout"),
            ("MEMOS_HTTP_DEADLINE", "deadline"),
        ):
            value = os.environ.get(variable)
            if not value:
                continue
            try:
                seconds = float(value)
            except ValueError:
                seconds = -1.0
            if not 0 < seconds < 1e9:
                raise UsageError(f"{variable}={value!r} is not a number of seconds above 0")
            changes[field] = seconds
        return msgspec.structs.replace(cls(), **changes) if changes else cls()
