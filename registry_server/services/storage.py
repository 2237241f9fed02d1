"""Blob storage behind one interface: a local directory or an S3-compatible bucket.

Both backends pass ``tests/registry/test_storage_conformance.py``. Objects become visible only
when a writer commits (a temp file renamed into place; an S3 multipart upload completed), so an
interrupted upload leaves nothing behind that a reader could see.
"""

from __future__ import annotations

import logging
import os
import stat
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import unquote, urlparse

from registry_server.errors import StorageUnavailableError

if TYPE_CHECKING:
    from registry_server.settings import Settings

logger = logging.getLogger("registry_server")

#: Read size for streaming blobs out.
READ_CHUNK = 1 << 20
#: S3 multipart part size (S3 requires at least 5 MiB for every part but the last).
S3_PART_SIZE = 16 << 20
#: A local writer forces what it has written to disk every this many bytes, while the upload is
#: still arriving: the commit's fsync then waits for the last few MiB, not for the whole blob.
LOCAL_SYNC_EVERY = 16 << 20
#: What a client is told to do about any storage failure (the details go to the server's log).
STORAGE_ADVICE = "the registry's operator should check its blob storage; retry later"


#: What a sweep removed: ``(name, bytes)`` of each leftover (the stores' ``list`` method
#: shadows the builtin inside their classes, hence the alias).
Swept = list[tuple[str, int]]


class BlobWriter(Protocol):
    """An object being written; invisible until :meth:`commit`."""

    def write(self, data: bytes) -> None:
        """Append bytes."""

    def commit(self) -> None:
        """Make the object visible under its key, atomically."""

    def abort(self) -> None:
        """Discard everything written; the key is left as it was."""


