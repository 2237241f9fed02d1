"""Picking one version of every cube needed, with resolvelib (see docs/install.md).

The domain is plugged into resolvelib's generic backtracking algorithm through a provider, as pip
does. The provider reads versions from an :class:`Index` (the registry over HTTP, the cache when
offline, or a dict in tests), so the same code resolves online, offline and in the JSON case files
of ``tests/install/resolver_cases``.

Rules (MIP-1 registry API §5): the highest matching version wins; a yanked version is chosen only
when a requirement pins it exactly (``==1.0.0``); pre-releases only when a clause names one; a
version already installed is kept when it still satisfies every requirement (unless upgrading).
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

import msgspec

from memos_client.errors import NotFoundError, ResolutionError
from memos_client.install.requirements import Requirement, requirement_text
from mip.digests import Digest, parse_digest
from mip.errors import MIPError
from mip.names import CubeName, normalize_cube_name
from mip.registry_api import CubeDocument
from mip.versions import Version, parse_specifier


class InvalidCandidateError(ValueError):
    """A cube document whose versions do not parse; ``what`` says what it should have been."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


class Candidate(msgspec.Struct, frozen=True):
    """One version of a cube as the index describes it."""

    name: CubeName
    version: Version
    version_text: str
    manifest_digest: Digest
    dependencies: Mapping[str, str] = msgspec.field(default_factory=dict)
    yanked: bool = False
    yank_reason: str | None = None

    def requirements(self) -> list[Requirement]:
        """The candidate's dependencies as requirements."""
        result = []
        for raw_name, raw_spec in sorted(self.dependencies.items()):
            name = normalize_cube_name(raw_name)
            specifier = parse_specifier(raw_spec)
            result.append(Requirement(name, specifier, requirement_text(name, raw_spec)))
        return result

    def __str__(self) -> str:
        return f"{self.name} {self.version_text}"


class Index(Protocol):
    """Where the resolver learns which versions of a cube exist."""

    def candidates(self, name: CubeName, exact_pins: Collection[str] = ()) -> Sequence[Candidate]:
        """Every version of ``name``, any order; raise :class:`NotFoundError` for an unknown cube.

        ``exact_pins`` are the versions the requirements pin exactly (``==V``), when all of them
        do: an index may then answer from a cache without asking whether newer versions exist.
        """
        ...


class MemoryIndex:
    """An index held in a dict (tests, and the cube documents of a lockfile)."""

    def __init__(self, cubes: Mapping[str, Sequence[Candidate]]) -> None:
        self._cubes = {normalize_cube_name(name): list(items) for name, items in cubes.items()}

    def candidates(self, name: CubeName, exact_pins: Collection[str] = ()) -> Sequence[Candidate]:
        """Every version of ``name``."""
        if name not in self._cubes:
            raise NotFoundError(f"unknown cube {name}: the index has no cube of that name")
        return self._cubes[name]


def candidates_from_document(
    document: CubeDocument, expected: CubeName | None = None
) -> list[Candidate]:
    """Candidates from a registry cube document (``GET /v1/cubes/{ns}/{name}``, API §5).

    Raises :class:`InvalidCandidateError` when a name, version, digest or dependency in it does
    not parse, or when it describes a cube other than ``expected``. The dependencies are the
    registry's copy: an install checks them against the signed manifest
    (:func:`memos_client.install.installer.authenticate_envelope`).
    """
    try:
        name = normalize_cube_name(document.normalized_name or document.name)
        if expected is not None and name != expected:
            raise InvalidCandidateError(f"the cube document of {expected} (it describes {name})")
        result = []
        for item in document.versions:
            candidate = Candidate(
                name=name,
                version=Version.parse(item.version),
                version_text=item.version,
                manifest_digest=parse_digest(item.manifest_digest),
                dependencies=dict(item.dependencies),
                yanked=item.yanked,
                yank_reason=item.yank_reason,
            )
            candidate.requirements()  # dependencies that do not parse fail here, not mid-resolve
            result.append(candidate)
    except MIPError as exc:
        raise InvalidCandidateError(f"a valid cube document ({exc})") from exc
    return result


def _allows(
    requirement: Requirement, candidate: Candidate, installed: Version | None = None
) -> bool:
    if not requirement.specifier.contains(candidate.version):
        return False
    if candidate.yanked:
        # PEP 592: a yanked version is chosen only when pinned exactly -- or when it is the one
        # installed: yanking it must not make `memos install -U` silently downgrade.
        return requirement.exact_pin is not None or candidate.version == installed
    return True


class _OutOfTimeError(Exception):
    """The resolution ran past its deadline (raised from inside resolvelib's loop)."""


