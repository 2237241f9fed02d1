"""What the main commands print, checked as snapshots (tests/cli/snapshot.py), against a real
registry process: a change in what users see is a reviewed change."""

from __future__ import annotations

from tests.cli.snapshot import assert_snapshot
from tests.install.conftest import Memos, Publisher


def _transcript(memos: Memos, *commands: tuple[str, ...]) -> str:
    """``$ memos ARGS`` then its stdout, its stderr (prefixed ``!``) and a non-zero exit code."""
    lines = []
    for argv in commands:
        result = memos.run(*argv)
        lines.append("$ memos " + " ".join(argv))
        lines += result.stdout.splitlines()
        lines += ["! " + line for line in result.stderr.splitlines()]
        if result.returncode:
            lines.append(f"[exit {result.returncode}]")
    return "\n".join(lines) + "\n"


def test_install_list_show_tree_outdated_uninstall(memos: Memos, publisher: Publisher) -> None:
    ns = publisher.namespace
    publisher.publish("base", "1.0.0", memories=["one", "two"])
    publisher.publish("app", "1.0.0", memories=["a"], dependencies={f"{ns}/base": ">=1,<2"})
    text = _transcript(
        memos,
        ("install", "--dry-run", f"{ns}/app"),
        ("install", f"{ns}/app"),
        ("install", f"{ns}/app"),
        ("list",),
        ("tree",),
        ("show", f"{ns}/base"),
        ("list", "--outdated"),
        ("show", f"{ns}/bsae"),
        ("uninstall", f"{ns}/ap"),
        ("uninstall", f"{ns}/app"),
    )
    publisher.publish("base", "1.1.0", memories=["one", "two", "three"])
    text += _transcript(
        memos,
        ("list", "--outdated"),
        ("show", f"{ns}/base", "--remote"),
        # (not `memos search`: cubes of equal rank and downloads come in no fixed order)
        ("--json", "show", f"{ns}/nothing-like-it"),
    )
    assert_snapshot("install-session", text, memos.home.parent)


def test_pack_inspect_verify_download(memos: Memos, publisher: Publisher) -> None:
    ns = publisher.namespace
    work = memos.home.parent
    publisher.publish("lib", "2.0.0", memories=["x", "y", "z"])
    text = _transcript(
        memos,
        ("keygen",),
        ("init", str(work / "src"), "--name", f"{ns}/mine"),
        ("pack", str(work / "src"), "-o", str(work / "mine.memcube")),
        ("inspect", str(work / "mine.memcube")),
        ("verify", str(work / "mine.memcube")),
        ("download", f"{ns}/lib", "-d", str(work / "saved")),
    )
    assert_snapshot("author-session", text, work)
