"""Damaged local state: cache index entries and trust pins that are JSON of the wrong shape.

A cache entry of the wrong shape counts as absent (and is removed); ``memos cache verify`` finds
and removes it. A ``pins.json`` of the wrong shape is refused with one line naming the file.
"""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

from memos_client.errors import NotFoundError, UsageError
from memos_client.install.cache import Cache, CachedCubeDocument
from memos_client.install.fetch import CachedRegistry
from memos_client.trust.store import (
    NamespacePin,
    add_trusted_key,
    load_pins,
    remove_trusted_key,
    save_pins,
)
from mip.keys import SigningKey
from mip.names import CubeName
from mip.registry_api import CubeDocument
from tests.install.conftest import Memos, Publisher
from tests.registry.test_malformed_answers import GOOD_CUBE, GOOD_VERSION

URL = "http://127.0.0.1:9"  # never asked: these tests stay offline
GOOD_DOCUMENT = GOOD_CUBE
DOCUMENT = msgspec.convert(GOOD_DOCUMENT, CubeDocument)

BAD_ENTRIES = {
    "document-is-a-number": b'{"document": 5}',
    "array": b"[1]",
    "not-json": b"{not json",
    "deep": b"[" * 100_000,
    "etag-is-a-number": json.dumps({"etag": 5, "document": GOOD_DOCUMENT}).encode(),
    "versions-is-an-object": json.dumps({"document": {"name": "acme/kb", "versions": {}}}).encode(),
    "bad-version": json.dumps(
        {
            "etag": None,
            "index_url": URL,
            "document": {**GOOD_CUBE, "versions": [{**GOOD_VERSION, "version": "zzz"}]},
        }
    ).encode(),
}


