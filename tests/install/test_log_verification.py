"""The client's transparency log checks (spec/MIP-1-registry.md §12.6) against a real registry,
seen directly or through a proxy that lies in exactly one way per test.

Every refusal has its own code, says what was seen, and installs nothing.
"""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import pytest

from mip.keys import SigningKey
from mip.transparency.checkpoint import Checkpoint, sign_checkpoint
from mip.transparency.entries import decode_entry, encode_entry
from mip.transparency.merkle import leaf_hash, root_of
from mip.transparency.prover import frontier_indexes, hashes_to_store, stored_hash_index
from tests.install.conftest import Memos, Publisher, Registry, start_registry
from tests.support import LoopbackHTTPServer

#: ``tamper(path, status, body)`` -> ``(status, body)`` the proxy sends instead.
Tamper = Callable[[str, int, bytes], tuple[int, bytes]]


class LyingRegistry(LoopbackHTTPServer):
    """Forwards reads to ``upstream``; :attr:`tamper` may rewrite any answer."""

    def __init__(self, upstream: str) -> None:
        self.tamper: Tamper | None = None
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                answer = httpx.get(upstream + self.path, timeout=30)
                status, body = answer.status_code, answer.content
                if outer.tamper is not None:
                    status, body = outer.tamper(self.path, status, body)
                self.send_response(status)
                self.send_header("content-type", answer.headers.get("content-type", "text/plain"))
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        super().__init__(Handler)


def _log_json(change: Callable[[dict[str, Any]], None]) -> Tamper:
    """A tamper that edits the JSON of ``GET /v1/log``."""

    def tamper(path: str, status: int, body: bytes) -> tuple[int, bytes]:
        if path != "/v1/log":
            return status, body
        document = json.loads(body)
        change(document)
        return status, json.dumps(document).encode()

    return tamper


def _inclusion(change: Callable[[list[str]], list[str]]) -> Tamper:
    """A tamper that edits the proof of every inclusion answer."""

    def tamper(path: str, status: int, body: bytes) -> tuple[int, bytes]:
        if "/inclusion" not in path or status != 200:
            return status, body
        document = json.loads(body)
        document["proof"] = change(document["proof"])
        return status, json.dumps(document).encode()

    return tamper


def _flip_signature(document: dict[str, Any]) -> None:
    text, _, signature_line = document["checkpoint"].rstrip("\n").rpartition("\n")
    dash, name, value = signature_line.split(" ")
    raw = bytearray(base64.b64decode(value))
    raw[-1] ^= 1
    document["checkpoint"] = f"{text}\n{dash} {name} {base64.b64encode(raw).decode()}\n"


def _flip_first(proof: list[str]) -> list[str]:
    raw = bytearray(base64.b64decode(proof[0]))
    raw[0] ^= 1
    return [base64.b64encode(raw).decode(), *proof[1:]]


@pytest.fixture
def proxy(registry: Registry) -> Any:
    with LyingRegistry(registry.url) as server:
        yield server


@pytest.fixture
def user(tmp_path: Path, proxy: LyingRegistry) -> Memos:
    return Memos(tmp_path / "home", tmp_path / "cache", proxy.url)


def _log_state(user: Memos) -> dict[str, Any]:
    state: dict[str, Any] = json.loads((user.home / "trust" / "log.json").read_text())
    return state["registries"][user.index_url]


def _refused(user: Memos, code: str, *args: str) -> str:
    result = user.run(*args)
    assert result.returncode == 3, result.stderr
    assert result.stderr.startswith("error: "), result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.rstrip().endswith(f"nothing was installed ({code})"), result.stderr
    return result.stderr


def test_an_install_pins_the_log_key_and_remembers_the_checkpoint_and_proof(
    user: Memos, publisher: Publisher, registry: Registry
) -> None:
    ns = publisher.namespace
    digest = publisher.publish("c", "1.0.0")
    user.run("install", f"{ns}/c", check=True)
    state = _log_state(user)
    info = httpx.get(registry.url + "/v1/log").json()
    assert state["verifier_key"] == info["verifier_key"]
    assert state["checkpoint"].startswith(info["origin"] + "\n")
    assert state["proofs"][digest].startswith("c2sp.org/tlog-proof@v1\nextra ")
    # The next install checks consistency from that checkpoint and moves it forward.
    publisher.publish("c", "1.1.0")
    user.run("install", "--upgrade", f"{ns}/c", check=True)
    size = int(_log_state(user)["checkpoint"].split("\n")[1])
    assert size > int(state["checkpoint"].split("\n")[1])


