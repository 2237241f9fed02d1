"""Trust end to end against real registry processes: files narrow pins, lockfiles carry keys.

A home pinned namespace ``NS`` to key K on first use. A lockfile naming another registry (a
hostile one, behind a recording proxy) and ``[trust] NS = [A]`` must not get A accepted, and the
hostile host must not receive the user's token (docs/install.md, "Trust").
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from mip.keys import SigningKey
from tests.install.conftest import Memos, Publisher, Registry, make_bundle, publish, start_registry
from tests.install.test_hostile_index import HostileIndex


def _hostile_registry(tmp_path: Path, namespace: str) -> tuple[Registry, SigningKey]:
    """A second, real registry where the attacker owns ``namespace`` and signs with key A."""
    (tmp_path / "hostile-registry").mkdir()
    hostile = start_registry(tmp_path / "hostile-registry")
    attacker = SigningKey.generate()
    bundle = make_bundle(tmp_path / "attacker", f"{namespace}/lib", "9.0.0", attacker)
    publish(hostile, hostile.token(namespace), bundle, attacker)
    return hostile, attacker


def test_a_lockfile_cannot_replace_a_namespace_pin(
    memos: Memos, publisher: Publisher, tmp_path: Path
) -> None:
    ns = publisher.namespace
    publisher.publish("lib", "1.0.0")
    memos.run("install", f"{ns}/lib", check=True)  # pins NS to the publisher's key K
    (tmp_path / "attacker").mkdir()
    hostile, attacker = _hostile_registry(tmp_path, ns)
    try:
        with HostileIndex(hostile.url) as proxy:
            # The attacker locks against their own registry: the lockfile trusts key A.
            lockfile = tmp_path / "memos.lock"
            mallory = Memos(tmp_path / "mallory", tmp_path / "mallory-cache", proxy.url)
            mallory.run("lock", f"{ns}/lib", "-o", str(lockfile), check=True)
            document = tomllib.loads(lockfile.read_text())
            assert document["index-url"] == proxy.url
            assert list(document["trust"][ns]) == [attacker.public_key.key_id]
            proxy.requests.clear()
            # The victim, holding a token for the real registry, syncs it.
            memos.run("login", "--token", publisher.token, check=True)
            refused = memos.run("sync", str(lockfile), in_process=False)
        assert refused.returncode == 3, refused.stderr
        assert refused.stderr.count("\n") == 1, refused.stderr
        assert "can only narrow your pins, never replace them" in refused.stderr
        assert attacker.public_key.key_id[:16] in refused.stderr
        assert publisher.key.public_key.key_id[:16] in refused.stderr
        assert memos.installed()[f"{ns}/lib"]["version"] == "1.0.0"
        assert proxy.requests, "sync never reached the hostile index"
        assert [path for _, path, h in proxy.requests if "authorization" in h] == []
        assert publisher.token not in json.dumps(proxy.requests)
    finally:
        hostile.process.terminate()
        hostile.process.wait(timeout=10)


def test_a_lockfile_narrows_a_pin(memos: Memos, publisher: Publisher, tmp_path: Path) -> None:
    ns = publisher.namespace
    publisher.publish("lib", "1.0.0")
    lockfile = tmp_path / "memos.lock"
    memos.run("lock", f"{ns}/lib", "-o", str(lockfile), check=True)
    # The home also trusts a second key for NS; the lockfile still names only K: accepted.
    other = SigningKey.generate()
    key_file = tmp_path / "other.pub"
    key_file.write_bytes(other.public_key.to_pem())
    mine = tmp_path / "mine.pub"
    mine.write_bytes(publisher.key.public_key.to_pem())
    memos.run("trust", "add", str(mine), "--namespace", ns, check=True)
    memos.run("trust", "add", str(key_file), "--namespace", ns, check=True)
    memos.run("sync", str(lockfile), check=True)
    assert memos.installed()[f"{ns}/lib"]["version"] == "1.0.0"


def test_a_fresh_machine_syncs_a_lockfile_offline_from_a_warm_cache(
    memos: Memos, publisher: Publisher, tmp_path: Path
) -> None:
    ns = publisher.namespace
    publisher.publish("lib", "1.0.0")
    publisher.publish("app", "1.0.0", dependencies={f"{ns}/lib": ">=1"})
    lockfile = tmp_path / "memos.lock"
    memos.run("lock", f"{ns}/app", "-o", str(lockfile), check=True)
    trust = tomllib.loads(lockfile.read_text())["trust"]
    key = publisher.key.public_key
    assert trust == {ns: {key.key_id: key.to_pem().decode()}}
    memos.run("sync", str(lockfile), check=True)  # warms the cache
    # A fresh machine: no pins, no registry (its URL points nowhere), the cache restored.
    fresh = Memos(tmp_path / "fresh", memos.cache, "http://127.0.0.1:9")
    result = fresh.run("sync", "--offline", str(lockfile))
    assert result.returncode == 0, result.stderr
    assert set(fresh.installed()) == {f"{ns}/app", f"{ns}/lib"}
    pins = json.loads((fresh.home / "trust" / "pins.json").read_text())["namespaces"]
    assert pins[ns]["keys"] == {key.key_id: key.to_pem().decode()}
    assert pins[ns]["source"] == "lockfile"


def test_an_old_lockfile_naming_only_key_ids_says_what_is_missing_offline(
    memos: Memos, publisher: Publisher, tmp_path: Path
) -> None:
    ns = publisher.namespace
    publisher.publish("lib", "1.0.0")
    lockfile = tmp_path / "memos.lock"
    memos.run("lock", f"{ns}/lib", "-o", str(lockfile), check=True)
    memos.run("sync", str(lockfile), check=True)
    key_id = publisher.key.public_key.key_id
    text = lockfile.read_text()
    head, _, tail = text.partition(f"[trust.{ns}]")
    old = head + f'[trust]\n{ns} = ["{key_id}"]\n' + tail[tail.index("\n[[cube]]") :]
    lockfile.write_text(old)
    fresh = Memos(tmp_path / "fresh", memos.cache, "http://127.0.0.1:9")
    result = fresh.run("sync", "--offline", str(lockfile))
    assert result.returncode == 3, result.stderr
    assert f"trusts key(s) {key_id[:16]} for namespace {ns!r} by id only" in result.stderr
    assert "pinned to" not in result.stderr  # never "signed by X, but pinned to X"
    assert fresh.installed() == {}


def test_a_lockfile_key_that_does_not_match_its_id_is_refused(
    memos: Memos, publisher: Publisher, tmp_path: Path
) -> None:
    ns = publisher.namespace
    publisher.publish("lib", "1.0.0")
    lockfile = tmp_path / "memos.lock"
    memos.run("lock", f"{ns}/lib", "-o", str(lockfile), check=True)
    other = SigningKey.generate().public_key.to_pem().decode()
    document = tomllib.loads(lockfile.read_text())
    key_id = publisher.key.public_key.key_id
    text = lockfile.read_text().replace(
        json.dumps(document["trust"][ns][key_id]), json.dumps(other)
    )
    lockfile.write_text(text)
    result = memos.run("sync", str(lockfile))
    assert result.returncode == 2, result.stderr
    assert f"trust.{ns}: the key recorded as {key_id[:16]} has id" in result.stderr
