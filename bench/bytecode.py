"""Byte-compile the project's packages before timing `memos`, as installing them does.

This checkout may run with PYTHONDONTWRITEBYTECODE=1 (the sandbox sets it): every `memos` process
would then compile the project's modules from source (25-70 ms per command), which an installed
copy never does (pip compiles at install time; without that, the first run writes the cache). The
anchors (cp, openssl, curl, uv, pip) are not affected.
"""

from __future__ import annotations

import compileall
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def compile_project() -> None:
    """Write the ``.pyc`` files of ``mip``, ``memos_client`` and ``registry_server``."""
    for package in ("mip", "memos_client", "registry_server"):
        compileall.compile_dir(str(REPO / package), quiet=1)
