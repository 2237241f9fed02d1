"""Yanked versions end to end against a real registry: warned about, flagged, never downgraded.

pip prints "... is a yanked version. Reason: ..." when it installs one; so do install, lock and
sync. ``memos list`` and ``--json`` outputs flag them; ``memos install -U`` keeps an installed
version that was yanked rather than silently moving back to an older one.
"""

from __future__ import annotations

import json
from pathlib import Path

from memos_client.registry.client import RegistryClient
from tests.install.conftest import Memos, Publisher


def _yank(memos: Memos, publisher: Publisher, name: str, version: str, reason: str) -> None:
    with RegistryClient(memos.index_url, publisher.token) as client:
        client.yank(f"{publisher.namespace}/{name}", version, reason)


def test_install_lock_and_sync_warn_about_a_yanked_version(
    memos: Memos, publisher: Publisher, tmp_path: Path
) -> None:
    ns = publisher.namespace
    publisher.publish_versions("y", "1.0.0", "1.1.0")
    _yank(memos, publisher, "y", "1.1.0", "drops half the facts")
    warning = f"warning: {ns}/y 1.1.0 is a yanked version. Reason: drops half the facts\n"
    installed = memos.run("install", f"{ns}/y==1.1.0", "--json", check=True)
    assert warning in installed.stderr
    document = json.loads(installed.stdout)["installed"][0]
    assert (document["yanked"], document["yank_reason"]) == (True, "drops half the facts")
    listed = memos.installed()[f"{ns}/y"]
    assert (listed["yanked"], listed["yank_reason"]) == (True, "drops half the facts")
    assert "YANKED: drops half the facts" in memos.run("list", check=True).stdout
    lockfile = tmp_path / "memos.lock"
    locked = memos.run("lock", f"{ns}/y==1.1.0", "-o", str(lockfile), check=True)
    assert warning in locked.stderr
    memos.run("uninstall", f"{ns}/y", check=True)
    synced = memos.run("sync", str(lockfile), check=True)
    assert warning in synced.stderr
    # A version that is not yanked says nothing.
    quiet = memos.run("install", f"{ns}/y==1.0.0", check=True)
    assert "yanked" not in quiet.stderr
    assert memos.installed()[f"{ns}/y"]["yanked"] is False


def test_upgrade_keeps_an_installed_version_that_was_yanked(
    memos: Memos, publisher: Publisher
) -> None:
    ns = publisher.namespace
    publisher.publish_versions("u", "1.0.0", "2.0.0")
    memos.run("install", f"{ns}/u", check=True)
    _yank(memos, publisher, "u", "2.0.0", "bad facts")
    result = memos.run("install", "-U", f"{ns}/u", check=True)
    assert memos.installed()[f"{ns}/u"]["version"] == "2.0.0"  # never silently 1.0.0
    assert "is a yanked version. Reason: bad facts" in result.stderr
    # Asking for the older version explicitly moves back, and says so.
    result = memos.run("install", f"{ns}/u==1.0.0", check=True)
    assert f"warning: downgrading {ns}/u from 2.0.0 to 1.0.0" in result.stderr
    assert memos.installed()[f"{ns}/u"]["version"] == "1.0.0"
