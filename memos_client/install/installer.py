"""Verifying resolved cubes and installing them atomically into the local runtime.

For each cube (docs/install.md, "Install"):

1. its envelope is checked: the payload hashes to the manifest digest the index announced, the
   signature passes the trust rules (:mod:`memos_client.trust.signers`) and the manifest names
   the cube and version asked for (:func:`authenticate_envelope`); then the manifest is checked
   against the MIP schema and only then is the envelope cached (:func:`validate_manifest`);
2. its blobs are downloaded into the cache (hashed while streaming) -- the install commands
   start this as soon as step 1's authentication has passed, while the schema is checked
   (docs/adr/0008-download-while-validating.md);
3. a staging folder under ``$MEMOS_HOME/cubes/.staging`` receives hard links to the cached blobs
   (a copy only across file systems), the payloads are checked (records decode, tensor headers fit
   their parts), and the folder is renamed to ``cubes/<ns>/<name>/<manifest hex>``;
4. the runtime replaces the cube's memories in ONE database transaction: that commit is the
   switch. Until it happens the previous version stays installed and intact; after it, the
   previous version's folder is removed.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from memos_client.config import private_dir, private_file
from memos_client.errors import InvalidResponseError, VerificationError
from memos_client.install.cache import Cache
from memos_client.install.resolver import Candidate
from memos_client.trust.signers import KeySource, LockKeys, check_signers
from memos_client.trust.store import NamespacePin
from mip.digests import Digest, digest_bytes, digest_hex
from mip.errors import MIPError
from mip.manifest import preview_manifest
from mip.names import CubeName

#: ``progress(total, description)``: a context giving an ``advance(count)`` callback, or
#: ``None`` when nothing is drawn (the CLI passes its progress bar; the library draws nothing).
ProgressFactory = Callable[[int, str], AbstractContextManager[Callable[[int], None] | None]]

if TYPE_CHECKING:
    from memos_client.install.target import InstallTarget
    from mip.keys import PublicKey

#: Marker files (``checked/<manifest hex>``) in the cache: this version's payloads passed the
#: content checks once; content addressing means they still do while the blobs are intact.
CHECKED_DIR = "checked"


class VerifiedCube(msgspec.Struct):
    """A cube version whose envelope and signature passed every check (and, once
    :attr:`validated`, its manifest the MIP schema)."""

    candidate: Candidate
    envelope_bytes: bytes
    manifest_bytes: bytes
    manifest: dict[str, Any]
    signers: tuple[str, ...]
    source: str
    new_pin: NamespacePin | None = None
    #: The manifest passed the MIP schema (see :func:`validate_manifest`); until then the cube
    #: is only authentic: its blobs may be downloaded, nothing may be installed.
    validated: bool = False

    @property
    def blobs(self) -> dict[Digest, int]:
        """Every blob of the version, with its size."""
        return {Digest(str(p["digest"])): int(p["size"]) for p in self.manifest.get("parts", [])}


class InstallResult(msgspec.Struct):
    """What one cube's install did."""

    name: str
    version: str
    manifest_digest: str
    memory_count: int
    path: Path
    previous_version: str | None = None
    unchanged: bool = False
    signers: tuple[str, ...] = msgspec.field(default_factory=tuple)
    #: The registry lists this version as yanked (installed because it was pinned exactly).
    yanked: bool = False
    yank_reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form for ``--json``: every field in order, the path as text."""
        document: dict[str, Any] = msgspec.to_builtins(self, enc_hook=str)
        document["signers"] = list(self.signers)  # to_builtins keeps the tuple
        return document


#: The folder under ``cubes/`` where installs stage cubes before renaming them into place.
STAGING = ".staging"


def cubes_dir(home: Path) -> Path:
    """Where installed cubes' files live."""
    return home / "cubes"


def cube_dir(home: Path, name: str, manifest_digest: str) -> Path:
    """The folder of one installed cube version (its identity is the manifest digest)."""
    namespace, _, cube = name.partition("/")
    return cubes_dir(home) / namespace / cube / digest_hex(Digest(manifest_digest))


