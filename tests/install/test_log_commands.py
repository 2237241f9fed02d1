"""``memos log verify`` and ``memos log watch`` against a real registry process."""

from __future__ import annotations

import json
from pathlib import Path

from memos_client.registry.client import RegistryClient
from mip.keys import SigningKey
from tests.install.conftest import Memos, Publisher, make_bundle, publish


def test_log_verify_rechecks_everything_installed(
    memos: Memos, publisher: Publisher, tmp_path: Path
) -> None:
    ns = publisher.namespace
    publisher.publish_each("a", "b")
    memos.run("install", f"{ns}/a", f"{ns}/b", check=True)
    local = make_bundle(tmp_path, f"{ns}/local", "1.0.0", publisher.key)
    memos.run("install", str(local), check=True)
    result = memos.run("log", "verify")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"ok       {ns}/a 1.0.0: entry ")
    assert lines[1].startswith(f"ok       {ns}/b 1.0.0: entry ")
    assert lines[2] == f"skipped  {ns}/local 1.0.0: installed from a local file"
    offline = json.loads(memos.run("log", "verify", "--offline", "--json", check=True).stdout)
    assert [item["name"] for item in offline if item["index"] is not None] == [
        f"{ns}/a",
        f"{ns}/b",
    ]
    # A stored proof that was altered is caught offline.
    state_file = memos.home / "trust" / "log.json"
    state = json.loads(state_file.read_text())
    proofs = state["registries"][memos.index_url]["proofs"]
    for digest, text in proofs.items():
        proofs[digest] = text.replace("\nindex ", "\nindex 9", 1)
    state_file.write_text(json.dumps(state))
    refused = memos.run("log", "verify", "--offline")
    assert refused.returncode == 3, refused.stderr
    assert refused.stderr.startswith("error: "), refused.stderr
    assert refused.stderr.count("\n") == 1


def test_log_watch_catches_a_version_published_with_a_stolen_token(
    memos: Memos, publisher: Publisher, tmp_path: Path
) -> None:
    ns = publisher.namespace
    publisher.publish("c", "1.0.0")
    owner_key = publisher.key.key_id
    clean = memos.run("log", "watch", ns, "--expect-key", owner_key)
    assert clean.returncode == 0, clean.stderr
    assert f"key-register namespace keys  keys {owner_key[:16]}" in clean.stdout
    assert f"publish      {ns}/c 1.0.0  keys {owner_key[:16]}" in clean.stdout
    # The attacker holds the owner's token, not the owner's key: registers a key of their own
    # and publishes with it. The registry accepts both; the log records both.
    attacker = SigningKey.generate()
    with RegistryClient(publisher.registry.url, publisher.token) as client:
        client.add_key(ns, attacker.public_key.to_pem().decode())
    bundle = make_bundle(tmp_path, f"{ns}/c", "1.0.1", attacker, memories=["poisoned"])
    publish(publisher.registry, publisher.token, bundle, attacker)
    caught = memos.run("log", "watch", ns, "--expect-key", owner_key[:12])
    assert caught.returncode == 3, caught.stderr
    assert f"key-register namespace keys  keys {attacker.key_id[:16]}  UNEXPECTED KEY" in (
        caught.stdout
    )
    assert f"publish      {ns}/c 1.0.1  keys {attacker.key_id[:16]}  UNEXPECTED KEY" in (
        caught.stdout
    )
    assert "2 event(s) of namespace" in caught.stderr
    # A clean watch remembered where it stopped: the next one starts there and still shows
    # the flagged events (a flagged range is not marked as read).
    again = json.loads(memos.run("log", "watch", ns, "--expect-key", owner_key, "--json").stdout)
    assert again["start"] > 0
    assert [e["event"] for e in again["events"]] == ["key-register", "publish"]
    assert all(e["unexpected"] == [attacker.key_id] for e in again["events"])


def test_log_watch_refuses_bad_arguments(memos: Memos, publisher: Publisher) -> None:
    ns = publisher.namespace
    for args, message in [
        (["--expect-key", "xyz"], "is not a key id"),
        (["--since", "-1"], "--since is an entry index"),
        ([], "no key is pinned for namespace"),
        (["--since", str(1 << 40), "--expect-key", "0" * 64], "is past the log's"),
    ]:
        result = memos.run("log", "watch", ns, *args)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr
        assert result.stderr.count("\n") == 1
