"""Blob endpoints (spec §3) against a real server in both configurations."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from tests.registry.conftest import (
    CHUNK_LIMIT,
    MONOLITHIC_LIMIT,
    Registry,
    base_env,
    make_bucket,
    wait_until,
)
from tests.registry.cube_helpers import blob_digest, error_code, unique
from tests.support import start_registry_process


def _token(registry: Registry) -> str:
    return registry.create_token(unique("blobs"))


def test_upload_then_head_and_download(registry: Registry) -> None:
    data = os.urandom(100_000)
    digest = blob_digest(data)
    with registry.client(_token(registry)) as client:
        assert client.head(f"/v1/blobs/{digest}").status_code == 404
        assert error_code(client.get(f"/v1/blobs/{digest}")) == "blob_not_found"
        first = client.put(f"/v1/blobs/{digest}", content=data)
        assert first.status_code == 201
        assert first.json() == {"digest": digest, "size": len(data), "created": True}
        again = client.put(f"/v1/blobs/{digest}", content=data)
        assert again.status_code == 200
        assert again.json()["created"] is False
        head = client.head(f"/v1/blobs/{digest}")
        assert head.status_code == 200
        assert head.headers["content-length"] == str(len(data))
        download = client.get(f"/v1/blobs/{digest}")
        if registry.kind == "postgres-s3":
            # S3: a redirect to a presigned URL on the storage server, never the bytes.
            assert download.status_code == 302
            location = download.headers["location"]
            assert urlparse(location).port != urlparse(registry.url).port
            assert "X-Amz-Signature" in parse_qs(urlparse(location).query)
            assert httpx.get(location).content == data
        else:
            assert download.status_code == 200
            assert download.content == data
            assert download.headers["etag"] == f'"{digest}"'


def test_range_requests_on_local_storage(registry: Registry) -> None:
    data = os.urandom(10_000)
    digest = blob_digest(data)
    with registry.client(_token(registry)) as client:
        client.put(f"/v1/blobs/{digest}", content=data)
        if registry.kind == "postgres-s3":
            # Ranges are the storage server's job once the client followed the redirect.
            location = client.get(f"/v1/blobs/{digest}").headers["location"]
            ranged = httpx.get(location, headers={"range": "bytes=100-199"})
            assert ranged.status_code == 206
            assert ranged.content == data[100:200]
            return
        part = client.get(f"/v1/blobs/{digest}", headers={"range": "bytes=100-199"})
        assert part.status_code == 206
        assert part.content == data[100:200]
        assert part.headers["content-range"] == f"bytes 100-199/{len(data)}"
        tail = client.get(f"/v1/blobs/{digest}", headers={"range": "bytes=-10"})
        assert tail.content == data[-10:]
        open_ended = client.get(f"/v1/blobs/{digest}", headers={"range": "bytes=9990-"})
        assert open_ended.content == data[9990:]
        outside = client.get(f"/v1/blobs/{digest}", headers={"range": "bytes=20000-"})
        assert outside.status_code == 416
        assert error_code(outside) == "range_not_satisfiable"


@pytest.mark.parametrize(
    ("header", "status", "code"),
    [
        ("bytes=abc", 400, "invalid_range"),
        ("bytes=5", 400, "invalid_range"),
        ("bytes=,", 400, "invalid_range"),
        ("bytes=-", 400, "invalid_range"),
        ("bytes=--1", 400, "invalid_range"),
        ("bytes=0-1,x", 400, "invalid_range"),
        ("bytes=+1-2", 400, "invalid_range"),
        ("items=0-1", 400, "invalid_range"),
        ("0-1", 400, "invalid_range"),
        ("", 400, "invalid_range"),
        ("bytes=99999-", 416, "range_not_satisfiable"),
        ("bytes=10-5", 416, "range_not_satisfiable"),
        ("bytes=-0", 416, "range_not_satisfiable"),
        ("bytes=0-1,99999-", 416, "range_not_satisfiable"),
        ("bytes=" + "9" * 5000 + "-", 416, "range_not_satisfiable"),
    ],
)
def test_bad_ranges_get_a_json_error_in_both_configurations(
    registry: Registry, header: str, status: int, code: str
) -> None:
    data = b"0123456789" * 100
    digest = blob_digest(data)
    with registry.client(_token(registry)) as client:
        client.put(f"/v1/blobs/{digest}", content=data)
        # S3 too: the registry checks the header before it redirects.
        response = client.get(f"/v1/blobs/{digest}", headers={"range": header})
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/json"
        assert error_code(response) == code
        assert len(response.json()["error"]["message"]) < 200  # a long header is not echoed


def test_several_ranges_are_served_on_local_storage(registry: Registry) -> None:
    data = b"0123456789" * 100
    digest = blob_digest(data)
    with registry.client(_token(registry)) as client:
        client.put(f"/v1/blobs/{digest}", content=data)
        response = client.get(f"/v1/blobs/{digest}", headers={"range": "bytes=0-1, 5-6,-2"})
        if registry.kind == "postgres-s3":
            assert response.status_code == 302
            return
        assert response.status_code == 206
        assert response.headers["content-type"].startswith("multipart/byteranges")
        for part in (b"Content-Range: bytes 0-1/1000\r\n\r\n01", b"bytes 998-999/1000\r\n\r\n89"):
            assert part in response.content


def test_digest_mismatch_is_refused_and_stores_nothing(registry: Registry) -> None:
    data = os.urandom(5000)
    claimed = blob_digest(data)
    with registry.client(_token(registry)) as client:
        response = client.put(f"/v1/blobs/{claimed}", content=data[:-1] + bytes([data[-1] ^ 1]))
        assert response.status_code == 400
        assert error_code(response) == "digest_mismatch"
        assert client.head(f"/v1/blobs/{claimed}").status_code == 404
        assert client.put(f"/v1/blobs/{claimed}", content=data).status_code == 201


def test_invalid_digest_is_refused(registry: Registry) -> None:
    with registry.client(_token(registry)) as client:
        response = client.put("/v1/blobs/sha256:XYZ", content=b"x")
        assert response.status_code == 400
        assert error_code(response) == "invalid_digest"
        assert client.head("/v1/blobs/md5:abc").status_code == 400
        assert error_code(client.get("/v1/blobs/md5:abc")) == "invalid_digest"


def test_oversized_monolithic_upload_is_refused(registry: Registry) -> None:
    data = os.urandom(MONOLITHIC_LIMIT + 1)
    digest = blob_digest(data)
    with registry.client(_token(registry)) as client:
        response = client.put(f"/v1/blobs/{digest}", content=data)
        assert response.status_code == 413
        assert error_code(response) == "blob_too_large"
        # Without Content-Length (chunked), the limit holds while streaming.
        chunked = client.put(f"/v1/blobs/{digest}", content=iter([data[:200_000], data[200_000:]]))
        assert chunked.status_code == 413
        assert error_code(chunked) == "blob_too_large"
        assert client.head(f"/v1/blobs/{digest}").status_code == 404


def test_missing_or_bad_token_cannot_upload(registry: Registry) -> None:
    data = b"no token"
    digest = blob_digest(data)
    with registry.client() as anonymous:
        response = anonymous.put(f"/v1/blobs/{digest}", content=data)
        assert response.status_code == 401
        assert error_code(response) == "unauthorized"
    with registry.client("mst_not-a-real-token") as wrong:
        response = wrong.put(f"/v1/blobs/{digest}", content=data)
        assert response.status_code == 401
        assert error_code(response) == "unauthorized"


def test_upload_cut_off_midway_leaves_nothing_and_retry_succeeds(registry: Registry) -> None:
    data = os.urandom(200_000)
    digest = blob_digest(data)
    token = _token(registry)
    url = urlparse(registry.url)
    with socket.create_connection((url.hostname, url.port)) as raw:
        raw.sendall(
            (
                f"PUT /v1/blobs/{digest} HTTP/1.1\r\nHost: {url.netloc}\r\n"
                f"Authorization: Bearer {token}\r\nContent-Length: {len(data)}\r\n\r\n"
            ).encode()
            + data[:50_000]
        )
    if registry.kind == "sqlite-local":
        # The server notices the disconnect and removes its temp file.
        temp_dir = registry.data_dir / "blobs" / ".tmp"
        wait_until(lambda: not any(temp_dir.iterdir()), 10, "the aborted upload's temp file")
    with registry.client(token) as client:
        assert client.head(f"/v1/blobs/{digest}").status_code == 404
        retry = client.put(f"/v1/blobs/{digest}", content=data)
        assert retry.status_code == 201
        assert client.head(f"/v1/blobs/{digest}").headers["content-length"] == str(len(data))


def test_resumable_session_with_resume_and_errors(registry: Registry) -> None:
    data = os.urandom(3 * CHUNK_LIMIT + 1000)
    digest = blob_digest(data)
    with registry.client(_token(registry)) as client:
        opened = client.post("/v1/uploads", json={"digest": digest, "size": len(data)})
        assert opened.status_code == 201, opened.text
        session = opened.json()
        assert session["offset"] == 0
        assert session["chunk_size_max"] == CHUNK_LIMIT
        path = f"/v1/uploads/{session['upload_id']}"
        first = client.patch(path, content=data[:CHUNK_LIMIT], headers={"upload-offset": "0"})
        assert first.json()["offset"] == CHUNK_LIMIT
        # A chunk at the wrong offset is refused with the offset to resume from.
        wrong = client.patch(path, content=data[:10], headers={"upload-offset": "0"})
        assert wrong.status_code == 409
        assert error_code(wrong) == "upload_offset_mismatch"
        assert str(CHUNK_LIMIT) in wrong.json()["error"]["message"]
        # A chunk over the server's chunk limit is refused whole.
        big = client.patch(
            path,
            content=data[CHUNK_LIMIT : 3 * CHUNK_LIMIT],
            headers={"upload-offset": str(CHUNK_LIMIT)},
        )
        assert big.status_code == 413
        assert error_code(big) == "blob_too_large"
        # Finishing early says how much is missing.
        early = client.put(path)
        assert error_code(early) == "upload_incomplete"
        # Resume: ask where the session is, send the rest.
        offset = client.get(path).json()["offset"]
        assert offset == CHUNK_LIMIT
        while offset < len(data):
            chunk = data[offset : offset + CHUNK_LIMIT]
            offset = client.patch(
                path, content=chunk, headers={"upload-offset": str(offset)}
            ).json()["offset"]
        assert client.head(f"/v1/blobs/{digest}").status_code == 404  # not visible before finish
        done = client.put(path)
        assert done.status_code == 201
        assert done.json() == {"digest": digest, "size": len(data), "created": True}
        assert client.get(path).status_code == 404
        # Opening a session for a stored blob opens nothing.
        exists = client.post("/v1/uploads", json={"digest": digest, "size": len(data)})
        assert exists.status_code == 200
        assert exists.json()["exists"] is True


def test_session_digest_mismatch_discards_the_session(registry: Registry) -> None:
    data = os.urandom(1000)
    digest = blob_digest(b"something else" + data[14:])
    with registry.client(_token(registry)) as client:
        session = client.post("/v1/uploads", json={"digest": digest, "size": len(data)}).json()
        path = f"/v1/uploads/{session['upload_id']}"
        assert client.patch(path, content=data, headers={"upload-offset": "0"}).status_code == 200
        finished = client.put(path)
        assert finished.status_code == 400
        assert error_code(finished) == "digest_mismatch"
        assert client.get(path).status_code == 404
        assert client.head(f"/v1/blobs/{digest}").status_code == 404
        # Past the declared size: refused.
        session = client.post("/v1/uploads", json={"digest": digest, "size": 10}).json()
        path = f"/v1/uploads/{session['upload_id']}"
        over = client.patch(path, content=b"x" * 11, headers={"upload-offset": "0"})
        assert error_code(over) == "blob_too_large"
        assert client.delete(path).status_code == 204
        assert error_code(client.get(path)) == "upload_not_found"


def test_another_accounts_session_is_invisible(registry: Registry) -> None:
    data = b"private session"
    with registry.client(_token(registry)) as owner, registry.client(_token(registry)) as other:
        session = owner.post("/v1/uploads", json={"digest": blob_digest(data), "size": len(data)})
        path = f"/v1/uploads/{session.json()['upload_id']}"
        assert error_code(other.get(path)) == "upload_not_found"
        assert error_code(other.patch(path, content=data, headers={"upload-offset": "0"})) == (
            "upload_not_found"
        )


def test_expired_sessions_are_swept_with_their_chunks(registry: Registry) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    from registry_server.db.models import UploadSession, utcnow

    data = os.urandom(1000)
    with registry.client(_token(registry)) as client:
        session = client.post("/v1/uploads", json={"digest": blob_digest(data), "size": 2000})
        upload_id = session.json()["upload_id"]
        path = f"/v1/uploads/{upload_id}"
        assert client.patch(path, content=data, headers={"upload-offset": "0"}).status_code == 200
        with registry.database() as engine, engine.begin() as connection:
            connection.execute(
                update(UploadSession)
                .where(UploadSession.id == upload_id)  # type: ignore[arg-type]
                .values(expires_at=utcnow() - timedelta(seconds=1))
            )
        assert error_code(client.get(path)) == "upload_not_found"
        # Opening another session sweeps the expired one away, chunks included.
        other = os.urandom(10)
        client.post("/v1/uploads", json={"digest": blob_digest(other), "size": 10})
        with registry.database() as engine, engine.connect() as connection:
            from sqlalchemy import text

            left = connection.execute(
                text("SELECT count(*) FROM upload_session WHERE id = :id"), {"id": upload_id}
            ).scalar_one()
        assert left == 0
        if registry.kind == "sqlite-local":
            assert not (registry.data_dir / "blobs" / "uploads" / upload_id).exists()


def test_blob_uploads_are_audited(registry: Registry) -> None:
    from sqlalchemy import text

    monolithic, chunked = os.urandom(100), os.urandom(CHUNK_LIMIT + 5)
    with registry.client(_token(registry)) as client:
        client.put(f"/v1/blobs/{blob_digest(monolithic)}", content=monolithic)
        session = client.post(
            "/v1/uploads", json={"digest": blob_digest(chunked), "size": len(chunked)}
        ).json()
        path = f"/v1/uploads/{session['upload_id']}"
        client.patch(path, content=chunked[:CHUNK_LIMIT], headers={"upload-offset": "0"})
        client.patch(
            path, content=chunked[CHUNK_LIMIT:], headers={"upload-offset": str(CHUNK_LIMIT)}
        )
        assert client.put(path).status_code == 201
    with registry.database() as engine, engine.connect() as connection:
        rows = (
            connection.execute(text("SELECT subject FROM audit_event WHERE action = 'blob.upload'"))
            .scalars()
            .all()
        )
    assert blob_digest(monolithic) in rows
    assert blob_digest(chunked) in rows


@pytest.fixture(params=["local", "s3"])
def own_registry(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Registry]:
    """A registry of this test's own (its storage gets broken), on a blob directory or a bucket."""
    env = base_env()
    if request.param == "s3":
        endpoint = request.getfixturevalue("moto_endpoint")
        env["MEMSTORE_STORAGE_URL"] = f"s3://{make_bucket(endpoint)}/registry"
        env["MEMSTORE_S3_ENDPOINT_URL"] = endpoint
    server = start_registry_process(env, tmp_path)
    try:
        yield Registry(request.param, server.url, env, tmp_path, [server])
    finally:
        server.stop()


