"""Trust end to end against real registry processes: files narrow pins, lockfiles carry keys.

A home pinned namespace ``NS`` to key K on first use. A lockfile naming another registry (a
hostile one, behind a recording proxy) and ``[trust] NS = [A]`` must not get A accepted, and the
hostile host must not receive the user's token (docs/install.md, "Trust").
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

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


@pytest.fixture
def lockfile(memos: Memos, publisher: Publisher, tmp_path: Path) -> Path:
    """``memos lock NS/lib`` (``lib`` 1.0.0, signed by the publisher's key) as
    ``tmp_path/memos.lock``."""
    publisher.publish("lib", "1.0.0")
    path = tmp_path / "memos.lock"
    memos.run("lock", f"{publisher.namespace}/lib", "-o", str(path), check=True)
    return path


def test_a_lockfile_narrows_a_pin(
    memos: Memos, publisher: Publisher, tmp_path: Path, lockfile: Path
) -> None:
    ns = publisher.namespace
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
    memos: Memos, publisher: Publisher, tmp_path: Path, lockfile: Path
) -> None:
    ns = publisher.namespace
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
    memos: Memos, publisher: Publisher, lockfile: Path
) -> None:
    ns = publisher.namespace
    other = SigningKey.generate().public_key.to_pem().decode()
    key_id = publisher.key.public_key.key_id
    mine = publisher.key.public_key.to_pem().decode()
    body, other_body = mine.splitlines()[1], other.splitlines()[1]  # the base64 line
    text = lockfile.read_text()
    assert text.count(body) == 1
    lockfile.write_text(text.replace(body, other_body))
    result = memos.run("sync", str(lockfile))
    assert result.returncode == 2, result.stderr
    assert f"trust.{ns}: the key recorded as {key_id[:16]} has id" in result.stderr


def _publisher_home(memos_dir: Path, registry: Registry, publisher: Publisher) -> Memos:
    """The publisher's own `memos` home: logged in, holding its first key as ``k1``."""
    home = Memos(memos_dir / "publisher-home", memos_dir / "publisher-cache", registry.url)
    (home.home / "keys").mkdir(parents=True)
    (home.home / "keys" / "k1.key").write_bytes(publisher.key.to_pem())
    home.run("login", "--token", publisher.token, check=True)
    return home


def _rotate(tmp_path: Path, registry: Registry, publisher: Publisher) -> tuple[Memos, SigningKey]:
    """Register key ``k2`` for the namespace, endorsed by ``k1``; return the publisher's home."""
    from memos_client.trust.keystore import load_signing_key

    author = _publisher_home(tmp_path, registry, publisher)
    author.run("keygen", "--name", "k2", check=True)
    result = author.run("key", "register", publisher.namespace, "--key", "k2", check=True)
    k2 = load_signing_key("k2", author.home)
    k1 = publisher.key.public_key.key_id
    assert result.stdout == (
        f"registered key {k2.public_key.key_id[:16]} for namespace {publisher.namespace!r} "
        f"(endorsed by {k1[:16]})\n"
    )
    return author, k2


def test_a_rotation_is_followed_by_an_existing_home_and_a_fresh_one(
    memos: Memos, publisher: Publisher, registry: Registry, tmp_path: Path
) -> None:
    ns = publisher.namespace
    k1 = publisher.key.public_key.key_id
    publisher.publish("dep", "1.0.0")
    memos.run("install", f"{ns}/dep", check=True)  # the existing home pins {k1}
    author, k2 = _rotate(tmp_path, registry, publisher)
    second = Publisher(registry, ns, publisher.token, k2, tmp_path)
    second.publish("small", "1.0.0")
    # The existing home follows the endorsed rotation and says so.
    result = memos.run("install", f"{ns}/small")
    assert result.returncode == 0, result.stderr
    assert (
        f"namespace {ns!r} rotated keys: now trusting {k2.public_key.key_id[:16]}, endorsed by "
        f"{k1[:16]} (a key you already trusted)" in result.stderr
    )
    pins = json.loads((memos.home / "trust" / "pins.json").read_text())["namespaces"]
    assert sorted(pins[ns]["keys"]) == sorted([k1, k2.public_key.key_id])
    # Fresh homes: both cubes, in either order, in one command (the key SET is pinned).
    for order in ((f"{ns}/dep", f"{ns}/small"), (f"{ns}/small", f"{ns}/dep")):
        fresh = Memos(tmp_path / f"fresh-{order[0][-3:]}", tmp_path / "fresh-cache", registry.url)
        result = fresh.run("install", *order)
        assert result.returncode == 0, result.stderr
        assert set(fresh.installed()) == {f"{ns}/dep", f"{ns}/small"}
    # The list shows the set; an unendorsed key reaches fresh homes only.
    listed = json.loads(author.run("key", "list", ns, "--json", check=True).stdout)
    assert [(k["key_id"], k["endorsed"]) for k in listed["keys"]] == [
        (k1, False),
        (k2.public_key.key_id, True),
    ]
    k3 = SigningKey.generate()
    (author.home / "keys" / "k3.key").write_bytes(k3.to_pem())
    refused = author.run("key", "register", ns, "--key", "k3", "--endorse-with", "k3")
    assert refused.returncode == 2, refused.stderr
    assert "none of yours is among them" in refused.stderr
    author.run("key", "register", ns, "--key", "k3", "--unendorsed", check=True)
    Publisher(registry, ns, publisher.token, k3, tmp_path).publish("third", "1.0.0")
    result = memos.run("install", f"{ns}/third")
    assert result.returncode == 3, result.stderr
    assert "SIGNING KEY CHANGED" in result.stderr
    fresh = Memos(tmp_path / "fresh-third", tmp_path / "fresh-cache", registry.url)
    fresh.run("install", f"{ns}/third", check=True)


def test_a_revoked_key_s_versions_are_refused_everywhere(
    memos: Memos, publisher: Publisher, registry: Registry, tmp_path: Path
) -> None:
    ns = publisher.namespace
    k1 = publisher.key.public_key.key_id
    publisher.publish("dep", "1.0.0")
    publisher.publish("old", "1.0.0")  # signed by k1 only
    publisher.publish("app", "1.0.0", dependencies={f"{ns}/dep": "<2"})
    memos.run("install", f"{ns}/app", check=True)  # app and dep, both signed by k1
    author, k2 = _rotate(tmp_path, registry, publisher)
    result = author.run("key", "revoke", ns, k1[:12], "--reason", "laptop stolen", check=True)
    assert f"revoked key {k1[:16]} of namespace {ns!r}" in result.stdout
    # The registry refuses the revoked key for publishing.
    bundle = make_bundle(tmp_path, f"{ns}/late", "1.0.0", publisher.key)
    refused_publish = author.run("publish", str(bundle))
    assert refused_publish.returncode != 0
    assert "was revoked" in refused_publish.stderr
    # The existing home: told, and refuses what only k1 signed.
    refused = memos.run("install", f"{ns}/old")
    assert refused.returncode == 3, refused.stderr
    assert f"key {k1[:16]} was revoked by its publisher on" in refused.stderr
    assert "(reason: laptop stolen)" in refused.stderr
    assert f"{ns}/old 1.0.0 is signed only by key {k1[:16]}, which the publisher" in refused.stderr
    # A version k2 signs installs -- installed cubes it does not need (dep, app: k1) are not
    # verified again --; the pin (saved with a successful install) forgets k1.
    Publisher(registry, ns, publisher.token, k2, tmp_path).publish("new", "1.0.0")
    memos.run("install", f"{ns}/new", check=True)
    pins = json.loads((memos.home / "trust" / "pins.json").read_text())["namespaces"]
    assert list(pins[ns]["keys"]) == [k2.public_key.key_id]
    assert pins[ns]["revoked"][k1][1] == "laptop stolen"
    # A fresh home: the same refusal, and a version k2 signs still installs.
    fresh = Memos(tmp_path / "fresh", tmp_path / "fresh-cache", registry.url)
    refused = fresh.run("install", f"{ns}/old")
    assert refused.returncode == 3, refused.stderr
    assert "signed only by key" in refused.stderr
    fresh.run("install", f"{ns}/new", check=True)
    listed = author.run("key", "list", ns, check=True).stdout
    assert f"{k1}  added " in listed
    assert "revoked " in listed
    assert "(laptop stolen)" in listed


def test_the_registry_refuses_bad_endorsements_and_revocations(
    publisher: Publisher, registry: Registry
) -> None:
    import httpx

    from mip.key_statements import sign_endorsement

    ns = publisher.namespace
    publisher.publish("lib", "1.0.0")
    keys_url = f"{registry.url}/v1/namespaces/{ns}/keys"
    auth = {"authorization": f"Bearer {publisher.token}"}
    new, stranger = SigningKey.generate(), SigningKey.generate()
    pem = new.public_key.to_pem().decode()

    def endorsed(key: SigningKey, by: SigningKey) -> str:
        envelope = sign_endorsement(ns, key.public_key, [by], "2026-12-07T00:00:00+00:00")
        return envelope.to_json().decode()

    cases = [
        (endorsed(stranger, publisher.key), 400, "invalid_envelope"),  # endorses another key
        (endorsed(new, stranger), 400, "bad_signature"),  # signed by no key of the namespace
        ("{not json", 400, "invalid_envelope"),
    ]
    for endorsement, status, code in cases:
        answer = httpx.post(
            keys_url, json={"public_key_pem": pem, "endorsement": endorsement}, headers=auth
        )
        assert (answer.status_code, answer.json()["error"]["code"]) == (status, code), answer.text
    assert [k["key_id"] for k in httpx.get(keys_url).json()["keys"]] == [
        publisher.key.public_key.key_id
    ]
    k1 = publisher.key.public_key.key_id
    revoke = f"{keys_url}/{k1}/revoke"
    assert httpx.post(revoke, json={"reason": "x"}).status_code == 401
    missing = httpx.post(f"{keys_url}/{'0' * 64}/revoke", json={"reason": "x"}, headers=auth)
    assert missing.status_code == 404, missing.text
    empty = httpx.post(revoke, json={"reason": ""}, headers=auth)
    assert empty.status_code == 400, empty.text
    first = httpx.post(revoke, json={"reason": "stolen"}, headers=auth).json()
    again = httpx.post(revoke, json={"reason": "other"}, headers=auth).json()
    assert first["revocation_reason"] == again["revocation_reason"] == "stolen"
    back = httpx.post(
        keys_url, json={"public_key_pem": publisher.key.public_key.to_pem().decode()}, headers=auth
    )
    assert back.status_code == 409, back.text
    assert "was revoked" in back.json()["error"]["message"]
