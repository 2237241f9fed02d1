"""`memos publish`'s path: publish_bundle + RegistryClient's uploads against the real registry.

The client sends blobs straight from the bundle file (sendfile) without hashing them first, while
the bundle is checked on the caller's thread: the registry's digest check, the local checks and
their cancelling of the upload are what these tests hold it to.
"""

from __future__ import annotations

import hashlib
import io
import os
import socket
import threading
from pathlib import Path

import pytest

from memos_client.authoring import publisher
from memos_client.authoring.publisher import publish_bundle
from memos_client.errors import NetworkError, RegistryError, UsageError
from memos_client.registry import sendfile
from memos_client.registry.client import CubeAnswer, RegistryClient
from mip.archive import blob_entries, read_entries
from mip.container import BundleWriter, open_bundle
from mip.dsse import sign
from mip.errors import BundleError, RecordError
from mip.keys import SigningKey
from mip.manifest import encode_manifest, manifest_from_document
from mip.records import write_records
from tests.registry.conftest import MONOLITHIC_LIMIT, Registry
from tests.registry.cube_helpers import unique
from tests.support import ScriptedSocketServer, free_port, modules_imported_by, read_blob_stream

KEY = SigningKey.from_seed(hashlib.sha256(b"publish client tests").digest())


def _records(count: int, text_bytes: int) -> bytes:
    stream = io.BytesIO()
    write_records(
        stream,
        (
            {
                "id": f"m{index}",
                "text": os.urandom(text_bytes // 2).hex(),
                "tags": [],
                "metadata": {},
                "created": "2026-01-01T00:00:00Z",
                "updated": "2026-01-01T00:00:00Z",
                "version": 1,
            }
            for index in range(count)
        ),
    )
    return stream.getvalue()


def make_bundle(
    path: Path,
    name: str,
    blobs: list[bytes],
    *,
    counts: list[int],
    keys: tuple[SigningKey, ...] = (KEY,),
) -> Path:
    """A bundle of plaintext parts ``blobs`` declaring ``counts`` records, signed by ``keys``."""
    with BundleWriter(path) as writer:
        parts = []
        for index, (blob, count) in enumerate(zip(blobs, counts, strict=True)):
            digest, size = writer.add_blob_stream(io.BytesIO(blob))
            parts.append(
                {
                    "kind": "plaintext",
                    "name": f"p{index}",
                    "digest": digest,
                    "size": size,
                    "count": count,
                }
            )
        manifest = manifest_from_document(
            {
                "mip_version": "1.0",
                "name": name,
                "version": "1.0.0",
                "created": "2026-01-01T00:00:00Z",
                "parts": parts,
            }
        )
        data = encode_manifest(manifest)
        writer.finish(data, sign(data, list(keys)).to_json())
    return path


@pytest.fixture
def small_sendfile_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Many sendfile calls per blob, so that progress and cancelling happen between them."""
    monkeypatch.setattr(sendfile, "SENDFILE_CHUNK", 16 * 1024)


def test_publish_sends_blobs_from_the_bundle_file(
    registry: Registry, tmp_path: Path, small_sendfile_chunks: None
) -> None:
    namespace = unique("pub")
    name = f"{namespace}/sent"
    # One blob in one PUT, one over the test server's PUT limit (a resumable session).
    # Each record stays under the 100,000-character text limit (MIP-1 §7.1); the blob is large.
    small, large = _records(40, 4000), _records(12, MONOLITHIC_LIMIT // 8)
    assert len(small) < MONOLITHIC_LIMIT < len(large)
    bundle = make_bundle(tmp_path / "c.memcube", name, [small, large], counts=[40, 12])
    seen: list[int] = []
    with RegistryClient(registry.url, registry.create_token(namespace)) as client:
        outcome = publish_bundle(bundle, client, {KEY.key_id: KEY.public_key}, seen.append)
        assert outcome.result.created
        assert outcome.result.name == name
        assert outcome.uploaded_bytes == len(small) + len(large)
        # The large blob's PUT was refused (413) and sent again in a session: progress counts
        # what went over the wire, at most the whole large blob twice.
        assert len(small) + len(large) <= sum(seen) <= len(small) + 2 * len(large)
        assert len(seen) > 2
        with open_bundle(bundle) as opened:
            assert outcome.result.manifest_digest == opened.digest
            assert sorted(outcome.uploaded) == sorted(opened.blobs)
        # Published again: nothing is uploaded, the version is unchanged.
        again = publish_bundle(bundle, client, {KEY.key_id: KEY.public_key})
        assert again.result.created is False
        assert again.uploaded == []
        assert sorted(again.skipped) == sorted(outcome.uploaded)
    # What the registry stored is exactly each blob, sent from its offset in the bundle.
    with RegistryClient(registry.url) as reader:
        for data in (small, large):
            digest = "sha256:" + hashlib.sha256(data).hexdigest()
            with reader.open_blob(digest, len(data)) as stream:
                assert read_blob_stream(stream) == data
        answer = reader.cube(name)
        assert isinstance(answer, CubeAnswer)
        assert answer.document.versions[0].version == "1.0.0"


def test_a_tampered_blob_is_refused_by_the_registry(registry: Registry, tmp_path: Path) -> None:
    namespace = unique("tamper")
    blob = _records(5, 2000)
    bundle = make_bundle(tmp_path / "c.memcube", f"{namespace}/c", [blob], counts=[5])
    with open(bundle, "rb") as file:
        ((digest, entry),) = blob_entries(read_entries(file)).items()
    data = bytearray(bundle.read_bytes())
    # Change one hex digit of a record's text: still valid records, but not the named bytes.
    position = entry.offset + entry.size - 200  # inside the last record's text
    data[position] = ord("0") if data[position] != ord("0") else ord("1")
    bundle.write_bytes(bytes(data))
    with RegistryClient(registry.url, registry.create_token(namespace)) as client:
        with pytest.raises(RegistryError) as refused:
            publish_bundle(bundle, client, {KEY.key_id: KEY.public_key})
        assert refused.value.code == "digest_mismatch"
        assert refused.value.status == 400
        assert str(refused.value).startswith("uploaded bytes hash to")
        assert client.blob_size(digest) is None  # nothing was stored


def test_a_failed_local_check_cancels_the_upload(
    registry: Registry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    small_sendfile_chunks: None,
) -> None:
    namespace = unique("cancel")
    blob = _records(4, 20_000)
    # The manifest declares 5 records, the blob holds 4: a payload-format error found locally.
    bundle = make_bundle(tmp_path / "c.memcube", f"{namespace}/c", [blob], counts=[5])
    with open(bundle, "rb") as file:
        (digest,) = blob_entries(read_entries(file))
    started, checked = threading.Event(), threading.Event()
    real_check = publisher._checked_envelope

    def check_once_uploading(*args: object) -> object:
        # The check starts only once the upload is under way, so that it has one to cancel.
        assert started.wait(30)
        try:
            return real_check(*args)  # type: ignore[arg-type]
        finally:
            checked.set()

    monkeypatch.setattr(publisher, "_checked_envelope", check_once_uploading)
    calls: list[int] = []

    def hold_until_checked(count: int) -> None:
        # One chunk is sent; the upload waits here until the check has failed.
        calls.append(count)
        started.set()
        assert checked.wait(30)

    with RegistryClient(registry.url, registry.create_token(namespace)) as client:
        with pytest.raises(RecordError, match="declares 5 records, its blob holds 4"):
            publish_bundle(bundle, client, {KEY.key_id: KEY.public_key}, hold_until_checked)
        assert len(calls) == 1  # stopped at the next chunk
        assert client.blob_size(digest) is None
        # The connection broken off midway is replaced: the client still works.
        assert client.blob_size("sha256:" + "0" * 64) is None


def test_unsigned_and_foreign_signed_bundles(registry: Registry, tmp_path: Path) -> None:
    namespace = unique("keys")
    blob = _records(2, 100)
    unsigned = make_bundle(tmp_path / "u.memcube", f"{namespace}/u", [blob], counts=[2], keys=())
    stranger = SigningKey.generate()
    foreign = make_bundle(
        tmp_path / "f.memcube", f"{namespace}/f", [blob], counts=[2], keys=(stranger,)
    )
    with RegistryClient(registry.url, registry.create_token(namespace)) as client:
        with pytest.raises(UsageError, match="is unsigned"):
            publish_bundle(unsigned, client, {KEY.key_id: KEY.public_key})
        # Signed, but not by one of our keys: no key goes along, and the namespace has none.
        with pytest.raises(RegistryError) as refused:
            publish_bundle(foreign, client, {KEY.key_id: KEY.public_key})
        assert refused.value.code == "unregistered_key"
        with pytest.raises(UsageError, match="is not a file"):
            publish_bundle(tmp_path / "missing.memcube", client, {})
        not_a_bundle = tmp_path / "junk.memcube"
        not_a_bundle.write_bytes(b"not a zip")
        with pytest.raises(BundleError, match=r"not a valid \.memcube"):
            publish_bundle(not_a_bundle, client, {})


def test_upload_sources_and_errors(registry: Registry, tmp_path: Path) -> None:
    namespace = unique("sources")
    token = registry.create_token(namespace)
    with RegistryClient(registry.url, token) as client:
        # A stream that is no file is read and sent; a path is sent by sendfile.
        data = os.urandom(50_000)
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        assert client.upload_blob(digest, len(data), lambda: io.BytesIO(data)).created
        path = tmp_path / "blob"
        other = os.urandom(60_000)
        path.write_bytes(other)
        other_digest = "sha256:" + hashlib.sha256(other).hexdigest()
        assert client.upload_blob(other_digest, len(other), path).size == len(other)
        assert client.blob_size(other_digest) == len(other)
        # A source shorter than the size it was announced with.
        with pytest.raises(Exception, match="ended after 10 of 20 bytes"):
            client.upload_blob(digest, 20, lambda: io.BytesIO(b"x" * 10))
    # Refused before the body was read: the registry's answer, not a socket error.
    with RegistryClient(registry.url, "mst_wrong") as anonymous:
        with pytest.raises(RegistryError) as refused:
            anonymous.upload_blob(digest, len(data), lambda: io.BytesIO(data))
        assert refused.value.code == "unauthorized"


def test_unreachable_registry_is_a_network_error(tmp_path: Path) -> None:
    with (
        RegistryClient(f"http://127.0.0.1:{free_port()}") as client,
        pytest.raises(NetworkError, match="cannot reach the registry"),
    ):
        client.blob_size("sha256:" + "0" * 64)


def _closing_server(silent_second: bool) -> ScriptedSocketServer:
    """Answers each request on a connection, then closes it without saying so (or, with
    ``silent_second``, closes on the second request without answering): what a server whose
    keep-alive timeout ran out does to an idle client."""

    def behaviour(connection: socket.socket, path: str) -> None:
        connection.sendall(_NOT_FOUND)
        if silent_second and server.connections == 1:
            connection.recv(65536)  # the second request: dropped unanswered

    server = ScriptedSocketServer(behaviour)
    return server


_NOT_FOUND = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"
_UNAUTHORIZED = (
    b"HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: 63\r\n\r\n"
    b'{"error": {"code": "unauthorized", "message": "unknown token"}}'
)


@pytest.mark.parametrize("silent_second", [False, True])
def test_a_connection_the_server_dropped_is_replaced(silent_second: bool) -> None:
    with _closing_server(silent_second) as server, RegistryClient(server.url) as client:
        assert client.blob_size("sha256:" + "0" * 64) is None
        if not silent_second:
            # The server has closed it: the client sees that before reusing the connection.
            assert server.finished.wait(10)
        assert client.blob_size("sha256:" + "1" * 64) is None
    assert server.connections == 2


def test_an_early_refusal_stops_the_upload(tmp_path: Path) -> None:
    # A server that refuses the upload from its headers and never reads the body: the client
    # stops sending (it would otherwise block once the socket buffers are full) and reports the
    # registry's answer.
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def refuse() -> None:
        connection, _ = listener.accept()
        held.append(connection)
        received = b""
        while b"\r\n\r\n" not in received:
            received += connection.recv(4096)
        connection.sendall(_UNAUTHORIZED)

    thread = threading.Thread(target=refuse, daemon=True)
    thread.start()
    size = 64 << 20
    path = tmp_path / "big"
    with open(path, "wb") as sink:
        sink.truncate(size)
    sent: list[int] = []
    try:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        with RegistryClient(url, "mst_x") as client, pytest.raises(RegistryError) as refused:
            client.upload_blob("sha256:" + "2" * 64, size, path, sent.append)
        assert refused.value.code == "unauthorized"
        assert refused.value.status == 401
        assert sum(sent) < size
    finally:
        listener.close()
        for connection in held:
            connection.close()


def test_the_upload_starts_before_the_heavy_imports() -> None:
    # What `memos publish` imports before its upload starts: no third-party HTTP client, no
    # manifest models or cryptography (they are imported by the checks that run beside the upload, or not at all).
    statement = (
        "import memos_client.authoring.publisher, memos_client.registry.client, "
        "memos_client.registry.transport, memos_client.cli.main, memos_client.registry.config"
    )
    heavy = {"httpx", "urllib3", "urllib.request", "mip.models", "pydantic", "cryptography"}
    assert modules_imported_by(statement, heavy) == []
