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
