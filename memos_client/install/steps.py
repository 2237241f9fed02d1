"""The steps the install workflows share: order, authenticate and download resolved cubes, warn
about yanks and downgrades, read what is installed (:mod:`memos_client.install.workflow` puts them
together for install, sync and lock; :mod:`memos_client.install.download` for ``memos download``)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING

from memos_client.install.installer import VerifiedCube
from memos_client.install.resolver import Candidate
from memos_client.install.session import Options, Session
from mip.digests import Digest
from mip.names import CubeName
from mip.versions import Version

if TYPE_CHECKING:
    from memos_client.install.target import InstallTarget


def dependency_order(resolved: Mapping[CubeName, Candidate]) -> list[Candidate]:
    """Candidates with every cube after its dependencies (a cycle is broken by name order)."""
    ordered: list[Candidate] = []
    state: dict[CubeName, int] = {}

    def visit(name: CubeName) -> None:
        if state.get(name):
            return
        state[name] = 1
        for requirement in resolved[name].requirements():
            if requirement.name in resolved:
                visit(requirement.name)
        state[name] = 2
        ordered.append(resolved[name])

    for name in sorted(resolved):
        visit(name)
    return ordered


@contextmanager
def downloading(session: Session, cubes: Sequence[VerifiedCube]) -> Iterator[None]:
    """Download the cubes' missing blobs on a worker thread while the block runs, then wait.

    Only authenticated cubes come here (digest and signature checked, MIP-1 §6.3): their blob
    lists are what the signer published, and each blob is still hashed against it. An error in
    the block (a manifest that breaks the schema, say) cancels the download; partial files stay,
    as after an interruption.
    """
    blobs: dict[Digest, int] = {}
    for cube in cubes:
        blobs.update(cube.blobs)
    registry = session.registry
    missing = {d: s for d, s in blobs.items() if not registry.cache.has_blob(d, s)}
    if not missing:
        yield
        return
    if registry.offline:
        registry.download_blobs(missing)  # refuses at once, naming a missing blob
    progress = session.options.progress
    names = [str(cube.candidate.name) for cube in cubes if set(cube.blobs) & set(missing)]
    what = names[0] if len(names) == 1 else f"{len(names)} cubes ({', '.join(names[:3])}...)"
    total = sum(missing.values())
    bar = progress(total, f"download {what}") if progress else nullcontext(None)
    with bar as advance:
        download = registry.start_download(missing, advance)
        try:
            yield
            download.wait()
        except BaseException:  # an error in the block, the download's own, or Ctrl-C
            download.cancel()
            raise


def installed_versions(runtime: InstallTarget) -> dict[CubeName, Version]:
    """name -> version of the cubes installed in ``runtime``."""
    return {CubeName(c.name): Version.parse(c.version) for c in runtime.installed_cubes()}


def preferred_versions(runtime: InstallTarget, upgrade: bool) -> dict[CubeName, Version]:
    """The versions the resolver keeps when they still fit (none with ``--upgrade``)."""
    return {} if upgrade else installed_versions(runtime)


def warn_about(
    options: Options,
    candidates: Sequence[Candidate],
    installed: Mapping[CubeName, Version] | None = None,
) -> None:
    """Tell the user about yanked versions chosen (as pip does) and about downgrades."""
    notify = options.warn
    if notify is None:
        return
    for candidate in candidates:
        if candidate.yanked:
            notify(
                f"{candidate.name} {candidate.version_text} is a yanked version. "
                f"Reason: {candidate.yank_reason or 'none given'}"
            )
        before = (installed or {}).get(candidate.name)
        if before is not None and candidate.version < before:
            notify(f"downgrading {candidate.name} from {before} to {candidate.version_text}")


def with_yank_state(session: Session, candidate: Candidate) -> Candidate:
    """``candidate`` (from a lockfile) with the yank state the index shows for its version."""
    import msgspec

    from memos_client.errors import MemosError

    try:
        known = session.registry.candidates(candidate.name, [candidate.version_text])
    except MemosError:
        return candidate  # unknown here, or unreachable: the sync itself says what matters
    for item in known:
        if item.manifest_digest == candidate.manifest_digest:
            return msgspec.structs.replace(
                candidate, yanked=item.yanked, yank_reason=item.yank_reason
            )
    return candidate


def verify_resolved(session: Session, resolved: Mapping[CubeName, Candidate]) -> list[VerifiedCube]:
    """Fetch and check the envelope of every resolved cube, dependencies first."""
    cubes = authenticate_resolved(session, resolved)
    for cube in cubes:
        session.validate(cube)
    return cubes


def authenticate_resolved(
    session: Session, resolved: Mapping[CubeName, Candidate]
) -> list[VerifiedCube]:
    """Fetch and authenticate the envelope of every resolved cube, dependencies first
    (:meth:`Session.authenticate`: the manifests are not yet validated)."""
    ordered = dependency_order(resolved)
    if len(ordered) > 1:
        from concurrent.futures import ThreadPoolExecutor

        # Round trips dominate for many small cubes: fetch every envelope at once.
        with ThreadPoolExecutor(max_workers=min(8, len(ordered))) as pool:
            envelopes = list(pool.map(session.registry.envelope, ordered))
    else:
        envelopes = [session.registry.envelope(c) for c in ordered]
    return [
        session.authenticate(c, envelope, session.registry.url)
        for c, envelope in zip(ordered, envelopes, strict=True)
    ]