@pytest.mark.parametrize(
    ("tamper", "code", "seen"),
    [
        (_log_json(_flip_signature), "log_bad_signature", "forged signature"),
        (_inclusion(lambda p: [*p, p[0]]), "log_proof_length", "RFC 9162 gives it exactly"),
        (_inclusion(_flip_first), "log_root_mismatch", "leads to root"),
        (
            lambda path, status, body: (
                (404, b'{"detail":"Not Found"}')
                if path.startswith("/v1/log/cubes/")
                else (status, body)
            ),
            "log_entry_missing",
            "never logged",
        ),
    ],
    ids=["bad-signature", "proof-length", "root-mismatch", "entry-missing"],
)
def test_each_lie_of_a_first_install_is_refused_with_its_code(
    user: Memos, publisher: Publisher, proxy: LyingRegistry, tamper: Tamper, code: str, seen: str
) -> None:
    ns = publisher.namespace
    publisher.publish("seed", "1.0.0")  # at least two entries: every proof has a hash
    publisher.publish("c", "1.0.0")
    proxy.tamper = tamper
    assert seen in _refused(user, code, "install", f"{ns}/c")
    assert user.installed() == {}
    assert not (user.home / "trust" / "log.json").exists()


def test_a_registry_without_a_log_needs_allow_unlogged(
    user: Memos, publisher: Publisher, proxy: LyingRegistry
) -> None:
    ns = publisher.namespace
    publisher.publish("c", "1.0.0")
    proxy.tamper = lambda path, status, body: (
        (404, b'{"detail":"Not Found"}') if path.startswith("/v1/log") else (status, body)
    )
    stderr = _refused(user, "log_unavailable", "install", f"{ns}/c").replace(
        "nothing was installed (log_unavailable)", ""
    )
    assert "has no transparency log" in stderr
    assert user.installed() == {}
    result = user.run("install", "--allow-unlogged", f"{ns}/c")
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith(f"warning: the registry at {proxy.url} has no transparency")
    assert f"{ns}/c" in user.installed()


@pytest.fixture
def a_installed(user: Memos, publisher: Publisher) -> str:
    """The namespace, where ``a`` and ``c`` are published and the user installed ``a`` (pinning
    the log key and seeing a checkpoint)."""
    ns = publisher.namespace
    publisher.publish_each("a", "c")
    user.run("install", f"{ns}/a", check=True)
    return ns


def _refused_after_a(user: Memos, proxy: LyingRegistry, tamper: Tamper, code: str, ns: str) -> str:
    """Through ``tamper``, installing NS/c is refused with ``code`` and NS/a stays the only cube
    installed; the refusal."""
    proxy.tamper = tamper
    stderr = _refused(user, code, "install", f"{ns}/c")
    assert set(user.installed()) == {f"{ns}/a"}
    return stderr


def test_a_changed_log_key_is_refused(user: Memos, proxy: LyingRegistry, a_installed: str) -> None:
    impostor = SigningKey.generate()

    def other_key(document: dict[str, Any]) -> None:
        from mip.transparency.note import NoteVerifier

        origin = document["origin"]
        size = document["tree_size"]
        root = base64.b64decode(document["root_hash"])
        document["verifier_key"] = NoteVerifier.for_key(origin, impostor.public_key).verifier_key()
        document["checkpoint"] = sign_checkpoint(Checkpoint(origin, size, root), impostor).decode()

    tamper = _log_json(other_key)
    stderr = _refused_after_a(user, proxy, tamper, "log_key_changed", a_installed)
    assert "this home pinned" in stderr


def test_a_tree_smaller_than_one_seen_is_refused(
    user: Memos, proxy: LyingRegistry, registry: Registry, a_installed: str
) -> None:
    seen = int(_log_state(user)["checkpoint"].split("\n")[1])
    # The registry's own signature on its tree of one entry fewer (a rewind to an old backup).
    older = httpx.get(
        registry.url + "/v1/log/consistency", params={"first": 1, "second": seen - 1}
    ).json()["checkpoint"]
    tamper = _log_json(lambda document: document.update(checkpoint=older))
    stderr = _refused_after_a(user, proxy, tamper, "log_tree_shrank", a_installed)
    assert f"this home has already seen {seen}" in stderr