class BlobStore(Protocol):
    """Where blob bytes live. Keys are ``/``-separated relative paths chosen by the services."""

    def size(self, key: str) -> int | None:
        """The size of the object, or ``None`` when there is none."""

    def writer(self, key: str) -> BlobWriter:
        """A writer whose commit creates (or replaces) the object ``key``."""

    def read(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The bytes ``[start, end)`` of the object (``end=None``: to the end), in chunks."""

    def local_path(self, key: str) -> Path | None:
        """A filesystem path of the object when the backend has one (for zero-copy serving)."""

    def download_url(self, key: str, expires_seconds: int) -> str | None:
        """A presigned URL a client may fetch the object from, or ``None`` to serve it ourselves."""

    def list(self, prefix: str) -> list[tuple[str, int]]:
        """Keys under ``prefix`` with their sizes, sorted by key."""

    def delete(self, key: str) -> None:
        """Remove an object if present."""

    def sweep_abandoned_writes(self, older_than_seconds: float, *, dry_run: bool = False) -> Swept:
        """Discard writes never committed nor aborted (a process killed mid-upload).

        Only writes untouched for ``older_than_seconds`` go: others may belong to uploads in
        progress in other processes sharing the storage. Returns ``(name, bytes)`` of each
        (``dry_run``: would go); bytes are 0 where the backend does not tell.
        """

    def check(self) -> None:
        """Raise :class:`StorageUnavailableError` when the storage cannot be used."""


class LocalBlobStore:
    """Objects as files under ``root``; writes go to ``root/.tmp`` and are renamed into place."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._tmp = root / ".tmp"
        self._tmp.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        parts = key.split("/")
        # Keys are built by our services, but never let one escape the root.
        if not key or any(part in ("", ".", "..") or part.startswith(".") for part in parts):
            raise ValueError(f"invalid storage key {key!r}")
        return self.root.joinpath(*parts)

    def size(self, key: str) -> int | None:
        """See :meth:`BlobStore.size`."""
        path = self._path(key)
        with translate_os_errors("read", key):
            try:
                return path.stat().st_size
            except FileNotFoundError:
                return None

    def writer(self, key: str) -> BlobWriter:
        """See :meth:`BlobStore.writer`."""
        path = self._path(key)
        with translate_os_errors("write", key):
            return _LocalWriter(path, self._tmp, key)

    def read(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """See :meth:`BlobStore.read`."""
        path = self._path(key)
        with translate_os_errors("read", key):
            stream = open(path, "rb")  # noqa: SIM115  (closed by the with below)
        with stream:
            stream.seek(start)
            remaining = None if end is None else end - start
            while remaining is None or remaining > 0:
                chunk = stream.read(READ_CHUNK if remaining is None else min(READ_CHUNK, remaining))
                if not chunk:
                    return
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk

    def local_path(self, key: str) -> Path | None:
        """See :meth:`BlobStore.local_path`."""
        return self._path(key)

    def download_url(self, key: str, expires_seconds: int) -> str | None:
        """A directory cannot presign: the server streams the file itself."""
        return None

    def list(self, prefix: str) -> list[tuple[str, int]]:
        """See :meth:`BlobStore.list` (a string prefix, as in S3)."""
        directory = prefix.rpartition("/")[0]
        base = self._path(directory) if directory else self.root
        found = []
        with translate_os_errors("list", prefix):
            if not base.is_dir():
                return []
            for path in base.rglob("*"):
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix) and not key.startswith(".") and path.is_file():
                    found.append((key, path.stat().st_size))
        return sorted(found)

    def delete(self, key: str) -> None:
        """See :meth:`BlobStore.delete`."""
        path = self._path(key)
        with translate_os_errors("delete", key):
            path.unlink(missing_ok=True)
        # Remove emptied directories so finished upload sessions leave no trace.
        parent = path.parent
        while parent != self.root:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent

    def sweep_abandoned_writes(self, older_than_seconds: float, *, dry_run: bool = False) -> Swept:
        """Remove temp files of ``.tmp`` not written to for ``older_than_seconds``."""
        cutoff = time.time() - older_than_seconds
        swept = []
        with translate_os_errors("sweep", ".tmp"):
            for path in sorted(self._tmp.iterdir()):
                try:
                    status = path.lstat()
                except FileNotFoundError:
                    continue  # committed or aborted meanwhile
                if not stat.S_ISREG(status.st_mode) or status.st_mtime >= cutoff:
                    continue
                if not dry_run:
                    path.unlink(missing_ok=True)
                swept.append((path.name, status.st_size))
        return swept

    def check(self) -> None:
        """See :meth:`BlobStore.check`."""
        # ``os.access`` alone says yes to root even where writes fail; a missing or replaced
        # temp directory fails every upload.
        if not self._tmp.is_dir() or not os.access(self._tmp, os.W_OK):
            raise StorageUnavailableError(
                f"blob directory {self.root} is not writable: check it, or point "
                "MEMSTORE_STORAGE_URL / --data-dir elsewhere"
            )


class _LocalWriter:
    """Writes to a temp file under the store's ``.tmp``; OS errors become storage errors."""

    def __init__(self, target: Path, tmp_dir: Path, key: str) -> None:
        self._target = target
        self._key = key
        descriptor, name = tempfile.mkstemp(dir=tmp_dir, prefix="upload-")
        self._tmp = Path(name)
        self._file = os.fdopen(descriptor, "wb")
        self._unsynced = 0

    def write(self, data: bytes) -> None:
        with translate_os_errors("write", self._key):
            self._file.write(data)
            self._unsynced += len(data)
            if self._unsynced >= LOCAL_SYNC_EVERY:
                self._file.flush()
                os.fdatasync(self._file.fileno())
                self._unsynced = 0

    def commit(self) -> None:
        with translate_os_errors("write", self._key):
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._target.parent.mkdir(parents=True, exist_ok=True)
            self._tmp.replace(self._target)

    def abort(self) -> None:
        with translate_os_errors("discard a partial upload of", self._key):
            try:
                self._file.close()
            finally:
                self._tmp.unlink(missing_ok=True)


class S3BlobStore:
    """Objects in an S3-compatible bucket under ``prefix``, through boto3."""

    def __init__(
        self,
        bucket: str,
        prefix: str,
        *,
        endpoint_url: str | None,
        region: str,
        addressing_style: Literal["auto", "virtual", "path"] = "path",
        max_attempts: int = 3,
    ) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._client: Any = boto3.client(
            "s3",
            endpoint_url=endpoint_url or None,
            region_name=region,
            config=Config(
                s3={"addressing_style": addressing_style},
                signature_version="s3v4",
                retries={"max_attempts": max_attempts, "mode": "standard"},
                max_pool_connections=32,
            ),
        )

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def size(self, key: str) -> int | None:
        """See :meth:`BlobStore.size`."""
        from botocore.exceptions import ClientError

        try:
            with translate_storage_errors():
                response = self._client.head_object(Bucket=self.bucket, Key=self._key(key))
        except StorageUnavailableError as exc:
            cause = exc.__cause__
            if isinstance(cause, ClientError) and cause.response.get("Error", {}).get("Code") in (
                "404",
                "NoSuchKey",
                "NotFound",
            ):
                return None
            raise
        return int(response["ContentLength"])

    def writer(self, key: str) -> BlobWriter:
        """See :meth:`BlobStore.writer`."""
        return _S3Writer(self._client, self.bucket, self._key(key))

    def read(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """See :meth:`BlobStore.read`."""
        if end is not None and end <= start:
            return
        byte_range = f"bytes={start}-{'' if end is None else end - 1}"
        with translate_storage_errors():
            response = self._client.get_object(
                Bucket=self.bucket, Key=self._key(key), Range=byte_range
            )
            body = response["Body"]
            try:
                yield from body.iter_chunks(READ_CHUNK)
            finally:
                body.close()

    def local_path(self, key: str) -> Path | None:
        """Objects in a bucket have no local path."""
        return None

    def download_url(self, key: str, expires_seconds: int) -> str | None:
        """A presigned GET URL, so the application never proxies blob bytes."""
        with translate_storage_errors():
            url: str = self._client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": self._key(key)},
                ExpiresIn=expires_seconds,
            )
        return url

    def list(self, prefix: str) -> list[tuple[str, int]]:
        """See :meth:`BlobStore.list`."""
        found = []
        strip = len(self._key(""))
        with translate_storage_errors():
            paginator = self._client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix)):
                for item in page.get("Contents", []):
                    found.append((item["Key"][strip:], int(item["Size"])))
        return sorted(found)

    def delete(self, key: str) -> None:
        """See :meth:`BlobStore.delete`."""
        with translate_storage_errors():
            self._client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def sweep_abandoned_writes(self, older_than_seconds: float, *, dry_run: bool = False) -> Swept:
        """Abort multipart uploads under the prefix not written to for ``older_than_seconds``."""
        cutoff = datetime.now(UTC) - timedelta(seconds=older_than_seconds)
        swept = []
        with translate_storage_errors():
            paginator = self._client.get_paginator("list_multipart_uploads")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key("")):
                for upload in page.get("Uploads", []):
                    if self._last_written(upload) >= cutoff:
                        continue
                    if not dry_run:
                        self._client.abort_multipart_upload(
                            Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                        )
                    swept.append((f"{upload['Key']} (multipart {upload['UploadId']})", 0))
        return swept

    def _last_written(self, upload: dict[str, Any]) -> datetime:
        """When a multipart upload last received a part (else when it began).

        A long upload is alive as long as parts keep arriving, however long ago it began (and
        some S3-compatible servers report no real ``Initiated`` time at all).
        """
        latest: datetime = upload["Initiated"]
        parts = self._client.get_paginator("list_parts")
        for page in parts.paginate(
            Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
        ):
            for part in page.get("Parts", []):
                latest = max(latest, part["LastModified"])
        return latest

    def check(self) -> None:
        """See :meth:`BlobStore.check`."""
        with translate_storage_errors():
            self._client.head_bucket(Bucket=self.bucket)


