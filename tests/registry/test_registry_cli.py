"""`memos login / publish / show / search / yank` end to end against the real registry."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from tests.registry.conftest import REPO, Registry
from tests.registry.cube_helpers import unique
from tests.support import free_port, run_memos


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_publish_show_search_yank(registry: Registry, tmp_path: Path) -> None:
    home = tmp_path / "home"
    namespace = unique("cli")
    name = f"{namespace}/handbook"
    token = registry.create_token(namespace)
    _ok(run_memos(home, "keygen"))
    source = tmp_path / "source"
    _ok(run_memos(home, "init", str(source), "--name", name))
    (source / "memories" / "notes.jsonl").write_text(
        '{"text": "Ship on Fridays only with a rollback plan.", "tags": ["ops"]}\n'
        '{"text": "Every deploy has an owner.", "tags": ["ops"]}\n'
    )
    bundle = tmp_path / "handbook.memcube"
    _ok(run_memos(home, "pack", str(source), "-o", str(bundle)))

    # Not logged in: a clear error and the usage exit code.
    anonymous = run_memos(home, "publish", str(bundle))
    assert anonymous.returncode == 2
    assert anonymous.stderr.startswith("error: no registry configured")

    # A wrong token is refused by login, which then stores nothing.
    refused = run_memos(home, "login", "--index-url", registry.url, "--token", "mst_wrong")
    assert refused.returncode == 6
    assert "error: unknown or revoked token" in refused.stderr
    assert not (home / "registry.json").exists()
    _ok(run_memos(home, "login", "--index-url", registry.url, "--token", token))
    stored = home / "registry.json"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert json.loads(stored.read_text()) == {
        "index_url": registry.url,
        "tokens": {registry.url: token},
    }

    # A bundle whose blob was altered after packing: the registry refuses the upload.
    tampered = tmp_path / "tampered.memcube"
    tampered.write_bytes(bundle.read_bytes().replace(b"Every deploy", b"Every deplox"))
    refused_upload = run_memos(home, "publish", str(tampered))
    assert refused_upload.returncode == 6
    assert refused_upload.stderr.startswith("error: uploaded bytes hash to")

    published = json.loads(_ok(run_memos(home, "publish", str(bundle), "--json")))
    assert published["created"] is True
    assert published["name"] == name
    assert len(published["uploaded"]) == 1
    again = json.loads(_ok(run_memos(home, "publish", str(bundle), "--json")))
    assert again["created"] is False
    assert again["uploaded"] == []  # the registry already has every blob
    assert again["skipped"] == published["uploaded"]

    shown = json.loads(_ok(run_memos(home, "show", name, "--json")))
    assert [v["version"] for v in shown["versions"]] == ["0.1.0"]
    details = json.loads(_ok(run_memos(home, "show", f"{name}@0.1.0", "--json")))
    assert details["manifest_digest"] == published["manifest_digest"]
    assert "0.1.0" in _ok(run_memos(home, "show", name))

    hits = json.loads(_ok(run_memos(home, "search", namespace, "--json")))
    assert [hit["name"] for hit in hits["results"]] == [name]
    assert name in _ok(run_memos(home, "search", namespace))

    no_reason = run_memos(home, "yank", f"{name}@0.1.0")
    assert no_reason.returncode == 2
    assert "--reason" in no_reason.stderr
    assert "yanked (superseded)" in _ok(
        run_memos(home, "yank", f"{name}@0.1.0", "--reason", "superseded")
    )
    assert "YANKED: superseded" in _ok(run_memos(home, "show", name))
    assert "not yanked" in _ok(run_memos(home, "yank", f"{name}@0.1.0", "--undo"))

    missing = run_memos(home, "show", f"{namespace}/nothing")
    assert missing.returncode == 4  # not found, as `memos install` says it (one code per meaning)
    assert missing.stderr == f"error: cube {namespace}/nothing does not exist ({registry.url})\n"
    bad_name = run_memos(home, "show", "no-slash")
    assert bad_name.returncode == 3
    assert "invalid cube name" in bad_name.stderr


def test_environment_and_flags_choose_the_registry(registry: Registry, tmp_path: Path) -> None:
    home = tmp_path / "home"
    down = f"http://127.0.0.1:{free_port()}"
    unreachable = run_memos(home, "search", "anything", env={"MEMOS_INDEX_URL": down})
    assert unreachable.returncode == 7
    assert unreachable.stderr.startswith("error: cannot reach the registry")
    # --index-url wins over the environment.
    result = run_memos(
        home, "search", "anything", "--index-url", registry.url, env={"MEMOS_INDEX_URL": down}
    )
    assert result.returncode == 0, result.stderr


def _admin(registry: Registry, *args: str) -> subprocess.CompletedProcess[str]:
    return registry.admin("create-token", *args)


def test_admin_create_token_bootstraps_a_namespace(registry: Registry) -> None:
    import httpx

    namespace = unique("admin")
    created = _admin(registry, "--namespace", namespace, "--days", "7")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("mst_")
    me = httpx.get(f"{registry.url}/v1/whoami", headers={"authorization": f"Bearer {token}"})
    assert me.json()["namespaces"] == [namespace]
    # `--namespace=VALUE`: argparse takes a separate value that starts with '-' for an option.
    invalid = _admin(registry, "--namespace=-bad-")
    assert invalid.returncode == 1
    assert invalid.stderr.startswith("error: invalid namespace")
    lookalike = namespace.replace("admin", "adrnin", 1)  # 'rn' looks like 'm'
    clash = _admin(registry, "--namespace", lookalike, "--account", unique("acct"))
    assert clash.returncode == 1
    assert "too close to the existing namespace" in clash.stderr
    other_owner = _admin(registry, "--namespace", namespace.upper(), "--account", unique("acct"))
    assert other_owner.returncode == 1
    assert "belongs to another account" in other_owner.stderr


def test_memos_token_create_list_revoke(registry: Registry, tmp_path: Path) -> None:
    home = tmp_path / "home"
    namespace = unique("tokcli")
    admin_token = registry.create_token(namespace)
    env = {"MEMOS_INDEX_URL": registry.url, "MEMOS_TOKEN": admin_token}
    created = run_memos(
        home, "token", "create", "-n", namespace, "--description", "ci bot", "--days", "7", env=env
    )
    secret = _ok(created).strip()
    assert secret.startswith("mst_")
    assert "not shown again" in created.stderr
    listed = json.loads(_ok(run_memos(home, "token", "list", "--json", env=env)))
    assert [t["prefix"] for t in listed] == [secret[:12], admin_token[:12]]
    assert listed[0]["actions"] == ["publish"]
    assert listed[0]["description"] == "ci bot"
    text = _ok(run_memos(home, "token", "list", env=env))
    assert f"{secret[:12]}...  {namespace}  publish" in text
    assert text.splitlines()[1].endswith("bootstrap  (this one)")

    # Revoking needs exactly one target: an id or --current.
    for args in ((), (str(listed[0]["id"]), "--current")):
        usage = run_memos(home, "token", "revoke", *args, env=env)
        assert usage.returncode == 2
        assert usage.stderr.startswith("error: name one token: `memos token revoke ID`")
        assert len(usage.stderr.splitlines()) == 1
    assert _ok(run_memos(home, "token", "revoke", str(listed[0]["id"]), env=env)).strip() == (
        f"revoked token {listed[0]['id']}"
    )
    refused = run_memos(home, "token", "list", env={**env, "MEMOS_TOKEN": secret})
    assert refused.returncode != 0
    assert refused.stderr.startswith("error: ")
    assert "revoked" in refused.stderr
    unknown = run_memos(home, "token", "revoke", "999999999", env=env)
    assert unknown.returncode != 0
    assert unknown.stderr.startswith("error: no token with id 999999999 among yours")
    assert _ok(run_memos(home, "token", "revoke", "--current", env=env)).strip() == (
        "revoked the token in use"
    )
    assert run_memos(home, "token", "list", env=env).returncode != 0


def test_admin_lists_and_revokes_tokens(registry: Registry) -> None:
    import httpx

    account = unique("acct")
    namespace = unique("tokadm")
    token = registry.create_token(namespace, account)
    listed = registry.admin("list-tokens", "--account", account)
    assert listed.returncode == 0, listed.stderr
    (line,) = listed.stdout.splitlines()
    token_id, owner, prefix, scopes, actions, _expires, state, description = line.split("\t")
    assert (owner, prefix, scopes, state, description) == (
        account,
        token[:12] + "...",
        namespace,
        "active",
        "bootstrap",
    )
    assert actions == "publish,yank,keys,tokens"
    revoked = registry.admin("revoke-token", token_id)
    assert revoked.returncode == 0, revoked.stderr
    assert revoked.stdout.strip() == f"revoked token {token_id} ({token[:12]}...)"
    me = httpx.get(f"{registry.url}/v1/whoami", headers={"authorization": f"Bearer {token}"})
    assert me.status_code == 401
    again = registry.admin("list-tokens", "--account", account)
    assert again.stdout.split("\t")[6] == "revoked"
    missing = registry.admin("revoke-token", "999999999")
    assert missing.returncode == 1
    assert missing.stderr == (
        "error: no token with id 999999999: `memos-registry admin list-tokens` shows the ids\n"
    )
    not_a_number = registry.admin("revoke-token", "abc")
    assert not_a_number.returncode == 2
    assert "Traceback" not in not_a_number.stderr


def test_admin_token_commands_need_an_existing_embedded_registry(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("MEMSTORE_")}
    env["PYTHONPATH"] = str(REPO)
    missing = tmp_path / "no-registry-here"
    for command in (["list-tokens"], ["revoke-token", "1"]):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "registry_server",
                "admin",
                *command,
                "--data-dir",
                str(missing),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 1
        assert result.stderr == (
            f"error: no registry data at {missing}: pass the --data-dir the server uses "
            "(or MEMSTORE_DATA_DIR / MEMSTORE_DATABASE_URL)\n"
        )
        assert not missing.exists()


def test_a_failed_login_keeps_the_stored_credentials(registry: Registry, tmp_path: Path) -> None:
    from tests.registry.test_malformed_answers import WRONG_SHAPES, BadRegistry

    home = tmp_path / "home"
    namespace = unique("login")
    token = registry.create_token(namespace)
    _ok(run_memos(home, "login", "--index-url", registry.url, "--token", token))
    stored = home / "registry.json"
    before = stored.read_bytes()
    assert json.loads(before) == {"index_url": registry.url, "tokens": {registry.url: token}}
    failures = []
    for body in (WRONG_SHAPES["nulls"], WRONG_SHAPES["array"], b'{"account": "x"}'):
        with BadRegistry(body) as bad:
            failures.append(run_memos(home, "login", "--index-url", bad.url, "--token", token))
    failures.append(run_memos(home, "login", "--index-url", "ftp://x", "--token", token))
    failures.append(run_memos(home, "login", "--index-url", registry.url, "--token", "mst_wrong"))
    failures.append(run_memos(home, "login", "--index-url", registry.url, "--token", "a\nb"))
    for result in failures:
        assert result.returncode in (2, 6), result.stderr
        assert result.stderr.startswith("error: ")
        assert result.stderr.count("\n") == 1, result.stderr
        assert stored.read_bytes() == before  # byte for byte
    assert not [p for p in home.iterdir() if p.name.startswith(".registry-")]  # no temp files
    # The stored login still works.
    assert _ok(run_memos(home, "search", "anything")) == ""


def test_a_token_with_line_breaks_is_refused_by_every_command(
    registry: Registry, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    bundle = tmp_path / "missing.memcube"
    expected = "is not a registry token"
    for token in ("a\nb", "a\r\nb", "a b", "mst_\x1b[2J"):
        for args, env in (
            (["publish", str(bundle), "--token", token], {}),
            (["publish", str(bundle)], {"MEMOS_TOKEN": token}),
            (["search", "x"], {"MEMOS_TOKEN": token}),
            (["token", "list", "--token", token], {}),
            (["whoami"], {"MEMOS_TOKEN": token}),
        ):
            result = run_memos(home, *args, "--index-url", registry.url, env=env)
            assert result.returncode == 2, (args, result.stderr)
            assert result.stderr.startswith("error: the token from ")
            assert expected in result.stderr
            assert result.stderr.count("\n") == 1, result.stderr
    # A stored token is checked too: registry.json edited by hand.
    home.mkdir(parents=True, exist_ok=True)
    (home / "registry.json").write_text(json.dumps({"index_url": registry.url, "token": "a\nb"}))
    result = run_memos(home, "publish", str(bundle))
    assert result.returncode == 2
    assert "registry.json" in result.stderr
    assert expected in result.stderr


def test_a_malformed_login_file_and_an_empty_search_are_usage_errors(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    for document in ({"index_url": 5}, {"index_url": "http://127.0.0.1:1", "token": ["t"]}):
        (home / "registry.json").write_text(json.dumps(document))
        for args in (["search", "x"], ["install", "acme/kb"]):
            result = run_memos(home, *args)
            assert result.returncode == 2, (args, result.stderr)
            assert result.stderr.startswith(f"error: {home / 'registry.json'}: ")
            assert "run 'memos login' again" in result.stderr
    (home / "registry.json").unlink()
    for words in ([""], ["  ", ""]):
        result = run_memos(home, "search", *words, "--index-url", f"http://127.0.0.1:{free_port()}")
        assert result.returncode == 2, result.stderr
        assert result.stderr == "error: give words to search for: memos search WORD...\n"
