"""Every client of the registry against a server answering JSON of the wrong shape.

An array, nulls, ``versions`` as an object, missing fields, a version that does not parse, and
JSON nested too deeply to decode: each must become one ``RegistryError`` coded
``invalid_response`` that names the URL and the request, never an AttributeError, KeyError,
TypeError or RecursionError out of the code that reads the answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from memos_client.errors import RegistryError, UsageError
from memos_client.install.cache import Cache
from memos_client.install.fetch import CachedRegistry
from memos_client.registry.client import RegistryClient
from mip.names import CubeName
from tests.support import LoopbackHTTPServer, run_memos

DIGEST = "sha256:" + "ab" * 32
DEEP = b"[" * 100_000

#: A valid version object, to break one field at a time.
GOOD_VERSION: dict[str, Any] = {
    "version": "1.0.0",
    "manifest_digest": DIGEST,
    "dependencies": {},
    "yanked": False,
    "yank_reason": None,
    "published_at": "2026-01-01T00:00:00Z",
    "size": 10,
}
#: A valid cube document holding ``GOOD_VERSION``.
GOOD_CUBE: dict[str, Any] = {
    "name": "acme/kb",
    "normalized_name": "acme/kb",
    "description": "",
    "keywords": [],
    "latest_version": "1.0.0",
    "downloads": 0,
    "versions": [GOOD_VERSION],
}

#: Bodies that are JSON (or almost) but not what any call expects.
WRONG_SHAPES: dict[str, bytes] = {
    "array": b"[1, 2, 3]",
    "nulls": json.dumps({"name": None, "versions": None}).encode(),
    "versions-as-object": json.dumps({"name": "acme/kb", "versions": {"a": 1}}).encode(),
    "version-not-object": json.dumps({"name": "acme/kb", "versions": [5]}).encode(),
    "missing-digest": json.dumps({"name": "acme/kb", "versions": [{"version": "1.0.0"}]}).encode(),
    "healthz": json.dumps({"status": "ok"}).encode(),
    "deep": DEEP,
}


class BadRegistry(LoopbackHTTPServer):
    """Answers every request (any method) 200 with ``body``; HEAD answers 404 (no blob yet)."""

    def __init__(self, body: bytes) -> None:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                status = 404 if self.command == "HEAD" else 200
                payload = b"" if self.command == "HEAD" else body
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_HEAD = _answer  # noqa: N815 - http.server's names

        super().__init__(Handler)


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture(params=sorted(WRONG_SHAPES))
def bad_registry(request: pytest.FixtureRequest) -> Iterator[BadRegistry]:
    with BadRegistry(WRONG_SHAPES[request.param]) as server:
        yield server


def _invalid(call: Callable[[], object], url: str, request: str) -> RegistryError:
    with pytest.raises(RegistryError) as caught:
        call()
    error = caught.value
    assert error.code == "invalid_response", error
    assert str(error).startswith(f"the registry at {url} answered {request} with a document that")
    assert str(error).endswith(": check --index-url")
    assert "\n" not in str(error)
    return error


def test_client_reads(bad_registry: BadRegistry) -> None:
    url = bad_registry.url
    with RegistryClient(url, "token") as client:
        _invalid(lambda: client.cube("acme/kb"), url, "GET /v1/cubes/acme/kb")
        _invalid(lambda: client.search("x"), url, "GET /v1/search")
        _invalid(lambda: client.whoami(), url, "GET /v1/whoami")
        _invalid(lambda: client.keys("acme"), url, "GET /v1/namespaces/acme/keys")
        _invalid(lambda: client.list_tokens(), url, "GET /v1/tokens")
        _invalid(
            lambda: client.version("acme/kb", "1.0.0"), url, "GET /v1/cubes/acme/kb/versions/1.0.0"
        )
        _invalid(lambda: client.resolve("acme/kb", ">=1"), url, "GET /v1/cubes/acme/kb/resolve")


def test_client_writes(bad_registry: BadRegistry, tmp_path: Path) -> None:
    url = bad_registry.url
    blob = tmp_path / "blob"
    blob.write_bytes(b"0123456789")
    with RegistryClient(url, "token") as client:
        _invalid(lambda: client.upload_blob(DIGEST, 10, blob), url, f"PUT /v1/blobs/{DIGEST}")
        _invalid(
            lambda: client.upload_blob(DIGEST, 10, blob, resumable=True), url, "POST /v1/uploads"
        )
        _invalid(lambda: client.publish(b"{}"), url, "POST /v1/versions")
        _invalid(
            lambda: client.yank("acme/kb", "1.0.0", "why"),
            url,
            "POST /v1/cubes/acme/kb/versions/1.0.0/yank",
        )
        _invalid(lambda: client.create_token(["acme"], ["publish"]), url, "POST /v1/tokens")
        _invalid(lambda: client.add_key("acme", "PEM"), url, "POST /v1/namespaces/acme/keys")


def test_the_cached_registry(bad_registry: BadRegistry, tmp_path: Path) -> None:
    url = bad_registry.url
    cache = Cache(tmp_path / "cache")
    with CachedRegistry(url, cache) as registry:
        _invalid(lambda: registry.candidates(CubeName("acme/kb")), url, "GET /v1/cubes/acme/kb")
    assert cache.read_index(url, "acme/kb") is None  # nothing of it was cached


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("version", "zzz"),
        ("manifest_digest", "sha256:zz"),
        ("dependencies", {"acme/lib": ">>1"}),
        ("dependencies", {"no-slash": ">=1"}),
        ("yanked", "x"),
        ("size", True),
    ],
)
def test_a_version_that_does_not_parse_is_an_invalid_answer(
    field: str, value: object, tmp_path: Path
) -> None:
    document = {**GOOD_CUBE, "versions": [{**GOOD_VERSION, field: value}]}
    with BadRegistry(json.dumps(document).encode()) as server:
        cache = Cache(tmp_path / "cache")
        with CachedRegistry(server.url, cache) as index:
            _invalid(
                lambda: index.candidates(CubeName("acme/kb")), server.url, "GET /v1/cubes/acme/kb"
            )
        assert cache.read_index(server.url, "acme/kb") is None


def test_the_document_of_another_cube_is_an_invalid_answer(tmp_path: Path) -> None:
    document = {**GOOD_CUBE, "name": "acme/other", "normalized_name": "acme/other"}
    with (
        BadRegistry(json.dumps(document).encode()) as server,
        CachedRegistry(server.url, Cache(tmp_path / "cache")) as index,
    ):
        error = _invalid(
            lambda: index.candidates(CubeName("acme/kb")), server.url, "GET /v1/cubes/acme/kb"
        )
    assert "not the cube document of acme/kb (it describes acme/other)" in str(error)


def test_a_well_formed_answer_still_resolves(tmp_path: Path) -> None:
    with (
        BadRegistry(json.dumps(GOOD_CUBE).encode()) as server,
        CachedRegistry(server.url, Cache(tmp_path / "cache")) as index,
    ):
        (candidate,) = index.candidates(CubeName("acme/kb"))
        assert candidate.version_text == "1.0.0"


@pytest.mark.parametrize(
    "url",
    [
        "ftp://x",
        "file:///etc",
        "x",
        "http://",
        "http://h:port",
        "http://h/a?b",
        "http://h/a#",
        "http://x y",
        "http://h/a\tb",
        "http://h\n",
    ],
)
def test_an_index_url_that_is_not_http_is_refused_before_any_request(
    url: str, tmp_path: Path
) -> None:
    for make in (
        lambda: RegistryClient(url),
        lambda: CachedRegistry(url, Cache(tmp_path), offline=True),
    ):
        with pytest.raises(UsageError, match=r"^invalid registry URL "):
            make()


def test_a_password_in_the_index_url_is_refused_without_echoing_it() -> None:
    with pytest.raises(UsageError) as caught:
        RegistryClient("http://user:s3cret@127.0.0.1:1/")
    assert str(caught.value) == (
        "invalid registry URL 'http://***@127.0.0.1:1/': it holds a user name or password; "
        "give the token with --token, MEMOS_TOKEN or 'memos login' instead"
    )


def test_commands_report_a_malformed_answer_in_one_line(tmp_path: Path) -> None:
    for body in (WRONG_SHAPES["nulls"], DEEP):
        with BadRegistry(body) as server:
            for args in (
                ["install", "acme/kb"],
                ["lock", "acme/kb", "-o", str(tmp_path / "memos.lock")],
                ["show", "acme/kb", "--remote"],
                ["search", "kb"],
                ["login", "--token", "t"],
            ):
                result = run_memos(tmp_path / "home", *args, env={"MEMOS_INDEX_URL": server.url})
                assert result.returncode == 6, (args, result.stderr)
                assert result.stderr.startswith(f"error: the registry at {server.url} answered ")
                assert result.stderr.count("\n") == 1, result.stderr
                assert "check --index-url" in result.stderr
    assert not (tmp_path / "memos.lock").exists()


@pytest.mark.parametrize("how", ["--index-url", "MEMOS_INDEX_URL", "lockfile"])
def test_every_command_refuses_a_non_http_index_url_the_same_way(how: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    lockfile = tmp_path / "memos.lock"
    lockfile.write_text('version = 1\nindex-url = "ftp://x"\n')
    commands: list[list[str]] = [
        ["install", "acme/kb"],
        ["lock", "acme/kb", "-o", str(tmp_path / "out.lock")],
        ["search", "kb"],
        ["show", "acme/kb", "--remote"],
        ["publish", str(tmp_path / "missing.memcube"), "--token", "t"],
        ["login", "--token", "t"],
    ]
    if how == "lockfile":
        commands = [["sync", str(lockfile)]]
    for args in commands:
        if how == "--index-url":
            result = run_memos(home, *args, "--index-url", "ftp://x")
        elif how == "MEMOS_INDEX_URL":
            result = run_memos(home, *args, env={"MEMOS_INDEX_URL": "ftp://x"})
        else:
            result = run_memos(home, *args)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr == (
            "error: invalid registry URL 'ftp://x': only http:// and https:// registries are "
            "supported\n"
        ), args
