"""memos_client.registry.client against the real registry (both configurations)."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from memos_client.cli.exit_codes import exit_code_for
from memos_client.errors import (
    NetworkError,
    RegistryAuthError,
    RegistryError,
    RegistryNotFoundError,
    VerificationError,
)
from memos_client.install.cache import Cache
from memos_client.install.fetch import CachedRegistry
from memos_client.registry.client import CubeAnswer, RegistryClient
from mip.keys import SigningKey
from tests.registry.conftest import MONOLITHIC_LIMIT, Registry, free_port
from tests.registry.cube_helpers import (
    blob_digest,
    envelope_document,
    manifest_bytes,
    record_blob,
    unique,
)


def test_publish_resolve_download_round_trip(registry: Registry, tmp_path: Path) -> None:
    namespace = unique("client")
    key = SigningKey.generate()
    small = record_blob(os.urandom(500))
    large = b"".join(record_blob(os.urandom(4096)) for _ in range(MONOLITHIC_LIMIT // 4096 + 7))
    name = f"{namespace}/round-trip"
    with RegistryClient(registry.url, registry.create_token(namespace)) as client:
        assert client.whoami().namespaces == [namespace]
        for data in (small, large):
            path = tmp_path / "blob"
            path.write_bytes(data)
            assert client.blob_size(blob_digest(data)) is None
            # The large blob is over the server's PUT limit: the client falls back to a session.
            result = client.upload_blob(blob_digest(data), len(data), path)
            assert result.created
            assert client.blob_size(blob_digest(data)) == len(data)
        again = client.upload_blob(blob_digest(small), len(small), lambda: io.BytesIO(small))
        assert again.created is False
        payload = manifest_bytes(name, "1.0.0", [small, large], description="round trip")
        envelope = envelope_document(payload, key)
        published = client.publish(json.dumps(envelope).encode(), key.public_key.to_pem().decode())
        assert published.created
        assert client.publish(json.dumps(envelope).encode()).created is False

        answer = client.cube(name.upper())
        assert isinstance(answer, CubeAnswer)
        cube = answer.document
        assert cube.name == name
        assert [v.version for v in cube.versions] == ["1.0.0"]
        assert cube.get("1.0.0+meta") is not None
        assert cube.versions[0].manifest_digest == published.manifest_digest
        assert client.resolve(name, ">=1").version == "1.0.0"
        assert json.loads(client.envelope(name, "1.0.0")) == envelope
        assert client.version(name, "1.0.0").parts[1].size == len(large)
        page = client.search(namespace)
        assert page.total == 1
        assert page.results[0].name == name
        assert [k.key_id for k in client.keys(namespace)] == [key.key_id]

        # Installs download through memos_client.install (the one download path): streamed into the
        # cache, resumed from a partial file, a corrupt partial file caught by the digest check.
        with CachedRegistry(registry.url, Cache(tmp_path / "cache")) as index:
            digest = blob_digest(large)
            assert index.download_blob(digest, len(large)).read_bytes() == large
        with CachedRegistry(registry.url, Cache(tmp_path / "resumed")) as resumed:
            resumed.cache.partial_path(digest).parent.mkdir(parents=True)
            resumed.cache.partial_path(digest).write_bytes(large[:100_000])
            assert resumed.download_blob(digest, len(large)).read_bytes() == large
        with CachedRegistry(registry.url, Cache(tmp_path / "corrupt")) as corrupt:
            corrupt.cache.partial_path(digest).parent.mkdir(parents=True)
            corrupt.cache.partial_path(digest).write_bytes(b"\0" * 1000)
            with pytest.raises(VerificationError, match="corrupt or tampered with"):
                corrupt.download_blob(digest, len(large))
        assert not corrupt.cache.partial_path(digest).exists()
        assert not corrupt.cache.has_blob(digest, len(large))

        yanked = client.yank(name, "1.0.0", "superseded")
        assert yanked.yanked
        assert yanked.yank_reason == "superseded"
        again_answer = client.cube(name)
        assert isinstance(again_answer, CubeAnswer)
        assert again_answer.document.latest_version is None
        assert client.unyank(name, "1.0.0").yanked is False


def test_errors_carry_the_registry_code(registry: Registry) -> None:
    with RegistryClient(registry.url) as client:
        with pytest.raises(RegistryNotFoundError) as missing:
            client.cube(f"{unique('nobody')}/nothing")
        assert missing.value.code == "cube_not_found"
        assert missing.value.status == 404
        assert exit_code_for(missing.value) == 4  # one exit code per meaning: not found is 4
        with pytest.raises(RegistryAuthError) as unauthorized:
            client.whoami()
        assert unauthorized.value.code == "unauthorized"
        with pytest.raises(RegistryError) as upload:
            client.upload_blob(blob_digest(b"x"), 1, lambda: io.BytesIO(b"x"))
        assert upload.value.code == "unauthorized"


def test_unreachable_registry_is_a_network_error() -> None:
    client = RegistryClient(f"http://127.0.0.1:{free_port()}")
    with client, pytest.raises(NetworkError, match="cannot reach the registry"):
        client.cube("a/b")
