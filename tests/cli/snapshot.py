"""Snapshot checks of what `memos` prints, as uv's tests do: a change in what users see is a
change to a file under tests/cli/snapshots/, reviewed with the code.

Volatile parts are normalised before comparing: the test's temporary folders (``[TMP]``), the
registry's port (``[REGISTRY]``), test namespaces (``[NS]``), digests and key ids, times,
download counts. Run
with ``MEMOS_UPDATE_SNAPSHOTS=1`` to write the files afresh, then read the diff.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"

_PATTERNS = [
    (re.compile(r"sha256:[0-9a-f]{64}"), "sha256:[DIGEST]"),
    (re.compile(r"sha256:[0-9a-f]{12,63}(?:\.\.\.)?"), "sha256:[DIGEST]"),
    (re.compile(r"\b[0-9a-f]{64}\b"), "[KEYID]"),
    (re.compile(r"\b[0-9a-f]{16}\b"), "[KEYID]"),
    (re.compile(r"\d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?)?"), "[TIME]"),
    (re.compile(r"\bns\d+x\d+\b"), "[NS]"),
    (re.compile(r"http://127\.0\.0\.1:\d+"), "[REGISTRY]"),
    # The registry counts downloads in the background: the number shown depends on timing.
    (re.compile(r"downloads \d+"), "downloads [N]"),
]


def normalise(text: str, *folders: Path) -> str:
    """``text`` with the volatile parts replaced by placeholders."""
    for folder in sorted(folders, key=lambda f: -len(str(f))):
        text = text.replace(str(folder), "[TMP]")
    for pattern, placeholder in _PATTERNS:
        text = pattern.sub(placeholder, text)
    return text


def assert_snapshot(name: str, text: str, *folders: Path) -> None:
    """``text`` (normalised) equals ``tests/cli/snapshots/NAME.txt``."""
    path = SNAPSHOTS / f"{name}.txt"
    shown = normalise(text, *folders)
    if os.environ.get("MEMOS_UPDATE_SNAPSHOTS") == "1":
        path.write_text(shown, "utf-8")
        return
    assert path.is_file(), f"no snapshot {path.name}: run with MEMOS_UPDATE_SNAPSHOTS=1"
    expected = path.read_text("utf-8")
    if shown != expected:
        import difflib

        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                shown.splitlines(keepends=True),
                path.name,
                "now",
            )
        )
        raise AssertionError(f"{path.name} changed (MEMOS_UPDATE_SNAPSHOTS=1 to accept):\n{diff}")
