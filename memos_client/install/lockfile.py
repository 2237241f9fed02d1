"""``memos.lock``: the exact set of cubes an install resolved to (see docs/install.md).

TOML, written by ``memos lock`` and read by ``memos sync``::

    version = 1
    index-url = "http://127.0.0.1:8700"
    requested = ["alice/cooking>=1"]

    [trust.alice]                # namespace -> the keys its cubes must be signed by
    "3f0c..." = "-----BEGIN PUBLIC KEY-----\n..."   # key id = public key (PEM)

    [[cube]]
    name = "alice/cooking"
    version = "1.2.0"
    manifest-digest = "sha256:..."
    signers = ["3f0c..."]
    dependencies = { "bob/spices" = ">=1" }
    blobs = [{ part = "memories", digest = "sha256:...", size = 1234 }]

    [log]                        # the registry's transparency log when the lock was made
    verifier-key = "registry.example.com/v1/log+..."
    checkpoint = "..."           # the signed checkpoint the lock was made at (multi-line)
    [log.proofs]                 # manifest digest -> C2SP tlog-proof (spec §12.7)
    "sha256:..." = "c2sp.org/tlog-proof@v1 ..."   (multi-line)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from memos_client.errors import UsageError
from memos_client.install.resolver import Candidate
from mip.digests import Digest, parse_digest
from mip.errors import MIPError
from mip.keys import PublicKey
from mip.names import normalize_cube_name
from mip.versions import Version

LOCK_VERSION = 1


class LockedCube(msgspec.Struct):
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


class LockLog(msgspec.Struct):
    """The ``[log]`` table: the log key, the checkpoint the lock was made at, and each locked
    version's tlog-proof by manifest digest (an offline ``memos sync`` re-checks them)."""

    verifier_key: str
    checkpoint: str
    proofs: dict[str, str] = msgspec.field(default_factory=dict)

    def to_document(self) -> dict[str, Any]:
        """The TOML table."""
        return {
            "verifier-key": self.verifier_key,
            "checkpoint": self.checkpoint,
            "proofs": dict(sorted(self.proofs.items())),
        }


def _log_table(item: Any) -> LockLog:
    """The ``[log]`` table, checked; raises ``ValueError`` naming the problem (the proofs
    themselves are checked by the transparency log check, with its own error codes)."""
    if not isinstance(item, dict):
        raise ValueError("'log' must be a table")
    unknown = sorted(set(item) - {"verifier-key", "checkpoint", "proofs"})
    if unknown:
        raise ValueError(f"'log' has unknown keys {', '.join(unknown)}")
    key, checkpoint, proofs = item.get("verifier-key"), item.get("checkpoint"), item.get("proofs")
    if not isinstance(key, str) or not isinstance(checkpoint, str):
        raise ValueError("'log' needs verifier-key and checkpoint strings")
    if proofs is None:
        proofs = {}
    if not isinstance(proofs, dict) or not all(isinstance(v, str) for v in proofs.values()):
        raise ValueError("'log.proofs' must be a table of manifest digest = tlog-proof")
    for digest in proofs:
        parse_digest(str(digest))
    return LockLog(key, checkpoint, {str(k): v for k, v in proofs.items()})


