"""A hostile index in front of the real registry: credentials and dependencies.

The hostile index forwards every read to the real registry (so installs through it work as far as
the signed data allows), records every request's headers, and may rewrite the unsigned cube
document. It must never receive a credential the user holds for another registry, whichever way
it is named (a lockfile, ``--index-url``); and a dependency it adds to or drops from the cube
document is refused, because dependencies come from the signed manifest (MIP-1 §11).
"""

from __future__ import annotations

import json
import stat
import tomllib
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx

from tests.install.conftest import Publisher, Registry, make_bundle
from tests.support import LoopbackHTTPServer, run_memos

#: Rewrites a cube document (name, document) before the hostile index serves it.
Rewrite = Callable[[str, dict[str, Any]], dict[str, Any]]


class HostileIndex(LoopbackHTTPServer):
    """Forwards GET and HEAD to ``upstream``; answers every write 401; records all headers."""

    def __init__(self, upstream: str, rewrite: Rewrite | None = None) -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _record(self) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                outer.requests.append((self.command, self.path, headers))

            def _forward(self) -> None:
                self._record()
                answer = httpx.request(self.command, upstream + self.path, timeout=30)
                body = answer.content
                if (
                    rewrite is not None
                    and self.path.startswith("/v1/cubes/")
                    and (self.path.count("/") == 4 and answer.status_code == 200)
                ):
                    name = self.path.removeprefix("/v1/cubes/")
                    body = json.dumps(rewrite(name, answer.json())).encode()
                self.send_response(answer.status_code)
                for name in ("content-type", "location", "content-range"):
                    if name in answer.headers:
                        self.send_header(name, answer.headers[name])
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _refuse(self) -> None:
                self._record()
                self.rfile.read(int(self.headers.get("content-length") or 0))
                body = b'{"error": {"code": "unauthorized", "message": "no"}}'
                self.send_response(401)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_HEAD = _forward  # noqa: N815 - http.server's names
            do_PUT = do_POST = do_PATCH = _refuse  # noqa: N815

        super().__init__(Handler)


def _env(registry: Registry, token: str) -> dict[str, str]:
    return {
        "MEMOS_INDEX_URL": registry.url,
        "MEMOS_TOKEN": token,
        "MEMOS_EMBEDDER": "hashing",
    }


def _ok(result: Any) -> str:
    assert result.returncode == 0, result.stderr
    return str(result.stdout)


def test_a_hostile_index_never_receives_the_user_s_token(
    registry: Registry, publisher: Publisher, tmp_path: Path
) -> None:
    ns = publisher.namespace
    publisher.publish("lib", "1.0.0")
    home = tmp_path / "user"
    env = _env(registry, publisher.token)
    _ok(run_memos(home, "login", "--token", publisher.token, env=env))  # stored for the registry
    lockfile = tmp_path / "memos.lock"
    _ok(run_memos(home, "lock", f"{ns}/lib", "-o", str(lockfile), env=env))
    bundle = make_bundle(tmp_path, f"{ns}/other", "1.0.0", publisher.key)
    with HostileIndex(registry.url) as hostile:
        # A lockfile naming the hostile index: sync reads from it.
        lockfile.write_text(lockfile.read_text().replace(registry.url, hostile.url))
        _ok(run_memos(home, "sync", str(lockfile), env=env))
        # Named on the command line, while MEMOS_TOKEN belongs to MEMOS_INDEX_URL's registry.
        _ok(run_memos(home, "install", "--index-url", hostile.url, f"{ns}/lib", env=env))
        _ok(run_memos(home, "show", f"{ns}/lib", "--remote", "--index-url", hostile.url, env=env))
        refused = run_memos(home, "publish", str(bundle), "--index-url", hostile.url, env=env)
        assert refused.returncode == 6, refused.stderr
    methods = {method for method, _, _ in hostile.requests}
    assert {"GET", "PUT"} <= methods, hostile.requests
    leaked = [(method, path) for method, path, h in hostile.requests if "authorization" in h]
    assert leaked == []
    assert publisher.token not in json.dumps(hostile.requests)


class ScriptedWhoAmI(LoopbackHTTPServer):
    """A registry that knows one token, answering ``GET /v1/whoami``."""

    def __init__(self, token: str) -> None:
        self.seen: list[str | None] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                given = self.headers.get("authorization")
                outer.seen.append(given)
                if given == f"Bearer {token}":
                    status, document = (
                        200,
                        {
                            "account": "bob",
                            "token_prefix": token[:12],
                            "namespaces": ["bob"],
                            "actions": ["publish"],
                            "expires_at": "2030-01-01T00:00:00Z",
                        },
                    )
                else:
                    status, document = 401, {"error": {"code": "unauthorized", "message": "no"}}
                body = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        super().__init__(Handler)


