"""A cold install downloads blobs while it validates manifests: what that may and may not do.

The registry here is a small stand-in (a real HTTP server in a thread) because the real one
refuses to publish a manifest that breaks the MIP schema: these tests need a registry that serves
a manifest which is correctly signed, hashes to the announced digest and names the right cube,
but is not valid MIP. Its blob drips out slowly, so a download that is not cancelled would still
be running when the command returns.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from memos_client.errors import VerificationError
from memos_client.install.cache import Cache
from memos_client.install.installer import authenticate_envelope, install_verified
from memos_client.install.resolver import Candidate
from memos_client.runtime import MemOS
from mip import MIP_VERSION
from mip.digests import Digest
from mip.dsse import sign
from mip.keys import SigningKey
from mip.manifest import encode_manifest, manifest_from_document, preview_manifest
from mip.names import CubeName
from mip.records import write_records
from mip.versions import Version
from tests.install.conftest import Memos
from tests.support import LoopbackHTTPServer

NAMESPACE = "drip"
CUBE = f"{NAMESPACE}/cube"
KEY = SigningKey.generate()


def _records_blob() -> bytes:
    stream = io.BytesIO()
    record = {
        "id": "r1",
        "text": "one fact",
        "tags": [],
        "metadata": {},
        "created": "2026-01-01T00:00:00Z",
        "updated": "2026-01-01T00:00:00Z",
        "version": 1,
    }
    write_records(stream, [record])
    return stream.getvalue()


def _manifest(blob: bytes, *, valid: bool) -> bytes:
    document: dict[str, Any] = {
        "mip_version": MIP_VERSION,
        "name": CUBE,
        "version": "1.0.0",
        "created": "2026-01-01T00:00:00Z",
        "parts": [
            {
                "kind": "plaintext",
                "name": "memories",
                "digest": "sha256:" + hashlib.sha256(blob).hexdigest(),
                "size": len(blob),
                "count": 1,
            }
        ],
    }
    if valid:
        return encode_manifest(manifest_from_document(document))
    del document["created"]  # required by the schema (MIP-1 §5); nothing a download needs
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


class DrippingRegistry(LoopbackHTTPServer):
    """Serves one cube version; the blob goes out in small pieces, ``delay`` seconds apart."""

    def __init__(self, manifest: bytes, blob: bytes, delay: float) -> None:
        self.envelope = sign(manifest, [KEY]).to_json()
        self.blob = blob
        self.delay = delay
        self.blob_bytes_sent = 0
        self.document = {
            "name": CUBE,
            "normalized_name": CUBE,
            "description": "",
            "keywords": [],
            "latest_version": "1.0.0",
            "downloads": 0,
            "versions": [
                {
                    "version": "1.0.0",
                    "manifest_digest": "sha256:" + hashlib.sha256(manifest).hexdigest(),
                    "dependencies": {},
                    "yanked": False,
                    "yank_reason": None,
                    "published_at": "2026-01-01T00:00:00Z",
                    "size": len(blob),
                }
            ],
        }
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, body: bytes, content_type: str = "application/json") -> None:
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path == f"/v1/cubes/{CUBE}":
                    self._send(json.dumps(outer.document).encode())
                elif self.path == f"/v1/cubes/{CUBE}/versions/1.0.0/envelope":
                    self._send(outer.envelope)
                elif self.path == f"/v1/namespaces/{NAMESPACE}/keys":
                    key = {
                        "key_id": KEY.key_id,
                        "public_key_pem": KEY.public_key.to_pem().decode(),
                        "added_at": "2026-01-01T00:00:00Z",
                    }
                    self._send(json.dumps({"namespace": NAMESPACE, "keys": [key]}).encode())
                elif self.path.startswith("/v1/blobs/"):
                    self.send_response(200)
                    self.send_header("Content-Type", "application/octet-stream")
                    self.send_header("Content-Length", str(len(outer.blob)))
                    self.end_headers()
                    for start in range(0, len(outer.blob), 64 << 10):
                        try:
                            self.wfile.write(outer.blob[start : start + (64 << 10)])
                            self.wfile.flush()
                        except OSError:
                            return  # the client hung up
                        outer.blob_bytes_sent = start + min(64 << 10, len(outer.blob) - start)
                        time.sleep(outer.delay)
                else:
                    self.send_error(404)

        super().__init__(Handler)


@pytest.fixture
def user(tmp_path: Path) -> Memos:
    return Memos(tmp_path / "home", tmp_path / "cache", "http://unused.invalid")


def test_a_valid_cube_from_the_stand_in_registry_installs(user: Memos) -> None:
    """The control for the test below: the stand-in registry serves what an install needs."""
    blob = _records_blob()
    with DrippingRegistry(_manifest(blob, valid=True), blob, delay=0.0) as registry:
        user.index_url = registry.url
        # The stand-in serves no transparency log: installing from it needs the user's consent.
        refused = user.run("install", CUBE)
        result = user.run("install", "--allow-unlogged", CUBE)
    assert refused.returncode == 3, refused.stderr
    assert refused.stderr.endswith(
        "pass --allow-unlogged to install from it anyway; nothing was installed (log_unavailable)\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith(
        f"warning: the registry at {registry.url} has no transparency log"
    )
    assert f"installed {CUBE} 1.0.0 (1 memories)" in result.stdout
    assert user.installed()[CUBE]["memory_count"] == 1


def test_a_signed_manifest_that_breaks_the_schema_stops_the_download(user: Memos) -> None:
    blob = bytes(range(256)) * 4096 * 4  # 4 MiB in 64 pieces: about 3 s at this drip rate
    with DrippingRegistry(_manifest(blob, valid=False), blob, delay=0.05) as registry:
        user.index_url = registry.url
        started = time.monotonic()
        result = user.run("install", CUBE)
        elapsed = time.monotonic() - started
        sent = registry.blob_bytes_sent
    assert result.returncode == 3, result.stderr
    assert f"{CUBE} 1.0.0: invalid manifest" in result.stderr
    assert "created" in result.stderr
    assert result.stderr.count("\n") == 1  # one clear line
    # The download was stopped, not waited for; nothing reached the cache or the runtime.
    assert elapsed < 2.0
    assert sent < len(blob)
    digest = hashlib.sha256(blob).hexdigest()
    assert not (user.cache / "v1" / "blobs" / "sha256" / digest).exists()
    assert not any((user.cache / "v1" / "envelopes").rglob("*"))
    assert user.installed() == {}


def test_an_authenticated_cube_is_never_installed_unvalidated(tmp_path: Path) -> None:
    """Whoever calls ``install_verified`` with a cube that skipped the schema still gets it."""
    blob = _records_blob()
    manifest = _manifest(blob, valid=False)
    candidate = Candidate(
        CubeName(CUBE),
        Version.parse("1.0.0"),
        "1.0.0",
        Digest("sha256:" + hashlib.sha256(manifest).hexdigest()),
    )
    cache = Cache(tmp_path / "cache")
    cube = authenticate_envelope(
        candidate,
        sign(manifest, [KEY]).to_json(),
        cache,
        trusted={KEY.public_key.key_id: KEY.public_key},
        pins={},
        lock_keys=None,
        registry_keys=None,
        allow_unsigned=False,
        source="test",
    )
    assert not cube.validated
    assert cube.blobs == {Digest("sha256:" + hashlib.sha256(blob).hexdigest()): len(blob)}
    runtime = MemOS(tmp_path / "home", embedder="hashing")
    try:
        with pytest.raises(VerificationError, match="invalid manifest"):
            install_verified([cube], cache, runtime, tmp_path / "home")
        assert runtime.installed_cubes() == []
    finally:
        runtime.close()
    assert cache.read_envelope(candidate.manifest_digest) is None


def _part(**overrides: Any) -> dict[str, Any]:
    part: dict[str, Any] = {"kind": "plaintext", "name": "m", "digest": "sha256:" + "a" * 64}
    part.update({"size": 10, "count": 1}, **overrides)
    return part


def _document(**overrides: Any) -> dict[str, Any]:
    document: dict[str, Any] = {"name": "ns/c", "version": "1.0.0", "parts": [_part()]}
    document.update(overrides)
    return document


@pytest.mark.parametrize(
    "document",
    [
        _document(),
        _document(parts=[]),
        _document(parts=[_part(size=0), _part(name="n", size=64 << 30)]),
    ],
)
def test_preview_manifest_accepts_what_a_download_can_use(document: dict[str, Any]) -> None:
    assert preview_manifest(json.dumps(document).encode()) == document


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"[]",
        json.dumps(_document(name="no-namespace")).encode(),
        json.dumps(_document(version="1")).encode(),
        json.dumps(_document(parts={"m": _part()})).encode(),
        json.dumps(_document(parts=["m"])).encode(),
        json.dumps(_document(parts=[_part(digest="sha256:" + "A" * 64)])).encode(),
        json.dumps(_document(parts=[_part(digest="md5:" + "a" * 32)])).encode(),
        json.dumps(_document(parts=[_part(size=-1)])).encode(),
        json.dumps(_document(parts=[_part(size=True)])).encode(),
        json.dumps(_document(parts=[_part(size=1.5)])).encode(),
        json.dumps(_document(parts=[_part(size=(64 << 30) + 1)])).encode(),
        json.dumps(_document(parts=[_part(name=str(i)) for i in range(1025)])).encode(),
        b'{"name": "ns/c", "version": "1.0.0", "parts": [], "parts": []}',
        b'{"name": "ns/c", "version": "1.0.0"}',  # no parts: MIP-1 §5.2 requires the field
    ],
)
def test_preview_manifest_leaves_anything_else_to_the_schema(payload: bytes) -> None:
    assert preview_manifest(payload) is None
