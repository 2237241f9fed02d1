"""Blob uploads (spec/MIP-1-registry.md §3): one PUT, or a resumable session.

A small blob goes in one PUT, sent by ``sendfile`` when its bytes lie in a file; a large one --
or one the registry refuses as too large in one PUT -- goes through an upload session: chunks
PATCHed at the offset the registry reports, resumed where the registry is after a mismatch, then
committed. :class:`UploadEndpoints` is a part of
:class:`~memos_client.registry.client.RegistryClient`, not a second client.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO
from urllib.parse import quote

from memos_client.errors import RegistryError, VerificationError
from memos_client.registry.answers import invalid_response
from memos_client.registry.calls import BaseClient
from mip.registry_api import UploadResult, UploadSession, UploadSessionCreate

if TYPE_CHECKING:
    from memos_client.registry.transport import ProgressCallback


class UploadEndpoints(BaseClient):
    """The upload endpoints of :class:`~memos_client.registry.client.RegistryClient`."""

    def upload_blob(
        self,
        digest: str,
        size: int,
        source: Path | Callable[[], BinaryIO],
        progress: ProgressCallback | None = None,
        *,
        resumable: bool = False,
    ) -> UploadResult:
        """Upload blob ``digest`` of ``size`` bytes read from ``source`` (a file, or an opener
        returning a fresh stream at the blob's first byte).

        One PUT (sent by ``sendfile`` when the bytes lie in a file) when small; a resumable
        session (spec §3) when large, when the registry refuses the PUT as too large, or when
        ``resumable``. The registry verifies the digest; nothing is visible before it has.
        """
        from memos_client.registry.transport import UploadBody

        opener = _opener(source)
        if size <= self.settings.monolithic_limit and not resumable:
            try:
                return self._document(
                    "PUT",
                    f"/v1/blobs/{quote(digest, safe=':')}",
                    UploadResult,
                    "an upload result",
                    auth=True,
                    headers={"content-type": "application/octet-stream"},
                    content=UploadBody(opener, size, progress),
                    deadline=self._deadline(size),
                )
            except RegistryError as exc:
                if exc.code != "blob_too_large":
                    raise
        return self._upload_in_session(digest, size, opener, progress)

    def _upload_in_session(
        self,
        digest: str,
        size: int,
        opener: Callable[[], BinaryIO],
        progress: ProgressCallback | None,
    ) -> UploadResult:
        content, headers = self._json(UploadSessionCreate(digest, size))
        session = self._document(
            "POST",
            "/v1/uploads",
            UploadSession,
            "an upload session",
            auth=True,
            headers=headers,
            content=content,
        )
        if session.exists:
            return UploadResult(digest, size, created=False)
        if not session.upload_id:
            raise invalid_response(self.url, "POST", "/v1/uploads", "an upload session (no id)")
        upload_path = f"/v1/uploads/{quote(session.upload_id, safe='')}"
        chunk_size = min(self.settings.upload_chunk, session.chunk_size_max or (1 << 62))
        offset = session.offset
        stream = opener()
        position = 0
        try:
            while offset < size:
                if position > offset:  # the server is behind us: start reading again
                    _close(stream)
                    stream, position = opener(), 0
                while position < offset:  # skip what the server already has
                    skipped = stream.read(min(1 << 20, offset - position))
                    if not skipped:
                        break
                    position += len(skipped)
                chunk = stream.read(min(chunk_size, size - offset))
                position += len(chunk)
                if not chunk:
                    raise VerificationError(f"the source of {digest} ended before {size} bytes")
                try:
                    answer = self._document(
                        "PATCH",
                        upload_path,
                        UploadSession,
                        "an upload session",
                        auth=True,
                        headers={
                            "upload-offset": str(offset),
                            "content-type": "application/octet-stream",
                        },
                        content=chunk,
                        deadline=self._deadline(len(chunk)),
                    )
                except RegistryError as exc:
                    if exc.code != "upload_offset_mismatch":
                        raise
                    answer = self._document(  # resume where the server is
                        "GET", upload_path, UploadSession, "an upload session", auth=True
                    )
                if not 0 <= answer.offset <= size:
                    raise invalid_response(
                        self.url, "PATCH", upload_path, f"an upload offset within {size} bytes"
                    )
                offset = answer.offset
                if progress is not None:
                    progress(len(chunk))
        finally:
            _close(stream)
        return self._document(
            "PUT", upload_path, UploadResult, "an upload result", auth=True, content=b""
        )


def _opener(source: Path | Callable[[], BinaryIO]) -> Callable[[], BinaryIO]:
    if isinstance(source, Path):
        return lambda: open(source, "rb")
    return source


def _close(stream: BinaryIO) -> None:
    close = getattr(stream, "close", None)  # a bundle's blob reader has nothing to close
    if close is not None:
        close()