class _Provider:
    """The resolvelib provider (duck-typed: resolvelib only calls these methods)."""

    def __init__(
        self,
        index: Index,
        preferred: Mapping[CubeName, Version],
        deadline: float,
        installed: Mapping[CubeName, Version] | None = None,
        with_dependencies: bool = True,
    ) -> None:
        self._index = index
        self._preferred = preferred
        self._deadline = deadline
        self._installed = installed or {}
        self._with_dependencies = with_dependencies
        self._seen: dict[CubeName, Sequence[Candidate]] = {}

    def _check_time(self) -> None:
        # Rounds alone do not bound the time: one round's work grows with the versions a
        # hostile index serves (N versions each excluding the next take O(N^2) checks per round).
        if time.monotonic() > self._deadline:
            raise _OutOfTimeError

    def all_candidates(
        self, name: CubeName, requirements: Sequence[Requirement] = ()
    ) -> Sequence[Candidate]:
        if name not in self._seen:
            pins = [requirement.exact_pin for requirement in requirements]
            exact = [pin for pin in pins if pin is not None] if all(pins) else []
            self._seen[name] = self._index.candidates(name, exact)
        return self._seen[name]

    def identify(self, requirement_or_candidate: Requirement | Candidate) -> CubeName:
        return requirement_or_candidate.name

    def get_preference(
        self,
        identifier: CubeName,
        resolutions: Mapping[CubeName, Candidate],
        candidates: Mapping[CubeName, Iterator[Candidate]],
        information: Mapping[CubeName, Iterator[Any]],
        backtrack_causes: Sequence[Any],
    ) -> tuple[bool, bool, str]:
        # Exact pins first (they cannot move), then the names in the latest conflict, as pip does.
        pinned = any(info.requirement.exact_pin for info in information[identifier])
        in_conflict = any(
            cause.requirement.name == identifier
            or (cause.parent is not None and cause.parent.name == identifier)
            for cause in backtrack_causes
        )
        return (not pinned, not in_conflict, identifier)

    def find_matches(
        self,
        identifier: CubeName,
        requirements: Mapping[CubeName, Iterator[Requirement]],
        incompatibilities: Mapping[CubeName, Iterator[Candidate]],
    ) -> list[Candidate]:
        self._check_time()
        wanted = list(requirements[identifier])
        bad = {candidate.manifest_digest for candidate in incompatibilities[identifier]}
        matches = [
            candidate
            for candidate in self.all_candidates(identifier, wanted)
            if candidate.manifest_digest not in bad
            and all(
                _allows(requirement, candidate, self._installed.get(identifier))
                for requirement in wanted
            )
        ]
        preferred = self._preferred.get(identifier)
        return sorted(matches, key=lambda c: (c.version == preferred, c.version), reverse=True)

    def is_satisfied_by(self, requirement: Requirement, candidate: Candidate) -> bool:
        return _allows(requirement, candidate, self._installed.get(candidate.name))

    def get_dependencies(self, candidate: Candidate) -> list[Requirement]:
        self._check_time()
        return candidate.requirements() if self._with_dependencies else []

    def narrow_requirement_selection(
        self,
        identifiers: Iterable[CubeName],
        resolutions: Mapping[CubeName, Candidate],
        candidates: Mapping[CubeName, Iterator[Candidate]],
        information: Mapping[CubeName, Iterator[Any]],
        backtrack_causes: Sequence[Any],
    ) -> Iterable[CubeName]:
        return identifiers


def resolve(
    requirements: Sequence[Requirement],
    index: Index,
    preferred: Mapping[CubeName, Version] | None = None,
    max_rounds: int = 2000,
    max_seconds: float = 30.0,
    installed: Mapping[CubeName, Version] | None = None,
    *,
    with_dependencies: bool = True,
) -> dict[CubeName, Candidate]:
    """Choose one candidate per cube so every requirement and dependency holds
    (``with_dependencies=False``: the requirements alone, as ``--no-deps``).

    ``preferred`` versions win when they fit (the installed ones, unless upgrading);
    ``installed`` versions stay acceptable even when yanked.

    Raises :class:`NotFoundError` for an unknown cube and :class:`ResolutionError` with one
    readable sentence when the set cannot be satisfied, or when it is not found within
    ``max_rounds`` rounds or ``max_seconds`` seconds (the time spent asking the index counts).
    """
    from resolvelib import BaseReporter, Resolver
    from resolvelib.resolvers import ResolutionImpossible, ResolutionTooDeep

    provider = _Provider(
        index, preferred or {}, time.monotonic() + max_seconds, installed, with_dependencies
    )
    resolver: Any = Resolver(provider, BaseReporter())  # type: ignore[arg-type]
    try:
        result = resolver.resolve(list(requirements), max_rounds=max_rounds)
    except ResolutionImpossible as exc:
        raise ResolutionError(explain(list(exc.causes), provider)) from None
    except ResolutionTooDeep:
        raise ResolutionError(
            f"gave up resolving after {max_rounds} rounds: the constraints conflict in too many "
            "ways; pin some cubes exactly (==VERSION)"
        ) from None
    except _OutOfTimeError:
        raise ResolutionError(
            f"gave up resolving after {max_seconds:g} s: the constraints conflict in too many "
            "ways; pin some cubes exactly (==VERSION)"
        ) from None
    return dict(result.mapping)


def _describe_versions(candidates: Sequence[Candidate]) -> str:
    if not candidates:
        return "it has no versions"
    ordered = sorted(candidates, key=lambda c: c.version)
    shown = [c.version_text + (" (yanked)" if c.yanked else "") for c in ordered[-8:]]
    prefix = "..., " if len(ordered) > 8 else ""
    return "available: " + prefix + ", ".join(shown)


def explain(causes: Sequence[Any], provider: _Provider) -> str:
    """One sentence naming each conflicting requirement, who asked for it, and what exists."""
    by_name: dict[CubeName, list[str]] = {}
    for cause in causes:
        requirement: Requirement = cause.requirement
        asked_by = f"required by {cause.parent}" if cause.parent is not None else "requested"
        entry = f"{requirement.text} ({asked_by})"
        entries = by_name.setdefault(requirement.name, [])
        if entry not in entries:
            entries.append(entry)
    sentences = []
    for name, entries in by_name.items():
        available = _describe_versions(provider.all_candidates(name))
        if len(entries) == 1:
            sentences.append(f"no version of {name} satisfies {entries[0]}; {available}")
        else:
            sentences.append(
                f"no version of {name} satisfies all of {', '.join(entries)}; {available}"
            )
    return "cannot resolve: " + "; ".join(sentences)
