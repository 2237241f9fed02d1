"""The install commands' workflows: resolve, verify, download, install; lock; sync; uninstall."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from memos_client.errors import (
    BrokenDependentsError,
    ResolutionError,
    TrustError,
    UsageError,
)
from memos_client.install.installer import (
    InstallResult,
    VerifiedCube,
    install_verified,
    remove_cube_files,
    signed_dependencies,
)
from memos_client.install.plan import check_installed
from memos_client.install.requirements import Requirement
from memos_client.install.resolver import Candidate, resolve
from memos_client.install.session import Options, Session, open_session
from memos_client.install.steps import (
    authenticate_resolved,
    dependency_order,
    downloading,
    installed_versions,
    preferred_versions,
    verify_resolved,
    warn_about,
    with_yank_state,
)
from memos_client.trust.store import NamespacePin
from mip.names import CubeName
from mip.versions import Version

if TYPE_CHECKING:
    from memos_client.install.lockfile import Lockfile
    from memos_client.install.target import InstallTarget, RuntimeOpener

__all__ = ["Options"]


def _reachable(
    resolved: Mapping[CubeName, Candidate], requirements: Sequence[Requirement]
) -> dict[CubeName, Candidate]:
    """The part of ``resolved`` the requirements reach: the dependents' constraints shape the
    choice, but installed cubes nothing asked for are not installed (or re-verified) again."""
    keep: dict[CubeName, Candidate] = {}
    pending = [requirement.name for requirement in requirements]
    while pending:
        name = pending.pop()
        if name in keep or name not in resolved:
            continue
        keep[name] = resolved[name]
        pending.extend(requirement.name for requirement in resolved[name].requirements())
    return keep


def _resolve_for_dependents(
    requirements: Sequence[Requirement],
    session: Session,
    runtime: InstallTarget | None,
    preferred: Mapping[CubeName, Version],
    installed: Mapping[CubeName, Version],
    options: Options,
) -> dict[CubeName, Candidate]:
    """Resolve against what is installed: the installed cubes' own dependencies on installed
    cubes constrain the result, so an install never silently breaks a dependent. When only
    breaking one works, refuse naming what breaks -- unless ``--force``, which says it."""
    from memos_client.install.dependents import breakages, installed_set, requirements_of

    if runtime is None:
        return resolve(
            requirements,
            session.registry,
            preferred,
            installed=installed,
            with_dependencies=not options.no_deps,
        )
    cubes = installed_set(
        options.home, [(c.name, c.version, c.manifest_digest) for c in runtime.installed_cubes()]
    )
    requested = {requirement.name for requirement in requirements}
    constraints = [
        requirement
        for cube in cubes.values()
        if cube.name not in requested
        for requirement in requirements_of(cube)
        if requirement.name in cubes
    ]
    resolved: dict[CubeName, Candidate] | None = None
    if constraints and not options.force:
        try:
            resolved = resolve(
                [*requirements, *constraints],
                session.registry,
                preferred,
                installed=installed,
                with_dependencies=not options.no_deps,
            )
        except ResolutionError:
            resolved = None
        else:
            resolved = _reachable(resolved, requirements)
    if resolved is None:
        resolved = resolve(
            requirements,
            session.registry,
            preferred,
            installed=installed,
            with_dependencies=not options.no_deps,
        )
    after = {name: (c.version, c.version_text) for name, c in resolved.items()}
    broken = breakages(cubes, after)
    if broken and not options.force:
        changes = ", ".join(
            f"{name} {c.version_text}"
            for name, c in sorted(resolved.items())
            if name in cubes and cubes[name].version != c.version
        )
        raise BrokenDependentsError(
            f"installing {changes} would break {'; '.join(str(b) for b in broken)}; "
            "pass --force to install anyway (`memos check` then lists what is broken)"
        )
    for item in broken:
        if options.warn is not None:
            options.warn(f"--force: {item}")
    return resolved


def _install_and_record(
    cubes: list[VerifiedCube], session: Session, runtime: InstallTarget, options: Options
) -> tuple[list[InstallResult], list[NamespacePin]]:
    """Install verified cubes, then record what this install learned: the log state it checked
    and the namespace pins it made (returned, for the command to report)."""
    results = install_verified(
        cubes,
        options.cache,
        runtime,
        options.home,
        force=options.force_reinstall,
        counter=options.counter,
    )
    session.save_log()
    return results, session.save_pins()


def install_requirements(
    requirements: Sequence[Requirement], options: Options
) -> tuple[list[InstallResult], list[NamespacePin]]:
    """``memos install NS/NAME[SPEC]...``: resolve, verify, download, install.

    The blobs of authenticated cubes (digest and signature checked) download on a worker thread
    while this one validates their manifests and opens the runtime; nothing is installed unless
    every check passed (docs/install.md, "Install: atomic").
    """
    session = open_session(options)
    session.prefetch(r.name.partition("/")[0] for r in requirements)
    runtime: InstallTarget | None = None
    try:
        preferred: dict[CubeName, Version] = {}
        installed: dict[CubeName, Version] = {}
        if (options.home / "runtime" / "memos.db").exists():
            # Something may be installed: the resolver keeps installed versions that still fit.
            runtime = options.open_runtime(options.home)
            installed = installed_versions(runtime)
            preferred = {} if options.upgrade else installed
        resolved = _resolve_for_dependents(
            requirements, session, runtime, preferred, installed, options
        )
        warn_about(options, dependency_order(resolved), installed)
        exact = {str(r.name) for r in requirements if r.exact_pin}
        session.start_log_check(list(resolved.values()), exact)
        cubes = authenticate_resolved(session, resolved)
        with downloading(session, cubes):
            for cube in cubes:
                session.validate(cube)
            if runtime is None:
                runtime = options.open_runtime(options.home)
            session.finish_log_check()
        return _install_and_record(cubes, session, runtime, options)
    finally:
        session.close()
        if runtime is not None:
            runtime.close()


def install_requirement_texts(
    texts: Sequence[str],
    open_runtime: RuntimeOpener,
    *,
    home: Path | None = None,
    index_url: str | None = None,
    offline: bool = False,
) -> list[InstallResult]:
    """``memos install TEXT...`` as a library call (``MemOS.install``, the server's
    ``install_cube``): the same resolve, verify, download and install, with the same trust
    pins, cache and index as the command (``$MEMOS_INDEX_URL``, else ``memos login``'s)."""
    from memos_client.config import memos_cache_dir, memos_home
    from memos_client.install.cache import Cache
    from memos_client.install.fetch import default_registry_url
    from memos_client.install.requirements import parse_requirement

    requirements = [parse_requirement(text) for text in texts]
    if not requirements:
        raise UsageError("nothing to install: name cubes (NAMESPACE/NAME[SPECIFIER])")
    options = Options(
        home=home if home is not None else memos_home(),
        cache=Cache(memos_cache_dir()),
        index_url=(index_url or default_registry_url()).rstrip("/"),
        open_runtime=open_runtime,
        offline=offline,
    )
    results, _ = install_requirements(requirements, options)
    return results


def install_bundle_files(
    paths: Sequence[Path], options: Options
) -> tuple[list[InstallResult], list[NamespacePin]]:
    """``memos install ./FILE.memcube``: verify the bundle like a download, then install it.

    The bundle's blobs go into the cache (so installs hard-link them like any other); its
    dependencies are resolved from the index.
    """
    from memos_client.install.bundle_import import import_bundle

    session = open_session(options)
    runtime = options.open_runtime(options.home)
    try:
        local = [import_bundle(path, session) for path in paths]
        fixed = {cube.candidate.name for cube in local}
        needed = [
            requirement
            for cube in local
            for requirement in cube.candidate.requirements()
            if requirement.name not in fixed
        ]
        dependencies: list[VerifiedCube] = []
        if needed and not options.no_deps:
            installed = installed_versions(runtime)
            resolved = resolve(
                needed,
                session.registry,
                preferred_versions(runtime, options.upgrade),
                installed=installed,
            )
            warn_about(options, dependency_order(resolved), installed)
            dependencies = authenticate_resolved(session, resolved)
            with downloading(session, dependencies):
                for cube in dependencies:
                    session.validate(cube)
                session.check_log([cube.candidate for cube in dependencies])
        return _install_and_record([*dependencies, *local], session, runtime, options)
    finally:
        session.close()
        runtime.close()


def uninstall(
    names: Sequence[CubeName], options: Options, *, check_dependents: bool = True
) -> list[tuple[str, str, int]]:
    """``memos uninstall``: remove cubes; return (name, version, memories removed).

    A cube another installed cube depends on is not removed (unless ``--force``, which says
    what breaks); ``memos sync`` passes ``check_dependents=False``: the lockfile is the set.
    """
    from memos_client.install.dependents import breakages, installed_set

    names = list(dict.fromkeys(names))  # `memos uninstall a/b a/b` removes it once
    runtime = options.open_runtime(options.home)
    try:
        installed = {c.name: c for c in runtime.installed_cubes()}
        check_installed(names, installed)
        if check_dependents:
            cubes = installed_set(
                options.home, [(c.name, c.version, c.manifest_digest) for c in installed.values()]
            )
            broken = breakages(cubes, dict.fromkeys(names))
            if broken and not options.force:
                raise BrokenDependentsError(
                    f"refusing to uninstall {', '.join(names)}: "
                    f"{'; '.join(str(b) for b in broken)}; uninstall the dependents too, or pass "
                    "--force (`memos check` then lists what is broken)"
                )
            for item in broken:
                if options.warn is not None:
                    options.warn(f"--force: {item}")
        removed: list[tuple[str, str, int]] = []
        for name in names:
            count = runtime.uninstall_cube(name)
            remove_cube_files(options.home, name, installed[name].manifest_digest)
            removed.append((name, installed[name].version, count))
        return removed
    finally:
        runtime.close()


def lock(requirements: Sequence[Requirement], options: Options) -> Lockfile:
    """``memos lock``: resolve and verify (nothing installed) and describe the result."""
    from memos_client.install.lockfile import LockedCube, Lockfile, LockLog

    if not requirements:
        raise UsageError("nothing to lock: list cubes in memos.toml or on the command line")
    session = open_session(options)
    try:
        resolved = resolve(requirements, session.registry)
        warn_about(options, dependency_order(resolved))
        cubes = verify_resolved(session, resolved)
        exact = {str(r.name) for r in requirements if r.exact_pin}
        session.check_log([cube.candidate for cube in cubes], exact)
        session.save_pins()
        session.save_log()
    finally:
        session.close()
    record = session.log.lock_record() if session.log is not None else None
    lock_log = LockLog(*record) if record is not None else None
    # The keys themselves, not only their ids: a fresh machine syncs offline (MIP-1 §6.4).
    trust: dict[str, dict[str, str | None]] = {}
    locked = []
    for cube in cubes:
        namespace = cube.candidate.name.partition("/")[0]
        known = dict(session.trusted)
        if namespace in session.pins:
            known.update(session.pins[namespace].public_keys())
        for key_id in cube.signers:
            key = known.get(key_id)
            trust.setdefault(namespace, {})[key_id] = None if key is None else key.to_pem().decode()
        locked.append(
            LockedCube(
                str(cube.candidate.name),
                cube.candidate.version_text,
                str(cube.candidate.manifest_digest),
                list(cube.signers),
                signed_dependencies(cube),
                [
                    {"part": str(p["name"]), "digest": str(p["digest"]), "size": int(p["size"])}
                    for p in cube.manifest.get("parts", [])
                ],
            )
        )
    return Lockfile(
        options.index_url,
        [r.text for r in requirements],
        locked,
        {ns: keys for ns, keys in trust.items() if keys},
        lock_log,
    )


def sync(
    lockfile: Lockfile, options: Options
) -> tuple[list[InstallResult], list[tuple[str, str, int]]]:
    """``memos sync``: make the installed set exactly the lockfile's (install, replace, remove)."""
    options.lock_keys = lockfile.trust_keys()
    session = open_session(options)
    session.prefetch(c.name.partition("/")[0] for c in lockfile.cubes)
    runtime = options.open_runtime(options.home)
    try:
        candidates = {
            c.candidate().name: with_yank_state(session, c.candidate()) for c in lockfile.cubes
        }
        warn_about(options, dependency_order(candidates), installed_versions(runtime))
        # A lockfile pins every version exactly: a yanked one is still installed (PEP 592).
        exact = {str(name) for name in candidates}
        session.start_log_check(list(candidates.values()), exact, lockfile.log)
        cubes = authenticate_resolved(session, candidates)
        for cube, entry in zip(cubes, dependency_order(candidates), strict=True):
            locked = next(c for c in lockfile.cubes if c.manifest_digest == entry.manifest_digest)
            if locked.signers and not set(locked.signers) & set(cube.signers):
                raise TrustError(
                    f"{cube.candidate} is signed by {', '.join(s[:16] for s in cube.signers)}, "
                    f"the lockfile expects {', '.join(s[:16] for s in locked.signers)}; refusing"
                )
        with downloading(session, cubes):
            for cube in cubes:
                session.validate(cube)
            session.finish_log_check()
        results = install_verified(
            cubes, options.cache, runtime, options.home, counter=options.counter
        )
        session.save_pins()  # a namespace first met in the lockfile is pinned to its keys
        session.save_log()
        extra = [c.name for c in runtime.installed_cubes() if c.name not in candidates]
    finally:
        session.close()
        runtime.close()
    removed = (
        uninstall([CubeName(name) for name in extra], options, check_dependents=False)
        if extra
        else []
    )
    return results, removed
