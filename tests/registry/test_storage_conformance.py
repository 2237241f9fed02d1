"""One conformance suite for every BlobStore backend: local directory and S3 (moto server)."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from registry_server.errors import StorageUnavailableError
from registry_server.services.storage import (
    S3_PART_SIZE,
    BlobStore,
    LocalBlobStore,
    S3BlobStore,
    open_blob_store,
)
from registry_server.settings import Settings
from tests.registry.conftest import S3_CREDENTIALS, make_bucket


@pytest.fixture(params=["local", "s3"])
def store(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[BlobStore]:
    if request.param == "local":
        yield LocalBlobStore(tmp_path / "blobs")
        return
    for name, value in S3_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    endpoint = request.getfixturevalue("moto_endpoint")
    yield S3BlobStore(make_bucket(endpoint), "prefix", endpoint_url=endpoint, region="us-east-1")


def test_objects_are_invisible_until_commit(store: BlobStore) -> None:
    writer = store.writer("a/b/object")
    writer.write(b"hello ")
    writer.write(b"world")
    assert store.size("a/b/object") is None
    writer.commit()
    assert store.size("a/b/object") == 11
    assert b"".join(store.read("a/b/object")) == b"hello world"


def test_abort_leaves_nothing(store: BlobStore) -> None:
    writer = store.writer("aborted")
    writer.write(b"partial")
    writer.abort()
    assert store.size("aborted") is None
    assert store.list("") == []


def test_large_objects_and_ranges(store: BlobStore) -> None:
    data = os.urandom(S3_PART_SIZE + 12345)  # two multipart parts on S3
    writer = store.writer("big")
    for start in range(0, len(data), 1 << 20):
        writer.write(data[start : start + (1 << 20)])
    writer.commit()
    assert store.size("big") == len(data)
    assert b"".join(store.read("big")) == data
    assert b"".join(store.read("big", 100, 200)) == data[100:200]
    assert b"".join(store.read("big", len(data) - 5)) == data[-5:]
    assert b"".join(store.read("big", 10, 10)) == b""


def test_list_delete_and_replace(store: BlobStore) -> None:
    for key, data in (("up/1/a", b"1"), ("up/1/b", b"22"), ("up/2/a", b"333")):
        writer = store.writer(key)
        writer.write(data)
        writer.commit()
    assert store.list("up/1/") == [("up/1/a", 1), ("up/1/b", 2)]
    replacement = store.writer("up/1/a")
    replacement.write(b"replaced")
    replacement.commit()
    assert store.size("up/1/a") == 8
    store.delete("up/1/a")
    store.delete("up/1/a")  # deleting twice is fine
    assert store.list("up/") == [("up/1/b", 2), ("up/2/a", 3)]
    assert store.size("up/1/a") is None
    store.check()


def test_download_url_serves_the_bytes_or_is_absent(store: BlobStore) -> None:
    writer = store.writer("served")
    writer.write(b"served bytes")
    writer.commit()
    url = store.download_url("served", 60)
    if isinstance(store, LocalBlobStore):
        assert url is None
        path = store.local_path("served")
        assert path is not None
        assert path.read_bytes() == b"served bytes"
    else:
        assert url is not None
        assert httpx.get(url).content == b"served bytes"


def test_local_keys_cannot_escape_the_root(tmp_path: Path) -> None:
    local = LocalBlobStore(tmp_path / "root")
    for key in ("../outside", "a/../../b", "", ".tmp/x", "/abs"):
        with pytest.raises(ValueError, match="invalid storage key"):
            local.writer(key)


def test_local_writes_reach_the_disk_while_the_upload_arrives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The commit's fsync should have only the tail left: the writer syncs every
    # LOCAL_SYNC_EVERY bytes as they are written, and the commit still syncs the rest.
    from registry_server.services import storage

    synced: list[int] = []
    real_fdatasync, real_fsync = os.fdatasync, os.fsync

    def counting_fdatasync(descriptor: int) -> None:
        synced.append(os.fstat(descriptor).st_size)
        real_fdatasync(descriptor)

    def counting_fsync(descriptor: int) -> None:
        synced.append(-os.fstat(descriptor).st_size)  # negative: the commit's full sync
        real_fsync(descriptor)

    monkeypatch.setattr(storage, "LOCAL_SYNC_EVERY", 1000)
    monkeypatch.setattr(storage.os, "fdatasync", counting_fdatasync)
    monkeypatch.setattr(storage.os, "fsync", counting_fsync)
    store = LocalBlobStore(tmp_path / "blobs")
    writer = store.writer("synced")
    for _ in range(5):
        writer.write(b"x" * 600)
    assert synced == [1200, 2400]
    writer.commit()
    assert synced == [1200, 2400, -3000]
    assert store.size("synced") == 3000


def test_storage_url_picks_the_backend(tmp_path: Path) -> None:
    assert isinstance(open_blob_store(Settings(data_dir=tmp_path)), LocalBlobStore)
    with pytest.raises(ValueError, match="unsupported"):
        open_blob_store(Settings(data_dir=tmp_path, storage_url="ftp://x"))
    with pytest.raises(ValueError, match="bucket"):
        open_blob_store(Settings(data_dir=tmp_path, storage_url="s3:///prefix"))


def test_s3_failures_become_storage_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    from registry_server.errors import StorageUnavailableError
    from tests.support import free_port

    for name, value in S3_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    dead = S3BlobStore(
        "bucket",
        "",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        region="us-east-1",
        max_attempts=1,
    )
    with pytest.raises(StorageUnavailableError, match="blob storage failed"):
        dead.check()


def test_abandoned_writes_are_swept_once_stale(store: BlobStore) -> None:
    """A writer never committed nor aborted (its process was killed) is swept once stale."""
    abandoned = store.writer("killed/mid-upload")
    abandoned.write(os.urandom(S3_PART_SIZE + 1))  # on S3: a multipart upload is under way
    # Fresh writes may belong to uploads in progress elsewhere: kept.
    assert store.sweep_abandoned_writes(3600) == []
    time.sleep(1.1)
    stale = store.sweep_abandoned_writes(1, dry_run=True)
    assert len(stale) == 1
    assert store.sweep_abandoned_writes(1, dry_run=True) == stale  # a dry run removes nothing
    assert store.sweep_abandoned_writes(1) == stale
    assert store.sweep_abandoned_writes(0) == []
    if isinstance(store, LocalBlobStore):
        assert stale[0][1] > S3_PART_SIZE  # the local store reports the bytes it frees
        assert list(store.root.joinpath(".tmp").iterdir()) == []
    assert store.size("killed/mid-upload") is None
    assert store.list("") == []
    # (Here the process lives on: release the writer's file handle; on S3 it is gone already.)
    with contextlib.suppress(StorageUnavailableError):
        abandoned.abort()
