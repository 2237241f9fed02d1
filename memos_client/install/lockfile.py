"""``memos.lock``: the exact set of cubes an install resolved to (see docs/install.md).

TOML, written by ``memos lock`` and read by ``memos sync``::

    version = 1
    index-url = "http://127.0.0.1:8700"
    requested = ["alice/cooking>=1"]

    [trust]                      # namespace -> key ids its cubes must be signed by
    alice = ["3f0c..."]

    [[cube]]
    name = "alice/cooking"
    version = "1.2.0"
    manifest-digest = "sha256:..."
    signers = ["3f0c..."]
    dependencies = { "bob/spices" = ">=1" }
    blobs = [{ part = "memories", digest = "sha256:...", size = 1234 }]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memos_client.errors import UsageError
from memos_client.install.resolver import Candidate
from mip.digests import Digest, parse_digest
from mip.errors import MIPError
from mip.names import normalize_cube_name
from mip.versions import Version

LOCK_VERSION = 1


@dataclass
class LockedCube:
    """One cube of the lockfile."""

    name: str
    version: str
    manifest_digest: str
    signers: list[str]
    dependencies: dict[str, str]
    blobs: list[dict[str, Any]]

    def candidate(self) -> Candidate:
        """The lockfile entry as a resolver candidate."""
        return Candidate(
            name=normalize_cube_name(self.name),
            version=Version.parse(self.version),
            version_text=self.version,
            manifest_digest=Digest(self.manifest_digest),
            dependencies=self.dependencies,
        )


@dataclass
class Lockfile:
    """A parsed ``memos.lock``."""

    index_url: str
    requested: list[str]
    cubes: list[LockedCube]
    trust: dict[str, list[str]] = field(default_factory=dict)

    def to_toml(self) -> str:
        """The TOML text (stable: sorted cubes, sorted keys)."""
        import tomli_w

        document: dict[str, Any] = {
            "version": LOCK_VERSION,
            "index-url": self.index_url,
            "requested": self.requested,
            "trust": {ns: sorted(keys) for ns, keys in sorted(self.trust.items())},
            "cube": [
                {
                    "name": cube.name,
                    "version": cube.version,
                    "manifest-digest": cube.manifest_digest,
                    "signers": cube.signers,
                    "dependencies": dict(sorted(cube.dependencies.items())),
                    "blobs": cube.blobs,
                }
                for cube in sorted(self.cubes, key=lambda c: c.name)
            ],
        }
        header = "# Written by `memos lock`; install exactly this set with `memos sync`.\n"
        return header + tomli_w.dumps(document)

    def write(self, path: Path) -> None:
        """Write atomically (temp file, then rename)."""
        import os
        import tempfile

        handle, temp_name = tempfile.mkstemp(prefix=".memos.lock.", dir=path.parent or ".")
        with os.fdopen(handle, "w", encoding="utf-8") as sink:
            sink.write(self.to_toml())
        os.replace(temp_name, path)


def read_lockfile(path: Path) -> Lockfile:
    """Parse and check ``memos.lock``; every problem is reported in one :class:`UsageError`."""
    import tomllib  # only here: `memos install NAME` never reads TOML

    try:
        document = tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path} does not exist: create it with `memos lock`") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: not valid TOML ({exc})") from exc
    if document.get("version") != LOCK_VERSION:
        raise UsageError(
            f"{path}: lockfile version {document.get('version')!r}, this memos reads "
            f"{LOCK_VERSION}; re-create it with `memos lock`"
        )
    problems: list[str] = []
    cubes = []
    for index, item in enumerate(document.get("cube", [])):
        try:
            normalize_cube_name(str(item["name"]))
            Version.parse(str(item["version"]))
            parse_digest(str(item["manifest-digest"]))
            cubes.append(
                LockedCube(
                    str(item["name"]),
                    str(item["version"]),
                    str(item["manifest-digest"]),
                    [str(s) for s in item.get("signers", [])],
                    {str(k): str(v) for k, v in item.get("dependencies", {}).items()},
                    list(item.get("blobs", [])),
                )
            )
        except (KeyError, TypeError, MIPError) as exc:
            problems.append(f"cube {index}: {exc}")
    index_url = document.get("index-url")
    if not isinstance(index_url, str):
        problems.append("'index-url' is missing")
    if problems:
        raise UsageError(f"{path}: " + "; ".join(problems))
    trust = {str(ns): [str(k) for k in keys] for ns, keys in document.get("trust", {}).items()}
    return Lockfile(str(index_url), list(document.get("requested", [])), cubes, trust)