def test_login_keeps_one_token_per_origin(
    registry: Registry, publisher: Publisher, tmp_path: Path
) -> None:
    home = tmp_path / "user"
    env = {"MEMOS_EMBEDDER": "hashing"}
    _ok(run_memos(home, "login", "--index-url", registry.url, "--token", publisher.token, env=env))
    with ScriptedWhoAmI("mst_other_token") as other:
        _ok(run_memos(home, "login", "--index-url", other.url, "--token", "mst_other_token"))
        stored = home / "registry.json"
        assert stat.S_IMODE(stored.stat().st_mode) == 0o600
        assert json.loads(stored.read_text()) == {
            "index_url": other.url,
            "tokens": {other.url: "mst_other_token", registry.url: publisher.token},
        }
        # Each registry gets its own token: the default (the last login), then the other.
        assert "bob at " + other.url in _ok(run_memos(home, "whoami"))
        mine = json.loads(_ok(run_memos(home, "whoami", "--index-url", registry.url, "--json")))
        assert mine["namespaces"] == [publisher.namespace]
        assert other.seen == ["Bearer mst_other_token"] * 2  # login, then whoami
        _ok(run_memos(home, "logout"))
        assert json.loads(stored.read_text()) == {"tokens": {registry.url: publisher.token}}
        assert stat.S_IMODE(stored.stat().st_mode) == 0o600
        # Logged out: no token for it any more, and nothing is sent.
        anonymous = run_memos(home, "whoami", "--index-url", other.url)
        assert anonymous.returncode == 2
        assert anonymous.stderr.startswith(f"error: no token for {other.url}: run 'memos login")
    again = run_memos(home, "logout", "--index-url", other.url)
    assert again.returncode == 0
    assert again.stderr == f"not logged in to {other.url}\n"


def _with_dependencies(cube: str, dependencies: dict[str, str]) -> Rewrite:
    def rewrite(name: str, document: dict[str, Any]) -> dict[str, Any]:
        if name == cube:
            for version in document["versions"]:
                version["dependencies"] = dependencies
        return document

    return rewrite


def test_dependencies_come_from_the_signed_manifest(
    registry: Registry, publisher: Publisher, tmp_path: Path
) -> None:
    ns = publisher.namespace
    publisher.publish_each("lib", "extra")
    publisher.publish("app", "1.0.0", dependencies={f"{ns}/lib": ">=1"})
    env = {"MEMOS_EMBEDDER": "hashing"}
    for dependencies in ({f"{ns}/lib": ">=1", f"{ns}/extra": ">=1"}, {}):
        home = tmp_path / f"user-{len(dependencies)}"
        rewrite = _with_dependencies(f"{ns}/app", dependencies)
        with HostileIndex(registry.url, rewrite) as hostile:
            result = run_memos(home, "install", "--index-url", hostile.url, f"{ns}/app", env=env)
        assert result.returncode == 6, result.stderr
        assert result.stderr.count("\n") == 1, result.stderr
        assert "differ from those its signed manifest declares" in result.stderr
        assert f"({ns}/lib >=1)" in result.stderr
        listed = json.loads(_ok(run_memos(home, "list", "--json", env=env)))
        assert listed == []  # nothing installed, the added dependency included
    # An honest registry: the lockfile records the signed list.
    home = tmp_path / "honest"
    lockfile = tmp_path / "memos.lock"
    env = {**env, "MEMOS_INDEX_URL": registry.url}
    _ok(run_memos(home, "lock", f"{ns}/app", "-o", str(lockfile), env=env))
    locked = {cube["name"]: cube for cube in tomllib.loads(lockfile.read_text())["cube"]}
    assert locked[f"{ns}/app"]["dependencies"] == {f"{ns}/lib": ">=1"}
    # A lockfile edited to drop it is refused the same way at sync.
    text = lockfile.read_text()
    lockfile.write_text(text.replace(f'"{ns}/lib" = ">=1"', ""))
    refused = run_memos(home, "sync", str(lockfile), env=env)
    assert refused.returncode == 6, refused.stderr
    assert "differ from those its signed manifest declares" in refused.stderr