@pytest.mark.parametrize("entry", sorted(BAD_ENTRIES))
def test_a_malformed_index_entry_counts_as_absent(entry: str, tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    cache.write_index(URL, "acme/kb", DOCUMENT, '"e1"')
    assert cache.read_index(URL, "acme/kb") == CachedCubeDocument('"e1"', URL, DOCUMENT)
    path = cache.index_path(URL, "acme/kb")
    path.write_bytes(BAD_ENTRIES[entry])
    with pytest.raises(NotFoundError, match="not in the cache"):
        CachedRegistry(URL, cache, offline=True).candidates(CubeName("acme/kb"))
    assert not path.exists()  # removed, so the next answer replaces it
    assert cache.read_index(URL, "acme/kb") is None


def test_cache_verify_removes_malformed_index_entries_and_odd_files(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    cache.write_index(URL, "acme/kb", DOCUMENT, None)
    cache.write_index(URL, "acme/other", DOCUMENT, None)
    cache.write_index(URL, "acme/third", DOCUMENT, None)
    bad = cache.index_path(URL, "acme/other")
    bad.write_bytes(b'{"document": 5}')
    unparsable = cache.index_path(URL, "acme/third")
    unparsable.write_bytes(BAD_ENTRIES["bad-version"])
    odd = cache.root / "blobs" / "sha256" / ("cd" * 32)
    odd.mkdir(parents=True)  # a directory where a blob belongs
    report = cache.verify(remove=True)
    assert report.checked == 3  # three index entries (the directory is not an entry)
    index = cache.root / "index"
    assert sorted(report.corrupt) == sorted(
        [
            f"blob {odd.name} (not a file)",
            f"index entry {bad.relative_to(index)}",
            f"index entry {unparsable.relative_to(index)}",
        ]
    )
    assert not bad.exists()
    assert not unparsable.exists()
    assert not odd.exists()
    assert cache.read_index(URL, "acme/kb") is not None
    assert cache.verify().corrupt == []


def test_install_heals_a_malformed_index_entry(memos: Memos, publisher: Publisher) -> None:
    ns = publisher.namespace
    publisher.publish("c", "1.0.0")
    memos.run("install", f"{ns}/c", check=True)
    memos.run("uninstall", f"{ns}/c", check=True)
    (entry,) = (memos.cache / "v1" / "index").glob(f"*/{ns}/c.json")
    entry.write_text('{"document": 5}')
    # Offline, the entry is as good as missing: a clean "not in the cache".
    offline = memos.run("install", "--offline", f"{ns}/c==1.0.0")
    assert offline.returncode == 4, offline.stderr
    assert offline.stderr.count("\n") == 1
    assert "not in the cache" in offline.stderr
    # Online, the registry's answer replaces it.
    entry.write_text('{"document": 5}')
    memos.run("install", f"{ns}/c==1.0.0", check=True)
    assert json.loads(entry.read_text())["document"]["name"] == f"{ns}/c"
    # cache verify reports one written by hand, and removes it.
    entry.write_text("[1]")
    result = memos.run("cache", "verify")
    assert result.returncode == 3
    assert f"index entry {entry.parent.parent.name}/{ns}/c.json" in result.stderr
    assert not entry.exists()


def _pem() -> tuple[str, str]:
    key = SigningKey.generate().public_key
    return key.key_id, key.to_pem().decode()


def _bad_pins() -> dict[str, object]:
    key_id, pem = _pem()
    good = {"keys": {key_id: pem}, "source": "explicit", "pinned_at": "2026-01-01T00:00:00+00:00"}
    return {
        "array": [1],
        "namespaces-is-a-number": {"namespaces": 5},
        "pin-is-a-number": {"namespaces": {"fz": 5}},
        "pin-is-a-list": {"namespaces": {"fz": ["zz"]}},
        "keys-is-a-list": {"namespaces": {"fz": {**good, "keys": ["zz"]}}},
        "no-keys": {"namespaces": {"fz": {**good, "keys": {}}}},
        "pem-is-a-number": {"namespaces": {"fz": {**good, "keys": {key_id: 5}}}},
        "pem-is-garbage": {"namespaces": {"fz": {**good, "keys": {key_id: "garbage"}}}},
        "key-id-differs": {"namespaces": {"fz": {**good, "keys": {"0" * 64: pem}}}},
        "no-date": {"namespaces": {"fz": {"keys": {key_id: pem}}}},
        "source-is-a-number": {"namespaces": {"fz": {**good, "source": 5}}},
    }


@pytest.mark.parametrize("case", sorted(_bad_pins()))
def test_a_malformed_pins_file_is_refused_naming_it(case: str, tmp_path: Path) -> None:
    path = tmp_path / "trust" / "pins.json"
    path.parent.mkdir()
    path.write_text(json.dumps(_bad_pins()[case]))
    with pytest.raises(UsageError) as caught:
        load_pins(tmp_path)
    message = str(caught.value)
    assert message.startswith(str(path))
    assert "fix or remove" in message
    assert "\n" not in message


def test_pins_written_by_save_pins_load_back(tmp_path: Path) -> None:
    key_id, pem = _pem()
    save_pins({"fz": NamespacePin("fz", {key_id: pem}, "first-use")}, tmp_path)
    (pin,) = load_pins(tmp_path).values()
    assert pin.keys == {key_id: pem}
    assert pin.source == "first-use"


def test_commands_refuse_a_malformed_pins_file(memos: Memos, publisher: Publisher) -> None:
    ns = publisher.namespace
    publisher.publish("p", "1.0.0")
    key_file = publisher.workdir / "k.pub"
    key_file.write_bytes(publisher.key.public_key.to_pem())
    pins = memos.home / "trust" / "pins.json"
    pins.parent.mkdir(parents=True, exist_ok=True)
    for document in ("[1]", '{"namespaces": {"fz": ["zz"]}}'):
        pins.write_text(document)
        for args in (
            ["trust", "list"],
            ["trust", "add", str(key_file), "--namespace", ns],
            ["install", f"{ns}/p"],
        ):
            result = memos.run(*args)
            assert result.returncode == 2, (args, result.stderr)
            assert result.stderr.startswith(f"error: {pins}")
            assert result.stderr.count("\n") == 1
            assert pins.read_text() == document  # not rewritten
    assert memos.installed() == {}


def test_a_damaged_cached_envelope_is_downloaded_again(memos: Memos, publisher: Publisher) -> None:
    ns = publisher.namespace
    publisher.publish("e", "1.0.0")
    memos.run("install", f"{ns}/e", check=True)
    memos.run("uninstall", f"{ns}/e", check=True)
    (envelope,) = (memos.cache / "v1" / "envelopes" / "sha256").iterdir()
    good = envelope.read_bytes()
    envelope.write_bytes(b"junk")
    offline = memos.run("install", "--offline", f"{ns}/e")
    assert offline.returncode == 4, offline.stderr
    assert "not in the cache" in offline.stderr
    assert not envelope.exists()
    envelope.write_bytes(b"junk")
    memos.run("install", f"{ns}/e", check=True)  # the registry's copy replaces it
    assert envelope.read_bytes() == good


@pytest.mark.parametrize("kind", ["garbage", "directory"])
def test_an_unreadable_trusted_key_is_refused_naming_it(kind: str, memos: Memos) -> None:
    path = memos.home / "trust" / "broken.pub"
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "directory":
        path.mkdir()
    else:
        path.write_text("-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n")
    result = memos.run("trust", "list")
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"error: {path} is not a readable public key (")
    assert result.stderr.endswith(
        "remove it, or replace it with the key's PEM (memos trust add KEY.pub)\n"
    )
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize("prefix", ["*", "?" * 8, "../victim", "[0-9a-f]*"])
def test_removing_a_trusted_key_matches_names_not_patterns(prefix: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    key = SigningKey.generate().public_key
    kept = add_trusted_key(key, home)
    outside = home / "victim.pub"
    outside.write_text("not a trusted key")
    assert remove_trusted_key(prefix, home) == []
    assert kept.exists()
    assert outside.exists()
    assert remove_trusted_key(key.key_id[:8], home) == [key.key_id]
    assert not kept.exists()


def test_installed_files_are_private_whatever_the_umask(memos: Memos, publisher: Publisher) -> None:
    """Every folder and file an install writes under MEMOS_HOME is 0700/0600 (issue #19)."""
    import os
    import stat

    publisher.publish("private", "1.0.0")
    previous = os.umask(0o022)
    try:
        memos.run("install", f"{publisher.namespace}/private", check=True)
    finally:
        os.umask(previous)
    modes = {
        path: stat.S_IMODE(path.stat().st_mode)
        for path in memos.home.rglob("*")
        if not path.name.endswith((".db-wal", ".db-shm"))
    }
    assert any(path.name == "manifest.json" for path in modes)
    wrong = {
        str(path): oct(mode)
        for path, mode in modes.items()
        if mode != (0o700 if path.is_dir() else 0o600)
    }
    assert wrong == {}
