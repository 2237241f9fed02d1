"""What a killed install leaves under ``$MEMOS_HOME/cubes`` is swept by a later install."""

from __future__ import annotations

import os
import time
from pathlib import Path

from memos_client.install.installer import (
    LEFTOVER_AFTER_S,
    STAGING,
    cube_dir,
    cubes_dir,
    sweep_leftovers,
)
from memos_client.runtime import MemOS
from tests.install.conftest import Memos, Publisher

NOW = 2_000_000_000.0
OLD = NOW - LEFTOVER_AFTER_S - 60
YOUNG = NOW - 60


def _folder(path: Path, mtime: float) -> Path:
    (path / "parts").mkdir(parents=True)
    (path / "manifest.json").write_text("{}")
    os.utime(path, (mtime, mtime))
    return path


def test_old_leftovers_go_and_everything_else_stays(tmp_path: Path) -> None:
    home = tmp_path / "home"
    installed_digest = "sha256:" + "a" * 64
    installed = _folder(cube_dir(home, "ns/cube", installed_digest), OLD)
    orphan = _folder(cube_dir(home, "ns/cube", "sha256:" + "b" * 64), OLD)
    committing = _folder(cube_dir(home, "ns/cube", "sha256:" + "c" * 64), YOUNG)
    old_staging = _folder(cubes_dir(home) / STAGING / ("0" * 32), OLD)
    live_staging = _folder(cubes_dir(home) / STAGING / ("1" * 32), YOUNG)
    (cubes_dir(home) / "ns" / "stray-file").write_text("not a folder")

    removed = sweep_leftovers(home, {"ns/cube": installed_digest}, NOW)

    assert sorted(removed) == sorted([orphan, old_staging])
    assert not orphan.exists()
    assert not old_staging.exists()
    for kept in (installed, committing, live_staging, cubes_dir(home) / "ns" / "stray-file"):
        assert kept.exists()


def test_nothing_installed_yet_is_nothing_to_sweep(tmp_path: Path) -> None:
    assert sweep_leftovers(tmp_path / "home", {}, NOW) == []


def test_a_symlinked_staging_folder_is_not_followed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    cubes_dir(home).mkdir(parents=True)
    elsewhere = _folder(tmp_path / "elsewhere" / "important", OLD)
    (cubes_dir(home) / STAGING).symlink_to(elsewhere.parent)
    assert sweep_leftovers(home, {}, NOW) == []
    assert elsewhere.exists()


def test_cubes_the_principal_cannot_read_are_still_installed(tmp_path: Path) -> None:
    # Governance hides them from `installed_cubes` (listing is reading); their files stay.
    digest = "sha256:" + "e" * 64
    with MemOS(tmp_path / "home", embedder="hashing") as mem:
        mem.install_cube("ns/secret", "1.0.0", digest, [], {"access": {"read": ["bob"]}}, [])
        assert [c.name for c in mem.installed_cubes()] == []
        installed = mem.installed_digests()
    assert installed == {"ns/secret": digest}
    folder = _folder(cube_dir(tmp_path / "home", "ns/secret", digest), OLD)
    assert sweep_leftovers(tmp_path / "home", installed, NOW) == []
    assert folder.exists()


def test_an_install_sweeps_what_a_killed_one_left(memos: Memos, publisher: Publisher) -> None:
    ns = publisher.namespace
    publisher.publish("swept", "1.0.0", memories=["one"])
    # A killed install of another version: renamed into place, never committed; and its staging.
    old = time.time() - LEFTOVER_AFTER_S - 60
    orphan = _folder(cube_dir(memos.home, f"{ns}/swept", "sha256:" + "d" * 64), old)
    staging = _folder(cubes_dir(memos.home) / STAGING / ("2" * 32), old)
    memos.run("install", f"{ns}/swept", check=True)
    assert not orphan.exists()
    assert not staging.exists()
    assert memos.installed()[f"{ns}/swept"]["version"] == "1.0.0"