class Lockfile(msgspec.Struct):
    """A parsed ``memos.lock``."""

    index_url: str
    requested: list[str]
    cubes: list[LockedCube]
    #: namespace -> key id -> public key PEM (``None``: an older lockfile named only the id).
    trust: dict[str, dict[str, str | None]] = msgspec.field(default_factory=dict)
    log: LockLog | None = None

    def trust_keys(self) -> dict[str, dict[str, PublicKey | None]]:
        """The ``[trust]`` table as keys (checked when the lockfile was read)."""
        return {
            namespace: {
                key_id: None if pem is None else PublicKey.from_pem(pem.encode())
                for key_id, pem in keys.items()
            }
            for namespace, keys in self.trust.items()
        }

    def to_toml(self) -> str:
        """The TOML text (stable: sorted cubes, sorted keys)."""
        import tomli_w

        document: dict[str, Any] = {
            "version": LOCK_VERSION,
            "index-url": self.index_url,
            "requested": self.requested,
            "trust": {ns: _trust_table(keys) for ns, keys in sorted(self.trust.items())},
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
        if self.log is not None:
            document["log"] = self.log.to_document()
        header = "# Written by `memos lock`; install exactly this set with `memos sync`.\n"
        return header + tomli_w.dumps(document, multiline_strings=True)

    def write(self, path: Path) -> None:
        """Write atomically (temp file, then rename) over nothing or an older lockfile only."""
        import os
        import tempfile

        if os.path.lexists(path):
            if path.is_symlink() or not path.is_file():
                raise UsageError(f"{path} exists and is not a regular file: choose another -o")
            if not _is_lockfile(path):
                raise UsageError(
                    f"{path} exists and is not a lockfile: remove it or choose another -o "
                    "(only an older lockfile is replaced)"
                )
        directory = path.parent if str(path.parent) else Path(".")
        try:
            handle, temp_name = tempfile.mkstemp(prefix=".memos.lock.", dir=directory)
        except OSError as exc:
            raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from exc
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as sink:
                sink.write(self.to_toml())
            os.replace(temp_name, path)
        except OSError as exc:
            os.unlink(temp_name)
            raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from exc


def _trust_table(keys: dict[str, str | None]) -> dict[str, str] | list[str]:
    """One namespace's ``[trust]`` entry: key id = PEM; a list of ids only when no key is known."""
    if any(pem is None for pem in keys.values()):
        return sorted(keys)
    return {key_id: str(keys[key_id]) for key_id in sorted(keys)}


def _trust(value: Any) -> dict[str, dict[str, str | None]]:
    """The ``[trust]`` table, checked; raises ``ValueError`` naming the problem.

    Each namespace maps key ids to public keys (PEM); a list of key ids (lockfiles written before
    the keys were recorded) is still read, and then needs the keys from elsewhere.
    """
    if not isinstance(value, dict):
        raise ValueError("'trust' must be a table of namespace = {key id = public key PEM}")
    trust: dict[str, dict[str, str | None]] = {}
    for namespace, keys in value.items():
        if _strings(keys):
            trust[str(namespace)] = dict.fromkeys(keys)
            continue
        if not isinstance(keys, dict) or not all(isinstance(v, str) for v in keys.values()):
            raise ValueError(f"trust.{namespace} must be a table of key id = public key PEM")
        for key_id, pem in keys.items():
            try:
                key = PublicKey.from_pem(pem.encode())
            except MIPError as exc:
                raise ValueError(f"trust.{namespace}: key {key_id!r} is not a public key") from exc
            if key.key_id != key_id:
                raise ValueError(
                    f"trust.{namespace}: the key recorded as {key_id[:16]} has id {key.key_id[:16]}"
                )
        trust[str(namespace)] = dict(keys)
    return trust


def _is_lockfile(path: Path) -> bool:
    """Whether ``path`` holds a lockfile, of any version (one this memos cannot read included:
    ``memos lock`` replaces it), and not some other TOML such as ``memos.toml``."""
    import tomllib

    try:
        document = tomllib.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False
    return isinstance(document.get("version"), int) and "index-url" in document


#: The keys a lockfile and each of its cubes may have.
_LOCK_KEYS = {"version", "index-url", "requested", "trust", "cube", "log"}
_CUBE_KEYS = {"name", "version", "manifest-digest", "signers", "dependencies", "blobs"}
_BLOB_KEYS = {"part", "digest", "size"}


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _cube(item: Any) -> LockedCube:
    """One ``[[cube]]`` table, checked; raises ``ValueError`` naming the problem."""
    if not isinstance(item, dict):
        raise ValueError("not a table")
    unknown = sorted(set(item) - _CUBE_KEYS)
    if unknown:
        raise ValueError(f"unknown keys {', '.join(unknown)}")
    missing = sorted({"name", "version", "manifest-digest"} - set(item))
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    if not all(isinstance(item[key], str) for key in ("name", "version", "manifest-digest")):
        raise ValueError("name, version and manifest-digest must be strings")
    normalize_cube_name(item["name"])
    Version.parse(item["version"])
    parse_digest(item["manifest-digest"])
    signers = item.get("signers", [])
    if not _strings(signers):
        raise ValueError("signers must be a list of key ids")
    dependencies = item.get("dependencies", {})
    if not isinstance(dependencies, dict) or not all(
        isinstance(v, str) for v in dependencies.values()
    ):
        raise ValueError("dependencies must be a table of specifiers")
    blobs = item.get("blobs", [])
    if not isinstance(blobs, list):
        raise ValueError("blobs must be a list of tables")
    for blob in blobs:
        if not isinstance(blob, dict) or set(blob) != _BLOB_KEYS:
            raise ValueError("each blob needs exactly part, digest and size")
        parse_digest(str(blob["digest"]))
        if (
            not isinstance(blob["size"], int)
            or blob["size"] < 0
            or not isinstance(blob["part"], str)
        ):
            raise ValueError(f"blob {blob['digest']}: part must be a string, size a count")
    return LockedCube(
        item["name"],
        item["version"],
        item["manifest-digest"],
        list(signers),
        dict(dependencies),
        blobs,
    )


def read_lockfile(path: Path) -> Lockfile:
    """Parse and check ``memos.lock``; every problem is reported in one :class:`UsageError`.

    The check is strict -- unknown keys, wrong types and requested cubes the lock lacks are all
    refused -- because ``memos sync`` removes every installed cube the lockfile does not list: a
    misspelt table must not read as an empty lock.
    """
    import tomllib  # only here: `memos install NAME` never reads TOML

    from memos_client.install.requirements import parse_requirement

    try:
        document = tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path} does not exist: create it with `memos lock`") from None
    except IsADirectoryError:
        raise UsageError(f"{path} is a directory: pass the lockfile") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: not valid TOML ({exc})") from exc
    if document.get("version") != LOCK_VERSION:
        raise UsageError(
            f"{path}: lockfile version {document.get('version')!r}, this memos reads "
            f"{LOCK_VERSION}; re-create it with `memos lock`"
        )
    problems: list[str] = []
    unknown = sorted(set(document) - _LOCK_KEYS)
    if unknown:
        problems.append(
            f"unknown keys {', '.join(unknown)} (a lockfile has {', '.join(sorted(_LOCK_KEYS))})"
        )
    index_url = document.get("index-url")
    if not isinstance(index_url, str):
        problems.append("'index-url' is missing")
    tables = document.get("cube", [])
    cubes = []
    if not isinstance(tables, list):
        problems.append("'cube' must be an array of tables ([[cube]])")
        tables = []
    for index, item in enumerate(tables):
        try:
            cubes.append(_cube(item))
        except (ValueError, TypeError) as exc:  # MIPError is a ValueError
            problems.append(f"cube {index}: {exc}")
    requested = document.get("requested", [])
    if not _strings(requested):
        problems.append("'requested' must be a list of requirement strings")
        requested = []
    locked = {normalize_cube_name(cube.name) for cube in cubes}
    for text in requested:
        try:
            name = parse_requirement(text).name
        except UsageError as exc:
            problems.append(f"requested {text!r}: {exc}")
            continue
        if name not in locked and not problems:
            problems.append(f"requested {text!r} is not among the locked cubes")
    trust: dict[str, dict[str, str | None]] = {}
    try:
        trust = _trust(document.get("trust", {}))
    except ValueError as exc:
        problems.append(str(exc))
    log = None
    if "log" in document:
        try:
            log = _log_table(document["log"])
        except ValueError as exc:  # MIPError (a bad digest) is a ValueError
            problems.append(str(exc))
    if problems:
        raise UsageError(f"{path}: " + "; ".join(problems) + "; re-create it with `memos lock`")
    return Lockfile(str(index_url), list(requested), cubes, trust, log)
