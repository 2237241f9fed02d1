"""SemVer 2.0 versions and version specifiers (MIP-1 §3.2, §3.3).

A specifier set is a comma-separated conjunction of clauses ``OP VERSION`` with ``OP`` one of
``==``, ``!=``, ``>=``, ``<=``, ``>``, ``<``, ``~=``. A clause version may be partial
(``2``, ``1.2``); missing components are zero. ``~=1.2`` means ``>=1.2.0,<2.0.0`` and ``~=1.2.3``
means ``>=1.2.3,<1.3.0``. Pre-releases match only when a clause names a pre-release or the caller
asks for them (the rule pip applies).
"""

from __future__ import annotations

import re

import msgspec

from mip.errors import InvalidSpecifierError, InvalidVersionError
from mip.limits import MAX_VERSION_CHARS

_SEMVER_RE = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?",
    re.ASCII,
)
_PARTIAL_RE = re.compile(
    r"(0|[1-9]\d*)(?:\.(0|[1-9]\d*)(?:\.(0|[1-9]\d*))?)?"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?",
    re.ASCII,
)
MAX_VERSION_LENGTH = MAX_VERSION_CHARS


class Version(msgspec.Struct, frozen=True):
    """A parsed SemVer 2.0 version, ordered by SemVer precedence (build metadata ignored).

    Every comparison goes through ``_key``; a Struct's own would compare field by field.
    """

    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...] = ()
    build: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Version:
        """Parse a full SemVer string or raise :class:`InvalidVersionError`."""
        if not isinstance(text, str) or len(text) > MAX_VERSION_LENGTH:
            raise InvalidVersionError(f"invalid version {text!r}: expected SemVer like 1.2.3")
        match = _SEMVER_RE.fullmatch(text)
        if not match:
            raise InvalidVersionError(
                f"invalid version {text!r}: expected SemVer MAJOR.MINOR.PATCH like 1.2.3"
            )
        major, minor, patch, pre, build = match.groups()
        return cls(
            int(major),
            int(minor),
            int(patch),
            tuple(pre.split(".")) if pre else (),
            tuple(build.split(".")) if build else (),
        )

    @property
    def is_prerelease(self) -> bool:
        """True for versions like ``1.0.0-rc.1``."""
        return bool(self.prerelease)

    def _key(self) -> tuple[int, int, int, int, tuple[tuple[int, int | str], ...]]:
        # SemVer §11: a pre-release sorts before its release; numeric identifiers sort
        # numerically and before alphanumeric ones.
        identifiers = tuple(
            (0, int(part)) if part.isdigit() else (1, part) for part in self.prerelease
        )
        return (self.major, self.minor, self.patch, 0 if self.prerelease else 1, identifiers)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() < other._key()

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() <= other._key()

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() > other._key()

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() >= other._key()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() == other._key()

    def __ne__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() != other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += "-" + ".".join(self.prerelease)
        if self.build:
            text += "+" + ".".join(self.build)
        return text


def parse_version(text: str) -> Version:
    """Parse a SemVer version (see :meth:`Version.parse`)."""
    return Version.parse(text)


_OPERATORS = ("==", "!=", ">=", "<=", "~=", ">", "<")


class Specifier(msgspec.Struct, frozen=True):
    """One clause ``OP VERSION`` of a specifier set."""

    operator: str
    version: Version
    components: int

    def contains(self, version: Version) -> bool:
        """Whether ``version`` satisfies this clause (pre-release policy is the set's job)."""
        target = self.version
        if self.operator == "==":
            return version == target
        if self.operator == "!=":
            return version != target
        if self.operator == ">=":
            return version >= target
        if self.operator == "<=":
            return version <= target
        if self.operator == ">":
            return version > target
        if self.operator == "<":
            return version < target
        # ~=: at least the target, below the next release of the second-to-last given component.
        if self.components <= 2:
            upper = Version(target.major + 1, 0, 0, ("0",))
        else:
            upper = Version(target.major, target.minor + 1, 0, ("0",))
        return target <= version < upper

    def __str__(self) -> str:
        return f"{self.operator}{self.version}"


class SpecifierSet(msgspec.Struct, frozen=True):
    """A conjunction of :class:`Specifier` clauses; the empty set matches every release."""

    clauses: tuple[Specifier, ...]

    @classmethod
    def parse(cls, text: str) -> SpecifierSet:
        """Parse ``">=1.2,<2"`` (or ``""`` / ``"*"`` for any version)."""
        if not isinstance(text, str) or len(text) > 1024:
            raise InvalidSpecifierError(f"invalid version specifier {text!r}")
        stripped = text.strip()
        if stripped in ("", "*"):
            return cls(())
        clauses = []
        for raw in stripped.split(","):
            clause = raw.strip()
            operator = next((op for op in _OPERATORS if clause.startswith(op)), None)
            if operator is None:
                raise InvalidSpecifierError(
                    f"invalid version specifier {text!r}: clause {clause!r} has no operator "
                    "(use ==, !=, >=, <=, >, < or ~=)"
                )
            version_text = clause[len(operator) :].strip()
            match = _PARTIAL_RE.fullmatch(version_text)
            if not match:
                raise InvalidSpecifierError(
                    f"invalid version specifier {text!r}: {version_text!r} is not a version"
                )
            major, minor, patch, pre = match.groups()
            components = 1 + (minor is not None) + (patch is not None)
            if operator == "~=" and components == 1:
                raise InvalidSpecifierError(
                    f"invalid version specifier {text!r}: '~=' needs at least MAJOR.MINOR"
                )
            version = Version(
                int(major),
                int(minor or 0),
                int(patch or 0),
                tuple(pre.split(".")) if pre else (),
            )
            clauses.append(Specifier(operator, version, components))
        return cls(tuple(clauses))

    @property
    def names_prerelease(self) -> bool:
        """True when a clause names a pre-release, which lets pre-releases match."""
        return any(clause.version.is_prerelease for clause in self.clauses)

    def contains(self, version: Version, prereleases: bool | None = None) -> bool:
        """Whether ``version`` satisfies every clause, under the pre-release rule."""
        allow_pre = self.names_prerelease if prereleases is None else prereleases
        if version.is_prerelease and not allow_pre:
            return False
        return all(clause.contains(version) for clause in self.clauses)

    def __str__(self) -> str:
        return ",".join(str(clause) for clause in self.clauses)


def parse_specifier(text: str) -> SpecifierSet:
    """Parse a specifier set (see :meth:`SpecifierSet.parse`)."""
    return SpecifierSet.parse(text)
