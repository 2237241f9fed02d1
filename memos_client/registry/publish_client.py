"""The registry calls of ``memos publish`` (spec §10) over the standard library's ``http.client``.

Publishing moves whole cubes, so its time should be the upload's. For a plain ``http://``
registry it needs neither httpx (100-140 ms to import with its extras) nor its transport (a TLS
context and a CA bundle, ~100 ms more), nor a copy of every byte through this process: a blob that
lies in a file -- a bundle entry -- goes from the page cache to the socket with ``sendfile``.

:class:`PublishClient` keeps :class:`~memos_client.registry.index_client.IndexClient`'s contract for the
three calls a publish makes (HEAD a blob, PUT it, POST the envelope): the same headers, results and
errors (:class:`RegistryError` with the registry's code, :class:`NetworkError`). Blobs the server
will not take in one PUT go through ``IndexClient``'s resumable sessions, and ``https://``
registries use ``IndexClient`` throughout, with its certificate checks: see :func:`connect`.
"""

from __future__ import annotations

import http.client
import json
import os
import select
import socket
import stat
import threading
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol, cast
from urllib.parse import quote, urlsplit

from memos_client.errors import NetworkError, RegistryError, UsageError, VerificationError
from memos_client.registry import documents as shapes
from memos_client.registry.api import (
    MONOLITHIC_LIMIT,
    USER_AGENT,
    ProgressCallback,
    PublishResult,
    UploadResult,
    registry_error,
)

if TYPE_CHECKING:
    from memos_client.registry.index_client import IndexClient

#: Seconds to wait for a connection, and for the registry between two socket operations.
TIMEOUT = 60.0
#: At most this many bytes per ``sendfile`` call (the kernel takes what fits the socket's buffer).
SENDFILE_CHUNK = 16 << 20
#: Read size when a blob's source is not a file the kernel can send from.
READ_CHUNK = 1 << 20

#: The errors of a connection that the server closed or reset.
_DROPPED = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


class PublishingClient(Protocol):
    """The registry calls a publish makes; :class:`PublishClient` and ``IndexClient`` have them."""

    def blob_size(self, digest: str) -> int | None:
        """The size of a stored blob, or ``None`` when the registry lacks it."""

    def upload_blob(
        self,
        digest: str,
        size: int,
        source: Path | Callable[[], BinaryIO],
        progress: ProgressCallback | None = None,
    ) -> UploadResult:
        """Upload blob ``digest`` of ``size`` bytes read from ``source`` (a file, or an opener)."""

    def publish(self, envelope_json: bytes, public_key_pem: str | None = None) -> PublishResult:
        """Publish a version from its DSSE envelope (the blobs must be uploaded first)."""

    def close(self) -> None:
        """Release connections."""


#: Environment variables that send plain-HTTP requests through a proxy (httpx honours them).
_PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY")


def connect(index_url: str, token: str | None) -> PublishingClient:
    """The client for publishing to ``index_url``: :class:`PublishClient` for ``http://``,
    ``IndexClient`` (httpx, verified TLS) for anything else, and for a proxy set in the
    environment (httpx applies it, and ``NO_PROXY``, as every other command does)."""
    proxied = any(os.environ.get(name) for name in _PROXY_VARIABLES)
    if urlsplit(index_url).scheme == "http" and not proxied:
        return PublishClient(index_url, token)
    from memos_client.registry.index_client import IndexClient

    return IndexClient(index_url, token)