@pytest.mark.parametrize("what", ["tile/0/", "tile/entries/"])
def test_a_lying_tile_or_entry_bundle_is_refused(
    user: Memos, publisher: Publisher, proxy: LyingRegistry, what: str
) -> None:
    ns = publisher.namespace
    publisher.publish("a", "1.0.0")
    user.run("install", f"{ns}/a", check=True)
    publisher.publish("c", "1.0.0")  # entries this home has not read yet

    def lie(path: str, status: int, body: bytes) -> tuple[int, bytes]:
        if what in path and status == 200 and body:
            changed = bytearray(body)
            changed[-1] ^= 1
            return status, bytes(changed)
        return status, body

    assert "lie" in _refused_after_a(user, proxy, lie, "log_tile_mismatch", ns)


def test_a_hidden_yank_that_was_logged_is_refused(
    user: Memos, publisher: Publisher, proxy: LyingRegistry, registry: Registry
) -> None:
    ns = publisher.namespace
    publisher.publish_versions("c", "1.0.0", "1.1.0")
    user.run("install", f"{ns}/c==1.0.0", check=True)
    with httpx.Client(
        base_url=registry.url, headers={"authorization": f"Bearer {publisher.token}"}
    ) as owner:
        answer = owner.post(
            f"/v1/cubes/{ns}/c/versions/1.1.0/yank", json={"reason": "poisoned memories"}
        )
        assert answer.status_code == 200, answer.text

    def hide(path: str, status: int, body: bytes) -> tuple[int, bytes]:
        if path == f"/v1/cubes/{ns}/c":
            document = json.loads(body)
            for version in document["versions"]:
                version["yanked"], version["yank_reason"] = False, None
            return status, json.dumps(document).encode()
        if "/inclusion?event=yank" in path:
            return 404, b'{"error": {"code": "log_entry_not_found", "message": "none"}}'
        return status, body

    proxy.tamper = hide
    stderr = _refused(user, "log_yank_omitted", "install", "--upgrade", f"{ns}/c>=1")
    assert f"{ns}/c 1.1.0: the log records its yank" in stderr
    assert user.installed()[f"{ns}/c"]["version"] == "1.0.0"
    # Honestly served, the yanked version is skipped; pinned exactly, it installs (PEP 592).
    proxy.tamper = None
    user.run("install", "--upgrade", f"{ns}/c>=1", check=True)
    assert user.installed()[f"{ns}/c"]["version"] == "1.0.0"
    user.run("install", f"{ns}/c==1.1.0", check=True)
    assert user.installed()[f"{ns}/c"]["version"] == "1.1.0"


def _copy_pins(source: Memos, target: Memos) -> None:
    (target.home / "trust").mkdir(parents=True)
    pins = (source.home / "trust" / "pins.json").read_bytes()
    (target.home / "trust" / "pins.json").write_bytes(pins)


def test_lock_records_the_proofs_and_an_offline_sync_verifies_them(
    user: Memos, publisher: Publisher, tmp_path: Path
) -> None:
    ns = publisher.namespace
    digest = publisher.publish("c", "1.0.0")
    lockfile = tmp_path / "memos.lock"
    user.run("lock", f"{ns}/c", "-o", str(lockfile), check=True)
    text = lockfile.read_text()
    assert "\n[log]\nverifier-key = " in text
    assert f'"{digest}" = """' in text
    user.run("sync", str(lockfile), check=True)  # online: fills the cache
    # Locked offline, the proofs come from this home's state.
    offline_lock = tmp_path / "offline.lock"
    user.run("lock", "--offline", f"{ns}/c", "-o", str(offline_lock), check=True)
    assert f'"{digest}" = """' in offline_lock.read_text()
    # Another home, offline, with the lockfile, the cache and the namespace pin (signer keys
    # are the trust store's business) but no log state: the lockfile's proofs verify against
    # the lockfile's log key.
    other = Memos(tmp_path / "other", user.cache, user.index_url)
    _copy_pins(user, other)
    result = other.run("sync", "--offline", str(lockfile))
    assert result.returncode == 0, result.stderr
    assert f"{ns}/c" in other.installed()
    # A lockfile whose proof was altered is refused offline, and nothing is installed.
    third = Memos(tmp_path / "third", user.cache, user.index_url)
    _copy_pins(user, third)
    proof_start = text.index("index ", text.index(f'"{digest}"'))
    line_start = text.index("\n", proof_start) + 1
    hash_line = text[line_start : text.index("\n", line_start)]
    if len(hash_line) == 44:  # the proof has a hash: change it
        raw = bytearray(base64.b64decode(hash_line))
        raw[0] ^= 1
        altered = text.replace(hash_line, base64.b64encode(raw).decode(), 1)
        code = "log_root_mismatch"
    else:  # a tree of one entry: claim another index instead
        altered = text.replace("index 0\n", "index 1\n", 1)
        code = "invalid_proof"
    lockfile.write_text(altered)
    _refused(third, code, "sync", "--offline", str(lockfile))
    assert third.installed() == {}


