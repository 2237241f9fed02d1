"""Where the client keeps its files: ``MEMOS_HOME`` (keys, runtime store) and ``MEMOS_CACHE_DIR``."""

from __future__ import annotations

import os
from pathlib import Path


def memos_home() -> Path:
    """``$MEMOS_HOME``, or the per-user data directory (``~/.local/share/memos`` on Linux)."""
    value = os.environ.get("MEMOS_HOME")
    if value:
        return Path(value).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("memos", appauthor=False))


def memos_cache_dir() -> Path:
    """``$MEMOS_CACHE_DIR``, or the per-user cache directory (``~/.cache/memos`` on Linux)."""
    value = os.environ.get("MEMOS_CACHE_DIR")
    if value:
        return Path(value).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("memos", appauthor=False))
