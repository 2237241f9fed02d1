"""Fixtures for install tests: a real registry process on loopback, cubes packed and published."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from memos_client.authoring.packer import pack
from memos_client.registry.client import RegistryClient
from mip.container import open_bundle
from mip.keys import SigningKey
from tests.support import start_registry_process

REPO = Path(__file__).resolve().parents[2]


def python_env(**extra: str) -> dict[str, str]:
    """The environment for subprocesses: this checkout importable, no inherited memos config."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEMOS_", "MEMSTORE_"))}
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


@dataclass
class Registry:
    """A running registry server process."""

    url: str
    data_dir: Path
    process: subprocess.Popen[bytes]

    def token(self, namespace: str) -> str:
        """A publish token for ``namespace`` (the admin CLI's command, run in-process)."""
        import contextlib
        import io

        from registry_server.cli import create_token

        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            create_token(namespace=namespace, account=None, days=1, data_dir=self.data_dir)
        return out.getvalue().strip()

    def blob_file(self, digest: str) -> Path:
        """The file holding a blob in the registry's local storage."""
        matches = list((self.data_dir / "blobs").rglob(digest.removeprefix("sha256:") + "*"))
        assert len(matches) == 1, matches
        return matches[0]


def start_registry(data_dir: Path) -> Registry:
    """Start ``memos-registry serve`` on a free port and wait for /healthz."""
    server = start_registry_process(python_env(), data_dir)
    return Registry(server.url, data_dir, server.process)


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """One registry process for the install tests (each test uses its own namespace)."""
    server = start_registry(tmp_path_factory.mktemp("registry"))
    yield server
    server.process.terminate()
    server.process.wait(timeout=10)


def make_bundle(
    directory: Path,
    name: str,
    version: str,
    key: SigningKey | None,
    *,
    memories: list[str] | None = None,
    dependencies: dict[str, str] | None = None,
) -> Path:
    """Pack a cube with ``memories`` (one record each) and ``dependencies``; return the bundle."""
    source = directory / f"src-{name.replace('/', '-')}-{version}"
    (source / "memories").mkdir(parents=True)
    deps = "".join(f'"{k}" = "{v}"\n' for k, v in (dependencies or {}).items())
    (source / "memcube.toml").write_text(
        f'[cube]\nname = "{name}"\nversion = "{version}"\ndescription = "test cube"\n'
        f'license = "CC0-1.0"\n\n[dependencies]\n{deps}\n[governance]\nsensitivity = "public"\n'
    )
    lines = [
        json.dumps({"text": text, "tags": ["t"], "metadata": {"n": i}})
        for i, text in enumerate(memories if memories is not None else [f"{name} {version} fact"])
    ]
    (source / "memories" / "facts.jsonl").write_text("\n".join(lines) + "\n")
    output = directory / f"{name.replace('/', '-')}-{version}.memcube"
    pack(source, output, [key] if key else [])
    return output


def publish(registry: Registry, token: str, bundle_path: Path, key: SigningKey | None) -> str:
    """Upload a bundle's blobs and publish its envelope; return the manifest digest."""
    with open_bundle(bundle_path) as bundle, RegistryClient(registry.url, token) as client:
        for digest, entry in bundle.blobs.items():
            client.upload_blob(digest, entry.size, lambda d=digest: bundle.open_blob(d))  # type: ignore[misc]
        pem = key.public_key.to_pem().decode() if key else None
        return client.publish(bundle.envelope.to_json(), pem).manifest_digest


@dataclass
class Publisher:
    """A namespace on the registry with its token and signing key."""

    registry: Registry
    namespace: str
    token: str
    key: SigningKey
    workdir: Path

    def publish(self, name: str, version: str, **kwargs: Any) -> str:
        """Pack and publish ``namespace/name`` ``version``; return its manifest digest."""
        bundle = make_bundle(self.workdir, f"{self.namespace}/{name}", version, self.key, **kwargs)
        return publish(self.registry, self.token, bundle, self.key)

    def publish_each(self, *names: str, version: str = "1.0.0") -> None:
        """Publish each of the cubes ``names``, with :meth:`publish`'s defaults, at ``version``."""
        for name in names:
            self.publish(name, version)

    def publish_versions(self, name: str, *versions: str) -> None:
        """Publish ``versions`` of the cube ``name`` (with :meth:`publish`'s defaults), in order."""
        for version in versions:
            self.publish(name, version)


_counter = iter(range(10_000))


@pytest.fixture
def publisher(registry: Registry, tmp_path: Path) -> Publisher:
    """A fresh namespace (unique per test) with a token and a key."""
    namespace = f"ns{next(_counter)}x{os.getpid()}"
    return Publisher(
        registry, namespace, registry.token(namespace), SigningKey.generate(), tmp_path
    )


@dataclass
class Memos:
    """Runs the `memos` CLI in a subprocess with its own MEMOS_HOME and cache."""

    home: Path
    cache: Path
    index_url: str

    def run(
        self, *args: str, check: bool = False, in_process: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run ``memos ARGS``; assert success when ``check``.

        In-process by default (``memos_client.cli.main.run`` with this user's environment): the
        same code path as the console script without paying interpreter start-up per command.
        ``in_process=False`` runs a real subprocess.
        """
        env = python_env(
            MEMOS_HOME=str(self.home),
            MEMOS_CACHE_DIR=str(self.cache),
            MEMOS_INDEX_URL=self.index_url,
            MEMOS_EMBEDDER="hashing",  # the MiniLM model is the runtime's business, not ours
        )
        if in_process:
            result = _run_in_process(list(args), env, self.home.parent)
        else:
            result = subprocess.run(
                [sys.executable, "-m", "memos_client", *args],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                cwd=self.home.parent,
            )
        if check:
            assert result.returncode == 0, result.stderr
        return result

    def installed(self) -> dict[str, dict[str, Any]]:
        """``memos list --json`` by name."""
        return {c["name"]: c for c in json.loads(self.run("list", "--json", check=True).stdout)}


def _run_in_process(
    args: list[str], env: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    import contextlib
    import io

    from memos_client.cli.main import run

    saved_env, saved_cwd = dict(os.environ), Path.cwd()
    out, err = io.StringIO(), io.StringIO()
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = run(args)
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        os.chdir(saved_cwd)
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


@pytest.fixture
def memos(tmp_path: Path, registry: Registry) -> Memos:
    """A user with an empty MEMOS_HOME and cache, pointed at the registry."""
    return Memos(tmp_path / "home", tmp_path / "cache", registry.url)