def test_an_offline_install_needs_a_stored_proof(user: Memos, publisher: Publisher) -> None:
    ns = publisher.namespace
    digest = publisher.publish("c", "1.0.0")
    user.run("install", f"{ns}/c", check=True)
    user.run("uninstall", f"{ns}/c", check=True)
    assert user.run("install", "--offline", f"{ns}/c").returncode == 0  # the stored proof
    user.run("uninstall", f"{ns}/c", check=True)
    state_file = user.home / "trust" / "log.json"
    state = json.loads(state_file.read_text())
    del state["registries"][user.index_url]["proofs"][digest]
    state_file.write_text(json.dumps(state))
    stderr = _refused(user, "log_proof_missing", "install", "--offline", f"{ns}/c")
    assert f"no stored log proof for manifest {digest}" in stderr
    assert user.installed() == {}
    allowed = user.run("install", "--offline", "--allow-unlogged", f"{ns}/c")
    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stderr.startswith(f"warning: {ns}/c 1.0.0: no stored log proof")


# -- a registry whose database is altered to fork ---------------------------------------------


def _rewrite_history(database: Path) -> None:
    """Change the time of the log's first entry and rebuild every stored hash and the head:
    the same number of entries, another history (what an operator rewriting the log does)."""
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT idx, entry FROM log_entry ORDER BY idx").fetchall()
        entries = [bytes(entry) for _, entry in rows]
        first = decode_entry(entries[0])
        import msgspec

        changed = msgspec.structs.replace(first, time=first.time.replace(year=first.time.year - 1))
        entries[0] = encode_entry(changed)
        hashes: dict[int, bytes] = {}

        class Reader:
            def read_hashes(self, indexes: list[int]) -> list[bytes]:
                return [hashes[index] for index in indexes]

        for n, entry in enumerate(entries):
            for offset, value in enumerate(hashes_to_store(n, leaf_hash(entry), Reader())):
                hashes[stored_hash_index(0, n) + offset] = value
        size = len(entries)
        frontier = b"".join(hashes[index] for index in frontier_indexes(size))
        connection.execute("UPDATE log_entry SET entry = ? WHERE idx = 0", (entries[0],))
        connection.executemany(
            "UPDATE log_hash SET hash = ? WHERE idx = ?", [(v, k) for k, v in hashes.items()]
        )
        connection.execute(
            "UPDATE log_head SET root_hash = ?, frontier = ?", (root_of(entries), frontier)
        )


def test_a_registry_that_rewrites_its_history_is_refused(tmp_path: Path) -> None:
    (tmp_path / "registry").mkdir()
    server = start_registry(tmp_path / "registry")
    try:
        publisher = Publisher(
            server, "forked", server.token("forked"), SigningKey.generate(), tmp_path
        )
        publisher.publish("c", "1.0.0")
        user = Memos(tmp_path / "home", tmp_path / "cache", server.url)
        user.run("install", "forked/c", check=True)
        lockfile = tmp_path / "memos.lock"
        user.run("lock", "forked/c", "-o", str(lockfile), check=True)
        _rewrite_history(server.data_dir / "registry.db")
        publisher.publish("c", "1.1.0")  # the log grows on the rewritten history
        stderr = _refused(user, "log_fork", "install", "--upgrade", "forked/c")
        assert "does not extend the tree of" in stderr
        assert "a fork or a rewrite" in stderr
        assert user.installed()["forked/c"]["version"] == "1.0.0"
        # A home that never saw the old history, syncing a lockfile made before the rewrite:
        # the lockfile's checkpoint is the witness.
        other = Memos(tmp_path / "other", tmp_path / "cache", server.url)
        stderr = _refused(other, "log_fork", "sync", str(lockfile))
        assert "the lockfile was made at" in stderr
        assert other.installed() == {}
        # A user who never saw the old history accepts the new one: only witnesses of the
        # old head can tell (the point of a client keeping its checkpoint).
        fresh = Memos(tmp_path / "fresh", tmp_path / "cache2", server.url)
        fresh.run("install", "forked/c", check=True)
    finally:
        server.process.terminate()
        server.process.wait(timeout=10)
