"""Installed cubes depend on each other: installs resolve against them, uninstalls respect them,
``memos check`` lists what is broken (end to end, a real registry process)."""

from __future__ import annotations

import json

from tests.install.conftest import Memos, Publisher


def _setup(memos: Memos, publisher: Publisher) -> str:
    ns = publisher.namespace
    publisher.publish_versions("dep", "1.5.0", "2.0.0")
    publisher.publish("app", "1.0.0", dependencies={f"{ns}/dep": "<2"})
    memos.run("install", f"{ns}/app", check=True)
    assert memos.installed()[f"{ns}/dep"]["version"] == "1.5.0"
    return ns


def test_an_install_that_would_break_a_dependent_is_refused_unless_forced(
    memos: Memos, publisher: Publisher
) -> None:
    ns = _setup(memos, publisher)
    refused = memos.run("install", f"{ns}/dep>=2")
    assert refused.returncode == 5, refused.stderr
    assert refused.stderr == (
        f"error: installing {ns}/dep 2.0.0 would break {ns}/app 1.0.0 requires {ns}/dep<2, but "
        f"{ns}/dep 2.0.0 is installed; pass --force to install anyway (`memos check` then lists "
        "what is broken)\n"
    )
    assert memos.installed()[f"{ns}/dep"]["version"] == "1.5.0"
    # Resolving against what is installed: -U picks the newest version the dependent allows.
    memos.run("install", "-U", f"{ns}/dep", check=True)
    assert memos.installed()[f"{ns}/dep"]["version"] == "1.5.0"
    assert memos.run("check", check=True).stdout == "no broken dependencies\n"
    forced = memos.run("install", "--force", f"{ns}/dep>=2", check=True)
    problem = f"{ns}/app 1.0.0 requires {ns}/dep<2, but {ns}/dep 2.0.0 is installed"
    assert f"warning: --force: {problem}\n" in forced.stderr
    assert memos.installed()[f"{ns}/dep"]["version"] == "2.0.0"
    checked = memos.run("check")
    assert checked.returncode == 5
    assert checked.stdout == problem + "\n"
    assert "1 installed cube has unmet dependencies" in checked.stderr
    as_json = json.loads(memos.run("check", "--json").stdout)
    assert as_json == {
        "ok": False,
        "problems": [
            {"cube": f"{ns}/app 1.0.0", "requires": f"{ns}/dep<2", "installed": f"{ns}/dep 2.0.0"}
        ],
    }


def test_uninstalling_a_dependency_is_refused_unless_forced(
    memos: Memos, publisher: Publisher
) -> None:
    ns = _setup(memos, publisher)
    refused = memos.run("uninstall", f"{ns}/dep")
    assert refused.returncode == 5, refused.stderr
    assert refused.stderr == (
        f"error: refusing to uninstall {ns}/dep: {ns}/app 1.0.0 requires {ns}/dep<2, which is not "
        "installed; uninstall the dependents too, or pass --force (`memos check` then lists what "
        "is broken)\n"
    )
    assert set(memos.installed()) == {f"{ns}/app", f"{ns}/dep"}
    forced = memos.run("uninstall", "--force", f"{ns}/dep", check=True)
    assert f"warning: --force: {ns}/app 1.0.0 requires {ns}/dep<2, which is not" in forced.stderr
    assert memos.run("check").returncode == 5
    memos.run("install", f"{ns}/dep<2", check=True)
    # Removing the dependent together with its dependency is fine.
    memos.run("uninstall", f"{ns}/dep", f"{ns}/app", check=True)
    assert memos.installed() == {}
