"""`--json` on every command that prints, one exit code per meaning and "did you mean", end to
end against a real registry process."""

from __future__ import annotations

import json

from memos_client.registry.client import RegistryClient
from tests.install.conftest import Memos, Publisher, make_bundle


def test_missing_cube_is_exit_4_everywhere_and_names_the_nearest(
    memos: Memos, publisher: Publisher
) -> None:
    ns = publisher.namespace
    publisher.publish("cooking", "1.0.0")
    for argv in (("show", f"{ns}/cokking"), ("install", f"{ns}/cokking")):
        result = memos.run(*argv)
        assert result.returncode == 4, (argv, result.stderr)
        assert result.stderr.startswith("error: ")
        assert result.stderr.rstrip().endswith(f"did you mean {ns}/cooking?"), result.stderr
        assert len(result.stderr.splitlines()) == 1
    # Nothing close: the plain not-found message. Within one namespace only the names after it
    # are compared (the shared namespace made ns/nothing "close" to ns/cooking).
    for unlike in ("zzzzzzzzzzzz", "nothing"):
        result = memos.run("show", f"{ns}/{unlike}")
        assert result.returncode == 4
        assert "did you mean" not in result.stderr
    # Installed names are suggested locally.
    memos.run("install", f"{ns}/cooking", check=True)
    result = memos.run("uninstall", f"{ns}/cookin")
    assert result.returncode == 4
    assert f"did you mean {ns}/cooking?" in result.stderr
    # Under --json, the same exit code and a JSON error with the registry's stable code.
    result = memos.run("--json", "show", f"{ns}/cokking")
    assert result.returncode == 4
    error = json.loads(result.stderr)["error"]
    assert error["code"] == "cube_not_found"
    assert error["message"].endswith(f"did you mean {ns}/cooking?")


def test_json_on_the_commands_that_lacked_it(memos: Memos, publisher: Publisher) -> None:
    ns = publisher.namespace
    publisher.publish_versions("lib", "1.0.0", "1.1.0")
    work = memos.home.parent
    key = json.loads(memos.run("keygen", "--json", check=True).stdout)
    assert len(key["key_id"]) == 64
    assert key["name"] == "default"
    init = json.loads(memos.run("--json", "init", str(work / "src"), "--name", f"{ns}/mine").stdout)
    assert init == {
        "directory": str(work / "src"),
        "name": f"{ns}/mine",
        "documents": [],
        "skipped": [],
    }
    memos.run("pack", str(work / "src"), "-o", str(work / "mine.memcube"), check=True)
    verified = json.loads(
        memos.run("verify", str(work / "mine.memcube"), "--json", check=True).stdout
    )
    assert verified["ok"] is True
    assert verified["signers"] == [key["key_id"]]
    locked = json.loads(memos.run("--json", "lock", f"{ns}/lib", check=True).stdout)
    assert [(c["name"], c["version"]) for c in locked["cubes"]] == [(f"{ns}/lib", "1.1.0")]
    assert (work / "memos.lock").is_file()
    pub = work / "pub.pem"
    pub.write_bytes(publisher.key.public_key.to_pem())
    added = json.loads(memos.run("--json", "trust", "add", str(pub), "--namespace", ns).stdout)
    assert added["namespace"] == ns
    removed = json.loads(memos.run("--json", "trust", "remove", "--namespace", ns).stdout)
    assert removed["removed"]
    logged = json.loads(memos.run("--json", "login", "--token", publisher.token, check=True).stdout)
    assert logged["index_url"] == memos.index_url
    yanked = json.loads(
        memos.run("--json", "yank", f"{ns}/lib@1.1.0", "--reason", "bad", check=True).stdout
    )
    assert yanked == {"name": f"{ns}/lib", "version": "1.1.0", "yanked": True, "yank_reason": "bad"}
    cleaned = json.loads(memos.run("--json", "cache", "clean", check=True).stdout)
    assert cleaned["freed_bytes"] > 0
    # An install of the exactly pinned yanked version says so in its JSON (an exact pin found
    # in the cache is not asked about again: the cache was cleaned above).
    installed = json.loads(memos.run("--json", "install", f"{ns}/lib==1.1.0", check=True).stdout)
    [result] = installed["installed"]
    assert (result["yanked"], result["yank_reason"]) == (True, "bad")
    # memos list flags it too (from the cube document the install cached; no request).
    [listed] = json.loads(memos.run("--json", "list", check=True).stdout)
    assert (listed["yanked"], listed["yank_reason"]) == (True, "bad")
    assert memos.run("list", check=True).stdout.rstrip().endswith("YANKED: bad")
    with RegistryClient(memos.index_url, publisher.token) as client:
        client.create_token([ns], ["publish"], 1, "spare")
        [spare] = [t.id for t in client.list_tokens() if t.description == "spare"]
    revoked = json.loads(memos.run("--json", "token", "revoke", str(spare), check=True).stdout)
    assert revoked == {"revoked": spare}
    out = json.loads(memos.run("--json", "logout", check=True).stdout)
    assert out == {"index_url": memos.index_url, "logged_out": True}
    # Under --json nothing but the document reaches stdout, and no notes reach stderr.
    assert memos.run("--json", "cache", "clean").stderr == ""
    bundle = make_bundle(work, f"{ns}/other", "1.0.0", None)
    assert json.loads(memos.run("--json", "inspect", str(bundle), check=True).stdout)["digest"]