def _s3_bucket(registry: Registry) -> tuple[Any, str]:
    return registry.s3(), urlparse(registry.env["MEMSTORE_STORAGE_URL"]).netloc


@contextmanager
def _storage_broken(registry: Registry, where: str) -> Iterator[None]:
    """Make writes under ``where`` fail, even for root: a regular file takes the directory's
    place (local), or the bucket is gone (S3); put things back afterwards."""
    if registry.kind == "s3":
        client, bucket = _s3_bucket(registry)
        for item in client.list_objects_v2(Bucket=bucket).get("Contents", []):
            client.delete_object(Bucket=bucket, Key=item["Key"])
        client.delete_bucket(Bucket=bucket)
        try:
            yield
        finally:
            client.create_bucket(Bucket=bucket)
        return
    directory = registry.data_dir / "blobs" / where
    moved = directory.with_name(f"{where}.moved")
    if directory.exists():
        directory.rename(moved)
    directory.write_text("not a directory")
    try:
        yield
    finally:
        directory.unlink()
        if moved.exists():
            moved.rename(directory)


def _assert_storage_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert error_code(response) == "storage_unavailable"
    message = response.json()["error"]["message"]
    assert "check its blob storage; retry later" in message
    assert "\n" not in message


def _no_temp_files(registry: Registry) -> bool:
    if registry.kind == "s3":
        client, bucket = _s3_bucket(registry)
        return not client.list_multipart_uploads(Bucket=bucket).get("Uploads")
    return not any((registry.data_dir / "blobs" / ".tmp").iterdir())


