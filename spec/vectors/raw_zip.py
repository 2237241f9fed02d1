"""A ZIP writer with no safety rails: local headers, central directory and end record written
byte by byte, so that every field a ``.memcube`` reader checks can be given a bad value
(``zipfile`` refuses to write most of them: duplicate names, links, overlapping entries).
"""

import stat
import struct
import zlib
from dataclasses import dataclass, field


@dataclass
class ZipEntry:
    """One entry to write; every field a reader checks can be set to a bad value."""

    name: str
    data: bytes
    method: int = 0
    uncompressed_size: int | None = None
    mode: int = stat.S_IFREG | 0o644
    #: Write no local header or data: point the central record at another entry's bytes.
    header_at: int | None = None
    stored: bytes | None = field(default=None, repr=False)
    #: General-purpose flags; 0x800 says the name is UTF-8, 0x1 that the entry is encrypted.
    flags: int = 0x800
    #: Declare this size (compressed and uncompressed) whatever the data's length.
    declared_size: int | None = None
    #: Local header only: another method, or other sizes, than the central directory says.
    local_method: int | None = None
    local_size: int | None = None
    #: Declare this CRC-32 (both headers) whatever the data's.
    crc: int | None = None


def zip_bytes(entries: list[ZipEntry], prefix: bytes = b"") -> bytes:
    """Local headers + data, central directory, end record; no ZIP64, no data descriptors."""
    body = bytearray(prefix)
    central = bytearray()
    for entry in entries:
        name = entry.name.encode()
        payload = entry.stored if entry.stored is not None else entry.data
        if entry.method == 8 and entry.stored is None:
            compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
            payload = compressor.compress(entry.data) + compressor.flush()
        crc = zlib.crc32(entry.data) if entry.crc is None else entry.crc
        size = len(entry.data) if entry.uncompressed_size is None else entry.uncompressed_size
        stored_size = len(payload)
        if entry.declared_size is not None:
            size = stored_size = entry.declared_size
        # version 20, flags, method, time 0, date 1980-01-01
        fixed = (20, entry.flags, entry.method, 0, 0x21, crc, stored_size, size, len(name))
        local = list(fixed)
        if entry.local_method is not None:
            local[2] = entry.local_method
        if entry.local_size is not None:
            local[6] = local[7] = entry.local_size
        if entry.header_at is None:
            offset = len(body)
            body += struct.pack("<4s5H3L2H", b"PK\x03\x04", *local, 0) + name + payload
        else:
            offset = entry.header_at
        central += (
            struct.pack(
                "<4s6H3L5HLL",
                b"PK\x01\x02",
                0x031E,  # made by: Unix, version 3.0, so the mode in external_attr counts
                *fixed,
                0,  # extra length
                0,  # comment length
                0,  # disk
                0,  # internal attributes
                entry.mode << 16,
                offset,
            )
            + name
        )
    end = struct.pack(
        "<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(central), len(body), 0
    )
    return bytes(body + central + end)


def local_header_size(name: str) -> int:
    """Bytes of a local header written by :func:`zip_bytes` (no extra field)."""
    return 30 + len(name.encode())
