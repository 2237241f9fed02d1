"""Small files written whole or not at all: a temporary file beside the target, then ``os.replace``.

The trust store, the log state and the download cache's small entries (envelopes, index
documents) are all read back by a later ``memos`` run, maybe one started while this one writes:
a reader sees the old file or the new one, never half of either. Here, below both ``trust`` and
``install``, so both use the one copy.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import suppress
from pathlib import Path


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` in one step; its directory must exist. On any failure the
    temporary file is removed and ``path`` is left as it was."""
    handle, temp_name = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as sink:
            sink.write(data)
        os.replace(temp_name, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