def authenticate_envelope(
    candidate: Candidate,
    envelope_bytes: bytes,
    cache: Cache,
    *,
    trusted: Mapping[str, PublicKey],
    pins: Mapping[str, NamespacePin],
    lock_keys: Mapping[str, LockKeys] | None,
    registry_keys: KeySource | None,
    allow_unsigned: bool,
    source: str,
    revoked: Mapping[str, tuple[str, str]] | None = None,
) -> VerifiedCube:
    """Step 1 up to the schema: the payload hashes to the announced manifest digest, the
    signature passes the trust rules, and the manifest names the cube and version asked for.

    What comes back is authentic: its blob list (:attr:`VerifiedCube.blobs`) may be downloaded,
    every blob hashed against it. It is not yet known to be valid MIP: :func:`validate_manifest`
    must pass before anything is installed or the envelope cached. A manifest whose shape the
    quick checks here do not accept is validated right away (the schema's error is the clearer
    one), so a cube only ever leaves this function with a well-formed blob list.
    """
    from mip.dsse import parse_envelope

    try:
        envelope = parse_envelope(envelope_bytes)
    except MIPError as exc:
        cache.discard_envelope(candidate.manifest_digest)
        raise VerificationError(f"{candidate}: the registry served a bad envelope ({exc})") from exc
    actual = digest_bytes(envelope.payload)
    if actual != candidate.manifest_digest:
        cache.discard_envelope(candidate.manifest_digest)
        raise VerificationError(
            f"{candidate}: the envelope carries manifest {actual}, but the index announced "
            f"{candidate.manifest_digest}; the registry or the cache is corrupt or tampered with"
        )
    check = check_signers(
        envelope,
        str(candidate),
        trusted=trusted,
        pins=pins,
        lock_keys=lock_keys,
        registry_keys=registry_keys,
        allow_unsigned=allow_unsigned,
        revoked=revoked,
    )
    cube = VerifiedCube(
        candidate, envelope_bytes, envelope.payload, {}, check.key_ids, source, check.new_pin
    )
    if cache.read_envelope(candidate.manifest_digest) == envelope_bytes:
        # Cached entries were fully validated before they were written, and the digest above
        # proves these are the same bytes: plain JSON suffices.
        cube.manifest = json.loads(envelope.payload)
        cube.validated = True
    else:
        quick = preview_manifest(envelope.payload)
        if quick is None:
            validate_manifest(cube, cache)  # raises the schema's error
        else:
            cube.manifest = quick
    _check_identity(candidate, cube.manifest)
    return cube


def validate_manifest(cube: VerifiedCube, cache: Cache) -> None:
    """The rest of step 1: the manifest is valid MIP (MIP-1 §5); then cache the envelope."""
    if cube.validated:
        return
    from mip.manifest import decode_manifest

    try:
        decode_manifest(cube.manifest_bytes)
    except MIPError as exc:
        raise VerificationError(f"{cube.candidate}: invalid manifest ({exc})") from exc
    # The raw JSON (not the model) is kept: it holds fields a newer minor version added.
    cube.manifest = json.loads(cube.manifest_bytes)
    _check_identity(cube.candidate, cube.manifest)
    cube.validated = True
    cache.write_envelope(cube.candidate.manifest_digest, cube.envelope_bytes)


def _check_identity(candidate: Candidate, manifest: Mapping[str, Any]) -> None:
    """The signed manifest is the cube and version asked for, with the dependencies the index
    announced: MIP-1 §11, a registry's word is not trust. The resolver read the dependencies
    from the (unsigned) cube document; one added or dropped there is refused here, before
    anything is downloaded or installed."""
    from mip.names import normalize_cube_name
    from mip.versions import Version

    name = normalize_cube_name(str(manifest["name"]))
    version = Version.parse(str(manifest["version"]))
    if name != candidate.name or version != candidate.version:
        raise VerificationError(
            f"{candidate}: the signed manifest is for {manifest['name']} {manifest['version']}; "
            "the registry served the wrong cube"
        )
    signed = manifest.get("dependencies", {})
    if not isinstance(signed, dict):
        return  # not valid MIP: validate_manifest refuses it with the schema's message
    try:
        signed_set = {normalize_cube_name(str(k)): str(v) for k, v in signed.items()}
    except MIPError:
        return  # likewise
    announced = {normalize_cube_name(str(k)): str(v) for k, v in candidate.dependencies.items()}
    if signed_set != announced:
        raise InvalidResponseError(
            f"{candidate}: the dependencies announced for it ({_listed(announced)}) differ from "
            f"those its signed manifest declares ({_listed(signed_set)}); the registry or the "
            "lockfile is wrong or tampered with: nothing was installed",
            code="invalid_response",
        )


def _listed(dependencies: Mapping[CubeName, str]) -> str:
    return ", ".join(f"{name} {spec}" for name, spec in sorted(dependencies.items())) or "none"


