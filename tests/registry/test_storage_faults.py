"""Storage faults (issue #15): an upload killed with its server, a blob lost behind the registry.

Both configurations, against real server processes.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.registry.conftest import Registry, start_registry
from tests.registry.cube_helpers import blob_digest, error_code, unique, upload
from tests.registry.test_hostile_clients import _connect, _head
from tests.support import start_registry_process, wait_until


def _bucket(registry: Registry) -> tuple[str, str]:
    """``(bucket, prefix)`` of an S3-backed registry."""
    bucket, _, prefix = registry.env["MEMSTORE_STORAGE_URL"].removeprefix("s3://").partition("/")
    return bucket, prefix


def _object_path(digest: str) -> str:
    hex_digits = digest.removeprefix("sha256:")
    return f"blobs/sha256/{hex_digits[:2]}/{hex_digits}"


def _leftovers(registry: Registry) -> Callable[[], int]:
    """How many uncommitted writes the registry's storage holds."""
    if registry.kind == "sqlite-local":
        tmp = registry.data_dir / "blobs" / ".tmp"
        return lambda: len(list(tmp.iterdir()))
    client = registry.s3()
    bucket, _ = _bucket(registry)
    return lambda: len(client.list_multipart_uploads(Bucket=bucket).get("Uploads", []))  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", ["sqlite-local", "postgres-s3"])
def test_an_upload_killed_with_its_server_is_swept_at_the_next_start(
    kind: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> None:
    registry = start_registry(
        request,
        tmp_path_factory,
        kind,
        {
            "MEMSTORE_MAX_MONOLITHIC_UPLOAD_BYTES": str(64 << 20),
            "MEMSTORE_ABANDONED_WRITE_SECONDS": "1",
            "MEMSTORE_BODY_IDLE_SECONDS": "600",
        },
    )
    try:
        token = registry.create_token(unique("killed"))
        # Past one S3 part (16 MiB), so S3 has a multipart upload under way.
        sent = b"\0" * (20 << 20)
        count = _leftovers(registry)
        with _connect(registry.url) as connection:
            digest = blob_digest(sent + b"rest")
            connection.sendall(_head("PUT", f"/v1/blobs/{digest}", len(sent) + 4, token))
            connection.sendall(sent)
            wait_until(lambda: count() == 1, 30, "an upload under way")
            registry.servers[0].process.kill()  # kill -9: no abort, no clean-up
            registry.servers[0].process.wait()
        assert count() == 1  # left behind
        time.sleep(1.5)  # older than MEMSTORE_ABANDONED_WRITE_SECONDS
        registry.servers[0] = start_registry_process(registry.env, registry.data_dir)
        registry.url = registry.servers[0].url
        assert count() == 0
        assert "swept 1 abandoned upload" in registry.servers[0].log.read_text()
        with registry.client() as client:
            assert client.head(f"/v1/blobs/{digest}").status_code == 404
    finally:
        for server in registry.servers:
            server.stop()


def test_a_recorded_blob_missing_from_storage_is_storage_unavailable(registry: Registry) -> None:
    data = f"soon lost {unique('x')}".encode() * 100
    with registry.client(registry.create_token(unique("lost"))) as client:
        digest = upload(client, data)
        assert client.get(f"/v1/blobs/{digest}", follow_redirects=True).content == data
    # Lost behind the registry's back (a disk replaced, an operator's mistake).
    if registry.kind == "sqlite-local":
        (registry.data_dir / "blobs" / _object_path(digest)).unlink()
    else:
        bucket, prefix = _bucket(registry)
        registry.s3().delete_object(Bucket=bucket, Key=f"{prefix}/{_object_path(digest)}")
    with registry.client() as client:
        for headers in ({}, {"range": "bytes=0-9"}, {"range": "bytes=0-1,5-9"}):
            response = client.get(f"/v1/blobs/{digest}", headers=headers)
            assert response.status_code == 503, (headers, response.status_code, response.text)
            assert error_code(response) == "storage_unavailable"
            assert "not in the blob storage" in response.json()["error"]["message"]
        head = client.head(f"/v1/blobs/{digest}")
        assert head.status_code == 503
        # Other blobs are served as before.
        assert client.get(f"/v1/blobs/{blob_digest(b'never stored')}").status_code == 404
    assert "is recorded but its stored object is missing" in registry.servers[0].log.read_text()
