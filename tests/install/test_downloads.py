"""Blob downloads against real HTTP servers in threads: resume with Range, redirects, bounds."""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from memos_client.errors import InvalidResponseError, VerificationError
from memos_client.install import fetch
from memos_client.install.cache import Cache
from memos_client.install.fetch import CachedRegistry
from mip.digests import Digest
from tests.support import LoopbackHTTPServer, wait_until

BLOB = bytes(range(256)) * 4096 * 3  # 3 MiB: more than one 1 MiB read chunk survives a cut
DIGEST = Digest("sha256:" + hashlib.sha256(BLOB).hexdigest())


class Server(LoopbackHTTPServer):
    """A tiny blob server: can cut the first response short, redirect, or lie about bytes."""

    def __init__(
        self,
        body: bytes = BLOB,
        cut_first: bool = False,
        redirect: str | None = None,
        ranges: bool = True,
        hold: threading.Event | None = None,
    ):
        self.body = body
        self.ranges = ranges
        self.cut_first = cut_first
        self.redirect = redirect
        self.hold = hold  # when given: send half the body, then wait for it before the rest
        self.requests: list[dict[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                outer.requests.append({k.lower(): v for k, v in self.headers.items()})
                if outer.redirect is not None:
                    self.send_response(302)
                    self.send_header("Location", outer.redirect + self.path)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                start = 0
                header = self.headers.get("Range") if outer.ranges else None
                if header:
                    start = int(header.removeprefix("bytes=").split("-")[0])
                    self.send_response(206)
                    self.send_header(
                        "Content-Range", f"bytes {start}-{len(outer.body) - 1}/{len(outer.body)}"
                    )
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(outer.body) - start))
                self.end_headers()
                if outer.cut_first and len(outer.requests) == 1:
                    self.wfile.write(outer.body[: len(outer.body) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(2)  # the connection drops mid-body
                    return
                if outer.hold is not None:
                    middle = start + (len(outer.body) - start) // 2
                    self.wfile.write(outer.body[start:middle])
                    self.wfile.flush()
                    outer.hold.wait(10)
                    start = middle
                with contextlib.suppress(OSError):  # the client may have given up
                    self.wfile.write(outer.body[start:])

        super().__init__(Handler)


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[Cache]:
    return Cache(tmp_path / "cache")


def _download(url: str, cache: Cache) -> Path:
    """The test blob, downloaded from the registry at ``url`` into ``cache`` (the client closed
    after, whatever happened)."""
    index = CachedRegistry(url, cache)
    try:
        return index.download_blob(DIGEST, len(BLOB))
    finally:
        index.close()


def test_interrupted_download_resumes_with_range(cache: Cache) -> None:
    with Server(cut_first=True) as server:
        path = _download(server.url, cache)
    assert path.read_bytes() == BLOB
    assert len(server.requests) == 2
    assert "range" not in server.requests[0]
    offset = int(server.requests[1]["range"].removeprefix("bytes=").rstrip("-"))
    assert 0 < offset <= len(BLOB) // 2
    assert not cache.partial_path(DIGEST).exists()


def test_cached_blob_is_not_downloaded_again(cache: Cache) -> None:
    with Server() as server:
        index = CachedRegistry(server.url, cache)
        try:
            index.download_blobs({DIGEST: len(BLOB)})
            index.download_blobs({DIGEST: len(BLOB)})
        finally:
            index.close()
    assert len(server.requests) == 1


def test_downloads_send_no_credential_to_the_registry_or_its_storage(
    cache: Cache, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Reads are anonymous (docs/install.md, "Credentials"): even with a token configured for
    # this very registry, neither it nor the storage it redirects to is sent one.
    with Server() as storage, Server(redirect=None) as registry:
        registry.redirect = storage.url
        monkeypatch.setenv("MEMOS_INDEX_URL", registry.url)
        monkeypatch.setenv("MEMOS_TOKEN", "secret-token")
        _download(registry.url, cache)
    assert "authorization" not in registry.requests[0]
    assert "authorization" not in storage.requests[0]
    assert cache.blob_path(DIGEST).read_bytes() == BLOB


def test_wrong_bytes_are_refused_and_discarded(cache: Cache) -> None:
    evil = BLOB[:-1] + b"\x00"
    with Server(body=evil) as server, pytest.raises(VerificationError, match="tampered"):
        _download(server.url, cache)
    assert not cache.has_blob(DIGEST)
    assert not cache.partial_path(DIGEST).exists()


def test_a_server_announcing_more_than_the_signed_size_is_refused(cache: Cache) -> None:
    announced = pytest.raises(InvalidResponseError, match=r"announced \d+ bytes for blob")
    with Server(body=BLOB + b"more") as server, announced:
        _download(server.url, cache)
    assert not cache.has_blob(DIGEST)


def test_a_server_ignoring_range_restarts_the_download(cache: Cache) -> None:
    partial = cache.partial_path(DIGEST)
    partial.parent.mkdir(parents=True)
    partial.write_bytes(BLOB[:1000])  # left by an interrupted run
    with Server(ranges=False) as server:
        path = _download(server.url, cache)
    assert path.read_bytes() == BLOB
    assert server.requests[0]["range"] == "bytes=1000-"
    assert "range" not in server.requests[1]


def test_a_background_download_hands_its_error_to_the_waiting_thread(cache: Cache) -> None:
    with Server(body=BLOB[:-1] + b"\x00") as server:
        index = CachedRegistry(server.url, cache)
        download = index.start_download({DIGEST: len(BLOB)})
        with pytest.raises(VerificationError, match="tampered"):
            download.wait()
        index.close()
    assert not cache.has_blob(DIGEST)


def test_a_background_download_completes(cache: Cache) -> None:
    seen: list[int] = []
    with Server() as server:
        index = CachedRegistry(server.url, cache)
        index.start_download({DIGEST: len(BLOB)}, seen.append).wait()
        index.close()
    assert cache.blob_path(DIGEST).read_bytes() == BLOB
    assert sum(seen) == len(BLOB)


def test_cancel_stops_a_download_and_keeps_its_partial_file(
    cache: Cache, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even a registry that has stopped sending does not hold the command up for long."""
    monkeypatch.setattr(fetch, "CANCEL_WAIT", 0.2)
    hold = threading.Event()
    partial = cache.partial_path(DIGEST)
    with Server(hold=hold) as server:
        index = CachedRegistry(server.url, cache)
        download = index.start_download({DIGEST: len(BLOB)})
        wait_until(lambda: partial.exists() and partial.stat().st_size > 0, 10, "the first bytes")
        started = time.monotonic()
        download.cancel()
        assert time.monotonic() - started < 2
        hold.set()  # the rest arrives; the download thread stops at that chunk
        wait_until(lambda: not download._thread.is_alive(), 10, "the download thread to stop")
        download.wait()  # a cancelled download has no outcome to report
        index.close()
    assert not cache.has_blob(DIGEST)
    # What was received stays for a later run to resume.
    kept = partial.read_bytes()
    assert 0 < len(kept) <= len(BLOB) // 2
    assert kept == BLOB[: len(kept)]