def signed_dependencies(cube: VerifiedCube) -> dict[str, str]:
    """The dependencies the cube's signed manifest declares (what a lockfile records)."""
    return {str(k): str(v) for k, v in (cube.manifest.get("dependencies") or {}).items()}


# -- staging -------------------------------------------------------------------------------------


def _link_or_copy(source: Path, destination: Path) -> None:
    try:
        os.link(source, destination)
    except OSError:
        # Another file system, or links not allowed: a copy is correct, only slower.
        shutil.copyfile(source, destination)


def _part_file(part: Mapping[str, Any]) -> str:
    kind, name = part.get("kind"), str(part["name"])
    if kind == "plaintext":
        return f"{name}.msgpack"
    if kind == "parameter":
        return f"{name}/adapter_model.safetensors"  # beside adapter_config.json: PEFT loads it
    return f"{name}.safetensors" if kind == "activation" else f"{name}.bin"


def _stage(cube: VerifiedCube, cache: Cache, staging: Path) -> None:
    # MEMOS_HOME is private (0700 folders, 0600 files) whatever the umask: memos_client.config.
    private_dir(staging / "parts")
    (staging / "envelope.json").write_bytes(cube.envelope_bytes)
    (staging / "manifest.json").write_bytes(cube.manifest_bytes)
    origin = {"source": cube.source, "signers": list(cube.signers)}
    (staging / "origin.json").write_text(json.dumps(origin, indent=2), "utf-8")
    for name in ("envelope.json", "manifest.json", "origin.json"):
        private_file(staging / name)
    for part in cube.manifest.get("parts", []):
        target = staging / "parts" / _part_file(part)
        private_dir(target.parent)
        blob = cache.blob_path(Digest(str(part["digest"])))
        if not blob.is_file() or blob.stat().st_size != int(part["size"]):
            raise VerificationError(
                f"{cube.candidate}: blob {part['digest']} vanished from the cache; run again"
            )
        _link_or_copy(blob, target)
        private_file(target)  # a hard link shares the cache blob's mode: the cache's, private too
        if part.get("kind") == "parameter":
            config = json.dumps(part.get("adapter_config", {}), indent=2, sort_keys=True)
            (target.parent / "adapter_config.json").write_text(config, "utf-8")
            private_file(target.parent / "adapter_config.json")


def _check_payloads(cube: VerifiedCube, root: Path, cache: Cache) -> None:
    """Step 3's content checks (skipped when this version passed them before)."""
    marker = cache.root / CHECKED_DIR / digest_hex(cube.candidate.manifest_digest)
    if marker.exists():
        return
    import msgspec

    from mip.models import describe_error, from_document, part_model
    from mip.payloads import check_part_payload

    for raw in cube.manifest.get("parts", []):
        path = root / "parts" / _part_file(raw)
        try:
            # The manifest passed the schema (validate_manifest): this gives the typed part.
            part = from_document(raw, part_model(raw))
            with open(path, "rb") as stream:
                # The one payload check of MIP-1 §7, the registry's at publish too.
                check_part_payload(part, stream)
        except msgspec.ValidationError as exc:
            raise VerificationError(
                f"{cube.candidate}: part {raw['name']!r}: {describe_error(exc)}"
            ) from exc
        except MIPError as exc:
            raise VerificationError(f"{cube.candidate}: {exc}") from exc
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()


def _records(cube: VerifiedCube, root: Path) -> Iterator[dict[str, Any]]:
    from mip.records import iter_records

    for raw in cube.manifest.get("parts", []):
        if raw.get("kind") == "plaintext":
            with open(root / "parts" / _part_file(raw), "rb") as stream:
                yield from iter_records(stream)


def _runtime_parts(cube: VerifiedCube, root: Path) -> list[dict[str, Any]]:
    parts = []
    for raw in cube.manifest.get("parts", []):
        part = dict(raw)
        part["path"] = str(root / "parts" / _part_file(raw))
        parts.append(part)
    return parts


#: Seconds after which what a killed install left under ``cubes/`` is removed: its staging
#: folder, or a cube folder renamed into place whose database commit never came. No running
#: install spends a day between staging a cube and committing it.
LEFTOVER_AFTER_S = 24 * 3600


