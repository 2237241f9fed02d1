"""Sending an upload's bytes: by ``sendfile`` from the file they lie in, else read and sent.

A bundle entry goes from the page cache to the socket without a copy through this process, and
the GIL is released for the whole ``sendfile`` call (docs/adr/0009, 0013).
"""

from __future__ import annotations

import os
import select
import socket
import stat
from typing import TYPE_CHECKING, Any, BinaryIO

from memos_client.errors import VerificationError

if TYPE_CHECKING:
    from collections.abc import Callable

    from memos_client.registry.deadlines import Budget

#: At most this many bytes per ``sendfile`` call (the kernel takes what fits the socket's buffer).
SENDFILE_CHUNK = 16 << 20
#: Read size when an upload's source is not a file the kernel can send from.
READ_CHUNK = 1 << 20


def send_stream(
    sock: socket.socket,
    stream: BinaryIO,
    span: tuple[BinaryIO, int] | None,
    size: int,
    progress: Callable[[int], None] | None,
    budget: Budget,
) -> bool:
    """Send the ``size`` bytes of ``stream``, by ``sendfile`` from ``span`` (a regular file
    and offset) when given; false when the server answered before the end (it has stopped
    reading: sending more would block for good on full buffers). Waits obey ``budget``."""
    pending = memoryview(b"")
    sent = 0
    while sent < size:
        readable, writable, _ = select.select([sock], [sock], [], budget.timeout())
        if readable:
            return False
        if not writable:
            raise TimeoutError("timed out")
        try:
            if span is not None:
                # The kernel moves the bytes from the page cache to the socket: no copy through
                # this process, and the GIL is released for the whole call.
                file, offset = span
                count = os.sendfile(
                    sock.fileno(), file.fileno(), offset + sent, min(SENDFILE_CHUNK, size - sent)
                )
            else:
                if not pending:
                    pending = memoryview(stream.read(min(READ_CHUNK, size - sent)))
                count = sock.send(pending) if pending else 0
                pending = pending[count:]
        except BlockingIOError:
            continue  # the socket filled up again meanwhile
        except TimeoutError:
            continue  # the next select waits, or finds the deadline passed
        if not count:
            raise VerificationError(f"the upload's source ended after {sent} of {size} bytes")
        sent += count
        if progress is not None:
            progress(count)
    return True


def file_span(stream: Any, size: int) -> tuple[BinaryIO, int] | None:
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
