"""What every client of the registry API shares, free of any HTTP library.

:class:`~memos_client.registry.index_client.IndexClient` (httpx) and
:class:`~memos_client.registry.publish_client.PublishClient` (the standard library, for ``memos publish``)
send the same headers, follow the same upload rule (spec §3), return the same results and read
error answers the same way (spec §1, §9). Importing this module costs nothing measurable.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import msgspec

from memos_client.errors import RegistryError

#: Blobs up to this size go in one PUT; larger ones through a resumable session (spec §3).
MONOLITHIC_LIMIT = 256 << 20
USER_AGENT = "memos/0.1 (MemStore client; MIP 1)"

ProgressCallback = Callable[[int], None]
#: Characters of a registry's error message shown; the rest is cut off.
MESSAGE_LIMIT = 500


class UploadResult(msgspec.Struct, frozen=True):
    """A blob the registry now holds; ``created`` is false when it was already there."""

    digest: str
    size: int
    created: bool


class PublishResult(msgspec.Struct, frozen=True):
    """A published version; ``created`` is false for an identical re-publish."""

    name: str
    version: str
    manifest_digest: str
    created: bool


def registry_error(status: int, body: bytes, url: str) -> RegistryError:
    """The error an answer describes (``{"error": {"code", "message"}}``, spec §1).

    An answer without that shape (a proxy's error page) still becomes a ``RegistryError``, coded
    ``http_<status>``.
    """
    try:
        detail = json.loads(body)["error"]
        code, message = str(detail["code"]), str(detail["message"])
    except (ValueError, KeyError, TypeError, RecursionError):
        code = f"http_{status}"
        message = f"the registry answered HTTP {status} for {url}"
    # One line, of a readable length, whatever the answer held (a newline, a megabyte).
    message = " ".join(message.split())
    if len(message) > MESSAGE_LIMIT:
        message = message[:MESSAGE_LIMIT] + "..."
    return RegistryError(message, code=code, status=status)