class _S3Writer:
    """Buffers to :data:`S3_PART_SIZE`; one PUT for small objects, multipart for large ones."""

    def __init__(self, client: Any, bucket: str, key: str) -> None:
        self._client = client
        self._bucket = bucket
        self._key = key
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []

    def write(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= S3_PART_SIZE:
            self._flush_part(bytes(self._buffer[:S3_PART_SIZE]))
            del self._buffer[:S3_PART_SIZE]

    def _flush_part(self, data: bytes) -> None:
        with translate_storage_errors():
            if self._upload_id is None:
                response = self._client.create_multipart_upload(Bucket=self._bucket, Key=self._key)
                self._upload_id = response["UploadId"]
            number = len(self._parts) + 1
            response = self._client.upload_part(
                Bucket=self._bucket,
                Key=self._key,
                UploadId=self._upload_id,
                PartNumber=number,
                Body=data,
            )
            self._parts.append({"ETag": response["ETag"], "PartNumber": number})

    def commit(self) -> None:
        with translate_storage_errors():
            if self._upload_id is None:
                self._client.put_object(
                    Bucket=self._bucket, Key=self._key, Body=bytes(self._buffer)
                )
                return
            if self._buffer:
                self._flush_part(bytes(self._buffer))
                self._buffer.clear()
            self._client.complete_multipart_upload(
                Bucket=self._bucket,
                Key=self._key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts},
            )

    def abort(self) -> None:
        self._buffer.clear()
        if self._upload_id is not None:
            with translate_storage_errors():
                self._client.abort_multipart_upload(
                    Bucket=self._bucket, Key=self._key, UploadId=self._upload_id
                )