def sweep_leftovers(home: Path, installed: Mapping[str, str], now: float) -> list[Path]:
    """Remove killed installs' folders older than :data:`LEFTOVER_AFTER_S`; return them.

    ``installed`` maps every installed cube to its manifest digest (whoever may read it): those
    folders are never touched, nor is a younger one, which a concurrent install may be about to
    commit. A symlinked staging folder is left alone (its target is not ours to clean).
    """
    root = cubes_dir(home)
    keep = {cube_dir(home, name, digest) for name, digest in installed.items()}
    candidates: list[Path] = []
    if not (root / STAGING).is_symlink():
        candidates.extend(_subfolders(root / STAGING))
    for namespace in _subfolders(root):
        if namespace.name != STAGING:
            candidates.extend(v for c in _subfolders(namespace) for v in _subfolders(c))
    removed = []
    for folder in candidates:
        with suppress(OSError):
            if folder not in keep and folder.stat().st_mtime < now - LEFTOVER_AFTER_S:
                shutil.rmtree(folder)
                removed.append(folder)
    return removed


def _subfolders(folder: Path) -> Iterator[Path]:
    try:
        entries = list(os.scandir(folder))
    except OSError:  # missing (nothing installed yet) or unreadable: nothing to sweep there
        return
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            yield Path(entry.path)


def install_verified(
    cubes: Sequence[VerifiedCube],
    cache: Cache,
    runtime: InstallTarget,
    home: Path,
    *,
    force: bool = False,
    counter: ProgressFactory | None = None,
) -> list[InstallResult]:
    """Steps 3 and 4 for each cube (blobs must be cached); dependencies first.

    ``force`` (``--force-reinstall``): a cube installed at the same digest is staged, checked
    and imported again, and its folder replaced, instead of being left as it is. ``counter``
    draws ``index NAME  n/total`` while a cube's memories are indexed."""
    sweep_leftovers(home, runtime.installed_digests(), time.time())
    installed = {cube.name: cube for cube in runtime.installed_cubes()}
    results = []
    for cube in cubes:
        # A no-op for cubes the caller validated; nothing unchecked is ever installed.
        validate_manifest(cube, cache)
        name = str(cube.candidate.name)
        digest = str(cube.candidate.manifest_digest)
        previous = installed.get(name)
        final = cube_dir(home, name, digest)
        same = previous is not None and previous.manifest_digest == digest
        if same and final.is_dir() and not force:
            assert previous is not None
            results.append(
                InstallResult(
                    name,
                    previous.version,
                    digest,
                    previous.memory_count,
                    final,
                    previous.version,
                    unchanged=True,
                    signers=cube.signers,
                    yanked=cube.candidate.yanked,
                    yank_reason=cube.candidate.yank_reason,
                )
            )
            continue
        # A random name, as uuid4().hex would be (the uuid module costs ~2 ms to import).
        staging = cubes_dir(home) / STAGING / os.urandom(16).hex()
        try:
            _stage(cube, cache, staging)
            _check_payloads(cube, staging, cache)
            private_dir(final.parent)
            if not final.exists():
                os.rename(staging, final)
            elif force:
                # The same digest, reinstalled on purpose (its files may have been damaged):
                # the freshly checked folder replaces it, the old one is removed after.
                retired = final.with_name(final.name + ".old-" + os.urandom(4).hex())
                os.rename(final, retired)
                os.rename(staging, final)
                shutil.rmtree(retired, ignore_errors=True)
            else:
                # A complete folder of this very digest is there already (renames are atomic: an
                # earlier install interrupted before its commit, or a concurrent one). Its content
                # is fixed by the digest, so it is kept: replacing it could pull files from under
                # a process that has just committed it. Touched, so that no other install's
                # sweep takes it for a day-old leftover before this one commits.
                os.utime(final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        memories = sum(
            int(part.get("count") or 0)
            for part in cube.manifest.get("parts", [])
            if part.get("kind") == "plaintext"
        )
        drawing = counter(memories, f"index {name}") if counter else nullcontext(None)
        with drawing as advance:
            count = runtime.install_cube(
                name,
                cube.candidate.version_text,
                digest,
                _records(cube, final),
                cube.manifest.get("governance") or {},
                _runtime_parts(cube, final),
                progress=advance,
            )
        if previous is not None and previous.manifest_digest != digest:
            shutil.rmtree(cube_dir(home, name, previous.manifest_digest), ignore_errors=True)
        results.append(
            InstallResult(
                name,
                cube.candidate.version_text,
                digest,
                count,
                final,
                previous.version if previous else None,
                signers=cube.signers,
                yanked=cube.candidate.yanked,
                yank_reason=cube.candidate.yank_reason,
            )
        )
    return results


def remove_cube_files(home: Path, name: str, manifest_digest: str) -> None:
    """Delete an uninstalled cube's folder (its cache blobs stay, they are other links)."""
    with suppress(FileNotFoundError):
        shutil.rmtree(cube_dir(home, name, manifest_digest))