class PublishClient:
    """HEAD, PUT and POST to one ``http://`` registry over one kept-alive connection.

    Calls may come from different threads (a publish uploads on a worker thread), one at a time:
    a lock keeps them apart.
    """

    def __init__(self, index_url: str, token: str | None = None) -> None:
        parts = urlsplit(index_url.rstrip("/"))
        if parts.scheme != "http" or not parts.hostname:
            raise UsageError(f"{index_url!r} is not an http:// URL")
        self.index_url = index_url.rstrip("/")
        self.token = token
        self._host = parts.hostname
        self._port = parts.port or 80
        self._base_path = parts.path
        self._headers = {"user-agent": USER_AGENT}
        if token:
            self._headers["authorization"] = f"Bearer {token}"
        self._connection: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()
        self._sessions: IndexClient | None = None

    def close(self) -> None:
        """Close the connection (and the session client, if one was needed)."""
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
            if self._sessions is not None:
                self._sessions.close()
                self._sessions = None

    def __enter__(self) -> PublishClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- transport: the one boundary ------------------------------------------------------------

    def _open_connection(self, fresh: bool) -> tuple[http.client.HTTPConnection, bool]:
        """The kept-alive connection (``reused`` true) unless the server closed it meanwhile."""
        connection = self._connection
        if connection is not None and (fresh or _closed_by_peer(connection)):
            connection.close()
            connection = None
        if connection is not None:
            return connection, True
        connection = http.client.HTTPConnection(self._host, self._port, timeout=TIMEOUT)
        self._connection = connection
        return connection, False

    def _exchange(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes | None = None,
        send_body: Callable[[socket.socket], bool] | None = None,
    ) -> tuple[http.client.HTTPResponse, bytes]:
        """One request; ``send_body`` streams a body after the headers and says whether it sent
        all of it. Returns the (read) response and its body.

        A request on a kept-alive connection that the server dropped is sent once more on a new
        one: every call of a publish may be repeated (blobs are content-addressed, an identical
        re-publish changes nothing).
        """
        target = self._base_path + path
        with self._lock:
            for attempt in (0, 1):
                connection, reused = self._open_connection(fresh=attempt == 1)
                complete = True
                try:
                    connection.putrequest(method, target, skip_accept_encoding=True)
                    for name, value in {**self._headers, **headers}.items():
                        connection.putheader(name, value)
                    connection.endheaders(body)
                    if send_body is not None:
                        # The registry may answer before reading the whole body (a refusal: 401,
                        # 413): read that answer below rather than report the socket error.
                        complete = False
                        with suppress(ConnectionResetError, BrokenPipeError):
                            complete = send_body(cast(socket.socket, connection.sock))
                    response = connection.getresponse()
                    data = response.read()
                except _DROPPED as exc:
                    connection.close()
                    if attempt == 0 and reused:
                        continue  # the server closed the idle connection: once more, afresh
                    raise self._network_error(exc) from exc
                except (OSError, http.client.HTTPException) as exc:
                    connection.close()
                    raise self._network_error(exc) from exc
                except BaseException:
                    connection.close()  # a request broken off midway cannot be continued
                    raise
                if not complete:
                    connection.close()  # the server still waits for the rest of the body
                return response, data
        raise AssertionError("unreachable")  # pragma: no cover

    def _network_error(self, exc: BaseException) -> NetworkError:
        detail = str(exc) or type(exc).__name__
        return NetworkError(f"cannot reach the registry at {self.index_url}: {detail}")

    def _json(
        self, method: str, path: str, status: int, data: bytes, shape: shapes.Shape
    ) -> dict[str, Any]:
        """The answer's document, checked against ``shape``; the error an error answer says."""
        if status >= 400:
            raise registry_error(status, data, self.index_url + path)
        try:
            document = shapes.decode_json(data)
        except ValueError as exc:
            raise shapes.invalid_response(self.index_url, method, path, "JSON", status) from exc
        try:
            return shapes.checked(document, shape)
        except shapes.InvalidDocumentError as exc:
            raise shapes.invalid_response(self.index_url, method, path, exc.what, status) from None

    # -- the calls of a publish -----------------------------------------------------------------

    def blob_size(self, digest: str) -> int | None:
        """The size of a stored blob, or ``None`` when the registry lacks it."""
        path = f"/v1/blobs/{_path_segment(digest)}"
        response, data = self._exchange("HEAD", path, {})
        if response.status == 404:
            return None
        if response.status >= 400:
            raise registry_error(response.status, data, self.index_url + path)
        return int(response.getheader("content-length") or 0)

    def upload_blob(
        self,
        digest: str,
        size: int,
        source: Path | Callable[[], BinaryIO],
        progress: ProgressCallback | None = None,
    ) -> UploadResult:
        """Upload blob ``digest`` of ``size`` bytes read from ``source`` (a file, or an opener
        returning a fresh stream at the blob's first byte).

        One PUT, sent with ``sendfile`` when the stream's bytes lie in a file; a resumable session
        (``IndexClient``) when the blob is over 256 MiB or the registry refuses the PUT as too
        large. The registry verifies the digest; nothing is visible before it has.
        """
        opener = _opener(source)
        if size <= MONOLITHIC_LIMIT:
            path = f"/v1/blobs/{_path_segment(digest)}"

            def send_body(sock: socket.socket) -> bool:
                stream = opener()
                try:
                    return _send_stream(sock, stream, size, digest, progress)
                finally:
                    close = getattr(stream, "close", None)  # a bundle's range reader has none
                    if close is not None:
                        close()

            headers = {"content-type": "application/octet-stream", "content-length": str(size)}
            response, data = self._exchange("PUT", path, headers, send_body=send_body)
            try:
                document = self._json("PUT", path, response.status, data, shapes.UPLOAD_RESULT)
            except RegistryError as exc:
                if exc.code != "blob_too_large":
                    raise
            else:
                return UploadResult(document["digest"], document["size"], document["created"])
        return self._session_client().upload_in_session(digest, size, opener, progress)

    def publish(self, envelope_json: bytes, public_key_pem: str | None = None) -> PublishResult:
        """Publish a version from its DSSE envelope (the blobs must be uploaded first)."""
        try:
            envelope = json.loads(envelope_json)
        except ValueError as exc:
            raise VerificationError("the bundle's envelope is not JSON") from exc
        body = json.dumps({"envelope": envelope, "public_key_pem": public_key_pem}).encode()
        headers = {"content-type": "application/json", "content-length": str(len(body))}
        response, data = self._exchange("POST", "/v1/versions", headers, body=body)
        document = self._json("POST", "/v1/versions", response.status, data, shapes.PUBLISH_RESULT)
        return PublishResult(
            document["name"], document["version"], document["manifest_digest"], document["created"]
        )

    def _session_client(self) -> IndexClient:
        # Resumable sessions are for blobs over 256 MiB: httpx's import cost is noise there.
        from memos_client.registry.index_client import IndexClient

        if self._sessions is None:
            self._sessions = IndexClient(self.index_url, self.token)
        return self._sessions


