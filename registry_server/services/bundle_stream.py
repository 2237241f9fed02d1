"""A published version as one ``.memcube`` file (MIP-1 §8), assembled while it is sent.

The archive is what ``memos pack`` writes (``memos_client.authoring.bundle_writer``): STORED entries, blobs
first (ZIP64 local headers, as the packer forces), then ``manifest.json`` and ``envelope.json``,
then the central directory. Every size and CRC-32 is known before the first byte (sizes from the
manifest, CRCs derived at publish: ``services/derived.py``), so the total length is announced up
front, no data descriptor is needed and each blob streams from the store in chunks: nothing is
held in memory but one chunk.
"""

from __future__ import annotations

import stat
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import select

from mip.archive import BLOB_PREFIX, ENVELOPE_ENTRY, MANIFEST_ENTRY
from mip.digests import Digest, digest_hex
from registry_server.db.models import Cube
from registry_server.db.session import read_session
from registry_server.errors import StorageUnavailableError
from registry_server.services.blobs import blob_key
from registry_server.services.derived import blob_checksums
from registry_server.services.facets import load_manifest
from registry_server.services.resolve import find_cube, find_version
from registry_server.services.storage import BlobStore

#: The media type of a ``.memcube`` file (MIP-1-registry §5).
MEMCUBE_MEDIA_TYPE = "application/vnd.memcube.bundle.v1+zip"
_DATE_TIME = (1980, 1, 1, 0, 0, 0)
# Past these zipfile (so the packer) switches to ZIP64 fields.
_LIMIT = zipfile.ZIP64_LIMIT
_COUNT_LIMIT = 0xFFFF
_ZIP64_VERSION = 45
# APPNOTE 6.3: central directory header (4.3.12), ZIP64 end of central directory record and
# locator (4.3.14, 4.3.15), end of central directory record (4.3.16).
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")
_END64 = struct.Struct("<4sQ2H2L4Q")
_LOCATOR = struct.Struct("<4sLQL")
_END = struct.Struct("<4s4H2LH")


@dataclass(frozen=True)
class _Entry:
    info: zipfile.ZipInfo
    header: bytes
    #: The entry's bytes when small (manifest, envelope); ``None`` for a blob read from the store.
    data: bytes | None
    digest: str | None


def _info(name: str, size: int, crc: int, offset: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_DATE_TIME)
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = (stat.S_IFREG | 0o644) << 16
    info.file_size = info.compress_size = size
    info.CRC = crc
    info.header_offset = offset
    return info


def _central_record(info: zipfile.ZipInfo) -> bytes:
    """One central directory record, as ``zipfile`` writes it on close (ZIP64 where needed)."""
    extra: list[int] = []
    size = info.file_size
    if size > _LIMIT:
        extra += [size, size]
        size = 0xFFFFFFFF
    offset = info.header_offset
    if offset > _LIMIT:
        extra.append(offset)
        offset = 0xFFFFFFFF
    extra_data = b""
    min_version = 0
    if extra:
        extra_data = struct.pack("<HH" + "Q" * len(extra), 1, 8 * len(extra), *extra)
        min_version = _ZIP64_VERSION
    name = info.filename.encode("ascii")
    record = _CENTRAL.pack(
        b"PK\x01\x02",
        max(min_version, info.create_version),
        info.create_system,
        max(min_version, info.extract_version),
        info.reserved,
        info.flag_bits,
        info.compress_type,
        0,  # DOS time of 1980-01-01 00:00:00
        (1 << 5) | 1,  # DOS date of 1980-01-01
        info.CRC,
        size,
        size,
        len(name),
        len(extra_data),
        0,
        0,
        info.internal_attr,
        info.external_attr,
        offset,
    )
    return record + name + extra_data


def _end_records(count: int, start: int, size: int) -> bytes:
    """The end of central directory record, ZIP64 records first when ``zipfile`` needs them."""
    records = b""
    if count > _COUNT_LIMIT or start > _LIMIT or size > _LIMIT:
        end64 = start + size
        records += _END64.pack(b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, size, start)
        records += _LOCATOR.pack(b"PK\x06\x07", 0, end64, 1)
        count, size, start = min(count, 0xFFFF), min(size, 0xFFFFFFFF), min(start, 0xFFFFFFFF)
    return records + _END.pack(b"PK\x05\x06", 0, 0, count, count, size, start, 0)


class MemcubeStream:
    """The bytes of one ``.memcube``: :attr:`length` up front, then :meth:`chunks`."""

    def __init__(
        self,
        manifest: bytes,
        envelope: bytes,
        blobs: list[tuple[str, int, int]],
    ) -> None:
        """``blobs``: ``(digest, size, crc32)`` of each distinct blob, in archive order."""
        self._entries: list[_Entry] = []
        offset = 0
        for digest, size, crc in blobs:
            info = _info(BLOB_PREFIX + digest_hex(Digest(digest)), size, crc, offset)
            header = info.FileHeader(True)  # the packer forces ZIP64 local headers on blobs
            self._entries.append(_Entry(info, header, None, digest))
            offset += len(header) + size
        for name, data in ((MANIFEST_ENTRY, manifest), (ENVELOPE_ENTRY, envelope)):
            info = _info(name, len(data), zlib.crc32(data), offset)
            header = info.FileHeader(len(data) > _LIMIT)
            self._entries.append(_Entry(info, header, data, None))
            offset += len(header) + len(data)
        central = b"".join(_central_record(entry.info) for entry in self._entries)
        self._tail = central + _end_records(len(self._entries), offset, len(central))
        self.length = offset + len(self._tail)

    def chunks(self, store: BlobStore) -> Iterator[bytes]:
        """The archive's bytes; a blob the store holds with another size ends the stream early
        (the client sees fewer bytes than announced), never with wrong bytes."""
        for entry in self._entries:
            yield entry.header
            if entry.data is not None:
                yield entry.data
                continue
            assert entry.digest is not None
            sent = 0
            for chunk in store.read(blob_key(entry.digest)):
                sent += len(chunk)
                if sent > entry.info.file_size:
                    break
                yield chunk
            if sent != entry.info.file_size:
                raise StorageUnavailableError(
                    f"blob {entry.digest} is {sent} bytes in storage, {entry.info.file_size} "
                    "in the manifest: the download was cut off"
                )
        yield self._tail


@dataclass(frozen=True)
class MemcubeDownload:
    """A version's ``.memcube``, ready to send."""

    stream: MemcubeStream
    filename: str
    manifest_digest: str
    version_id: int
    cube_id: int


def memcube_download(
    engine: Engine, store: BlobStore, namespace: str, name: str, version: str
) -> MemcubeDownload:
    """The ``.memcube`` of one version (404 for an unknown cube or version)."""
    with read_session(engine) as session:
        row = find_version(session, find_cube(session, namespace, name), version)
        cube_name = session.exec(select(Cube.name).where(Cube.id == row.cube_id)).one()
        envelope_bytes = bytes(row.envelope)
        envelope, manifest = load_manifest(row)
    assert row.id is not None
    sizes = manifest.blob_sizes()
    crcs = blob_checksums(engine, store, list(sizes))
    stream = MemcubeStream(
        envelope.payload,
        envelope_bytes,
        [(digest, size, crcs[digest]) for digest, size in sizes.items()],
    )
    filename = f"{cube_name.replace('/', '-')}-{row.version}.memcube"
    return MemcubeDownload(stream, filename, row.manifest_digest, row.id, row.cube_id)