@contextmanager
def translate_storage_errors() -> Iterator[None]:
    """Turn botocore's exceptions into :class:`StorageUnavailableError` (the one boundary)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except (BotoCoreError, ClientError) as exc:
        raise StorageUnavailableError(f"blob storage failed: {exc}: {STORAGE_ADVICE}") from exc


@contextmanager
def translate_os_errors(action: str, key: str) -> Iterator[None]:
    """Turn the local store's ``OSError`` into :class:`StorageUnavailableError` (the one boundary).

    The client's message names the failure but not the server's paths; the log has them.
    """
    try:
        yield
    except OSError as exc:
        logger.warning("blob storage: could not %s %s: %s", action, key, exc)
        reason = exc.strerror or type(exc).__name__
        raise StorageUnavailableError(
            f"blob storage failed: could not {action} an object ({reason}): {STORAGE_ADVICE}"
        ) from exc


def open_blob_store(settings: Settings) -> BlobStore:
    """The backend named by ``settings.storage_url`` (``file://`` or ``s3://bucket/prefix``)."""
    from registry_server.settings import InvalidSettingsError

    url = urlparse(settings.resolved_storage_url())
    if url.scheme == "file":
        root = Path(unquote(url.path))
        try:
            return LocalBlobStore(root)
        except OSError as exc:
            raise InvalidSettingsError(
                f"the blob directory {root} cannot be used ({exc.strerror or exc}): check "
                "MEMSTORE_STORAGE_URL (file:///path) or --data-dir"
            ) from exc
    if url.scheme == "s3":
        if not url.netloc:
            raise InvalidSettingsError(
                "MEMSTORE_STORAGE_URL must name a bucket: s3://bucket/prefix"
            )
        return S3BlobStore(
            url.netloc,
            url.path,
            endpoint_url=settings.s3_endpoint_url or None,
            region=settings.s3_region,
            addressing_style=settings.s3_addressing_style,
        )
    raise InvalidSettingsError(
        f"unsupported MEMSTORE_STORAGE_URL {settings.storage_url!r}: use file:///path or "
        "s3://bucket/prefix"
    )


def new_upload_id() -> str:
    """A random, unguessable upload-session id."""
    return uuid.uuid4().hex