def _path_segment(value: str) -> str:
    return quote(value, safe=":")


def _opener(source: Path | Callable[[], BinaryIO]) -> Callable[[], BinaryIO]:
    if isinstance(source, Path):
        return lambda: open(source, "rb")
    return source


def _closed_by_peer(connection: http.client.HTTPConnection) -> bool:
    """Whether the server closed a kept-alive connection while it was idle.

    An idle HTTP/1.1 connection has nothing to read; if it is readable, the server closed it (or
    broke the protocol): either way it is not to be used again.
    """
    return connection.sock is None or _readable(connection.sock)


def _readable(sock: socket.socket) -> bool:
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _file_span(stream: Any, size: int) -> tuple[BinaryIO, int] | None:
    """The regular file holding the stream's next ``size`` bytes and their offset, if known.

    A bundle's range reader says where its bytes lie (``file_span``); an ordinary file object is
    read from its current position. Anything else (a pipe, an in-memory buffer) is read and sent.
    """
    span = getattr(stream, "file_span", None)
    if span is not None:
        file, offset, remaining = span()
        if remaining < size:
            return None  # let the read loop report the short source
    elif hasattr(stream, "fileno") and hasattr(stream, "tell"):
        file = stream
        try:
            offset = stream.tell()
        except OSError:
            return None
    else:
        return None
    try:
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            return None
    except (OSError, ValueError):
        return None
    return file, offset


def _send_stream(
    sock: socket.socket,
    stream: BinaryIO,
    size: int,
    digest: str,
    progress: ProgressCallback | None,
) -> bool:
    """Send ``size`` bytes of ``stream``, by ``sendfile`` from its file when it has one.

    Returns false when the registry answered before the end (a refusal from the headers alone:
    401, 413): sending the rest would be wasted -- or would block for good on a server that has
    stopped reading -- and the caller reads that answer.
    """
    span = _file_span(stream, size)
    pending = memoryview(b"")
    sent = 0
    while sent < size:
        if not _wait_writable(sock):
            return False
        try:
            if span is not None:
                # The kernel moves the bytes from the page cache to the socket: no copy through
                # this process, and the GIL is released for the whole call.
                file, offset = span
                count = os.sendfile(
                    sock.fileno(),
                    file.fileno(),
                    offset + sent,
                    min(SENDFILE_CHUNK, size - sent),
                )
            else:
                if not pending:
                    pending = memoryview(stream.read(min(READ_CHUNK, size - sent)))
                count = sock.send(pending) if pending else 0
                pending = pending[count:]
        except BlockingIOError:
            continue  # the socket filled up again meanwhile
        if not count:
            raise VerificationError(f"the source of {digest} ended after {sent} of {size} bytes")
        sent += count
        if progress is not None:
            progress(count)
    return True


def _wait_writable(sock: socket.socket) -> bool:
    """Wait until the socket takes more bytes; false when the server has answered (or closed)
    instead. The socket's timeout applies."""
    readable, writable, _ = select.select([sock], [sock], [], sock.gettimeout())
    if readable:
        return False
    if not writable:
        raise TimeoutError("timed out")
    return True