def test_unwritable_storage_refuses_an_upload_with_503(own_registry: Registry) -> None:
    # Local: the committed blobs' directory, then the temp directory; S3: the bucket.
    for where in ("blobs", ".tmp") if own_registry.kind == "local" else ("bucket",):
        data = os.urandom(50_000)
        digest = blob_digest(data)
        with own_registry.client(own_registry.create_token(unique("ro"))) as client:
            with _storage_broken(own_registry, where):
                _assert_storage_unavailable(client.put(f"/v1/blobs/{digest}", content=data))
                assert client.head(f"/v1/blobs/{digest}").status_code == 404
                if where != "blobs":  # what /healthz can see
                    assert client.get("/healthz").json()["status"] == "unavailable"
            # Nothing half-written: no temp object, no blob, and a retry succeeds.
            assert _no_temp_files(own_registry)
            assert client.head(f"/v1/blobs/{digest}").status_code == 404
            assert client.put(f"/v1/blobs/{digest}", content=data).status_code == 201
            assert client.get(f"/v1/blobs/{digest}", follow_redirects=True).content == data


def test_unwritable_storage_refuses_session_writes_with_503(own_registry: Registry) -> None:
    data = os.urandom(CHUNK_LIMIT + 1000)
    digest = blob_digest(data)
    with own_registry.client(own_registry.create_token(unique("ro"))) as client:
        opened = client.post("/v1/uploads", json={"digest": digest, "size": len(data)})
        path = f"/v1/uploads/{opened.json()['upload_id']}"
        first = data[:CHUNK_LIMIT]
        with _storage_broken(own_registry, "uploads"):
            refused = client.patch(path, content=first, headers={"upload-offset": "0"})
            _assert_storage_unavailable(refused)
        assert client.get(path).json()["offset"] == 0  # the refused chunk left nothing
        assert client.patch(path, content=first, headers={"upload-offset": "0"}).status_code == 200
        rest = data[CHUNK_LIMIT:]
        offset = str(CHUNK_LIMIT)
        assert (
            client.patch(path, content=rest, headers={"upload-offset": offset}).status_code == 200
        )
        if own_registry.kind == "local":
            # The chunks stay readable; only writing the finished blob fails.
            with _storage_broken(own_registry, "blobs"):
                _assert_storage_unavailable(client.put(path))
            assert _no_temp_files(own_registry)
            assert client.head(f"/v1/blobs/{digest}").status_code == 404
            assert client.get(path).json()["offset"] == len(data)  # the session survives
        done = client.put(path)
        assert done.status_code == 201, done.text
        assert client.get(f"/v1/blobs/{digest}", follow_redirects=True).content == data
