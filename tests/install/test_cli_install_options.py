"""install/uninstall/sync --dry-run, --no-deps, --force-reinstall; download; list --outdated;
tree -- end to end against a real registry process."""

from __future__ import annotations

import json
from pathlib import Path

from memos_client.registry.client import RegistryClient
from tests.install.conftest import Memos, Publisher


def _tree_of(folder: Path) -> dict[str, bytes]:
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_dry_run_says_what_would_change_and_writes_nothing(
    memos: Memos, publisher: Publisher
) -> None:
    ns = publisher.namespace
    publisher.publish("base", "1.0.0")
    publisher.publish("app", "1.0.0", dependencies={f"{ns}/base": ">=1"})
    result = memos.run("install", "--dry-run", f"{ns}/app")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"would install {ns}/app 1.0.0\nwould install {ns}/base 1.0.0\n"
    assert "dry run: nothing was changed" in result.stderr
    assert not memos.home.exists()  # no runtime, no pins
    assert _tree_of(memos.cache) == {}  # not even the cache
    memos.run("install", f"{ns}/app", check=True)
    publisher.publish("base", "1.1.0")
    home, cache = _tree_of(memos.home), _tree_of(memos.cache)
    planned = json.loads(memos.run("install", "-U", "--dry-run", "--json", f"{ns}/base").stdout)
    assert planned == {
        "dry_run": True,
        "changes": [
            {
                "action": "upgrade",
                "name": f"{ns}/base",
                "version": "1.1.0",
                "previous_version": "1.0.0",
                "yanked": False,
                "yank_reason": None,
            }
        ],
    }
    removal = memos.run("uninstall", "--dry-run", f"{ns}/app")
    assert removal.stdout == f"would remove {ns}/app 1.0.0\n"
    same = memos.run("install", "--dry-run", f"{ns}/app")
    assert (
        same.stdout
        == f"unchanged: {ns}/app 1.0.0 (installed: 1.0.0)\nunchanged: {ns}/base 1.0.0 (installed: 1.0.0)\n"
    )
    assert "nothing would change" in same.stderr
    # lock + sync --dry-run: what sync would install and remove.
    project = memos.home.parent / "memos.toml"
    project.write_text(f'cubes = ["{ns}/base>=1.1"]\n')
    memos.run("lock", check=True)
    home, cache = _tree_of(memos.home), _tree_of(memos.cache)
    synced = memos.run("sync", "--dry-run")
    assert synced.stdout == (
        f"would upgrade {ns}/base 1.1.0 (installed: 1.0.0)\nwould remove {ns}/app 1.0.0\n"
    ), synced.stderr
    assert _tree_of(memos.home) == home
    assert _tree_of(memos.cache) == cache
    assert set(memos.installed()) == {f"{ns}/app", f"{ns}/base"}


def test_no_deps_and_force_reinstall(memos: Memos, publisher: Publisher) -> None:
    ns = publisher.namespace
    publisher.publish("base", "1.0.0", memories=["b"])
    publisher.publish("app", "1.0.0", memories=["a"], dependencies={f"{ns}/base": ">=1"})
    result = memos.run("install", "--no-deps", f"{ns}/app")
    assert result.returncode == 0, result.stderr
    assert set(memos.installed()) == {f"{ns}/app"}
    tree = memos.run("tree").stdout
    assert tree == f"{ns}/app 1.0.0\n└── {ns}/base (requires >=1) MISSING\n"
    memos.run("install", f"{ns}/base", check=True)
    assert memos.run("tree").stdout == f"{ns}/app 1.0.0\n└── {ns}/base 1.0.0 (requires >=1)\n"
    # A damaged installed file comes back with --force-reinstall (a plain install keeps it).
    shown = json.loads(memos.run("show", f"{ns}/base", "--json", check=True).stdout)
    part = Path(shown["parts"][0]["path"])
    part.unlink()
    assert "already installed" in memos.run("install", f"{ns}/base", check=True).stdout
    assert not part.exists()
    again = memos.run("install", "--force-reinstall", f"{ns}/base")
    assert again.stdout == f"reinstalled {ns}/base 1.0.0 (1 memories)\n", again.stderr
    assert part.is_file()
    tree_json = json.loads(memos.run("tree", "--json").stdout)
    assert tree_json[0]["dependencies"][0]["satisfied"] is True


def test_download_writes_verified_bundles_and_installs_nothing(
    memos: Memos, publisher: Publisher
) -> None:
    ns = publisher.namespace
    publisher.publish("base", "1.0.0", memories=["b1", "b2"])
    publisher.publish("app", "1.0.0", dependencies={f"{ns}/base": ">=1"})
    target = memos.home.parent / "wheelhouse"
    result = memos.run("download", f"{ns}/app", "-d", str(target))
    assert result.returncode == 0, result.stderr
    files = sorted(p.name for p in target.iterdir())
    assert files == [f"{ns}-app-1.0.0.memcube", f"{ns}-base-1.0.0.memcube"]
    assert memos.installed() == {}
    # The bundles verify against the publisher's key and install offline from the files.
    key = memos.home.parent / "pub.pem"
    key.write_bytes(publisher.key.public_key.to_pem())
    for name in files:
        verified = memos.run("verify", str(target / name), "--key", str(key), "--json")
        assert json.loads(verified.stdout)["ok"] is True, verified.stderr
    # download pins nothing: a fresh home trusts the key explicitly before installing files.
    memos.run("trust", "add", str(key), "--namespace", ns, check=True)
    installed = memos.run("install", str(target / files[1]), str(target / files[0]), "--offline")
    assert installed.returncode == 0, installed.stderr
    assert set(memos.installed()) == {f"{ns}/app", f"{ns}/base"}
    only = json.loads(
        memos.run("download", "--no-deps", "--json", f"{ns}/app", "-d", str(target / "x")).stdout
    )
    assert [d["name"] for d in only["downloaded"]] == [f"{ns}/app"]
    missing = memos.run("download", f"{ns}/bse", "-d", str(target))
    assert missing.returncode == 4
    assert f"did you mean {ns}/base?" in missing.stderr


def test_list_outdated(memos: Memos, publisher: Publisher) -> None:
    ns = publisher.namespace
    publisher.publish_each("a", "b")
    memos.run("install", f"{ns}/a", f"{ns}/b", check=True)
    assert memos.run("list", "--outdated").stderr == "every installed cube is up to date\n"
    publisher.publish("a", "1.2.0")
    with RegistryClient(memos.index_url, publisher.token) as client:
        client.yank(f"{ns}/b", "1.0.0", "leaks secrets")
    result = memos.run("list", "--outdated")
    assert result.stdout == (
        f"{ns}/a  1.0.0        -> 1.2.0\n{ns}/b  1.0.0        -> -  YANKED: leaks secrets\n"
    ), result.stderr
    rows = json.loads(memos.run("--json", "list", "--outdated").stdout)
    assert rows[1] == {
        "name": f"{ns}/b",
        "version": "1.0.0",
        "latest_version": None,
        "yanked": True,
        "yank_reason": "leaks secrets",
    }
