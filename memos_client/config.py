"""Where the client keeps its files: ``MEMOS_HOME`` (keys, runtime store) and ``MEMOS_CACHE_DIR``.

What ``MEMOS_HOME`` holds is one user's: memories, their history, the audit log, keys, tokens.
Directories created there are 0700 and files 0600 whatever the umask (:func:`private_dir`,
:func:`private_file`).
"""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create ``path`` and its missing parents with mode 0700, whatever the umask; return it.

    Directories that already exist keep their mode (the user may have chosen it).
    """
    missing: list[Path] = []
    current = path
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:
            continue  # another process made it first: it chose the mode
        os.chmod(directory, PRIVATE_DIR_MODE)  # mkdir's mode is masked by the umask
    return path


def private_file(path: Path) -> Path:
    """Make ``path`` readable and writable by its owner only (mode 0600); return it."""
    os.chmod(path, PRIVATE_FILE_MODE)
    return path


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
