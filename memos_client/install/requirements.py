"""Requirements ``NS/NAME[SPEC]`` and the ``memos.toml`` file that lists them.

``memos.toml``::

    index-url = "http://127.0.0.1:8000"   # optional
    cubes = ["alice/cooking>=1,<2", "bob/spices"]
"""

from __future__ import annotations

import re
from pathlib import Path

import msgspec

from memos_client.errors import UsageError
from mip.errors import MIPError
from mip.names import CubeName, normalize_cube_name
from mip.versions import SpecifierSet, parse_specifier

_REQUIREMENT_RE = re.compile(r"\s*([A-Za-z0-9._-]+/[A-Za-z0-9._-]+)\s*((?:[=!<>~@*].*)?)\s*")


class Requirement(msgspec.Struct, frozen=True):
    """A cube name (normal form) and the versions acceptable for it."""

    name: CubeName
    specifier: SpecifierSet
    text: str

    @property
    def exact_pin(self) -> str | None:
        """The version text when the requirement is a single ``==V`` clause, else ``None``."""
        clauses = self.specifier.clauses
        if len(clauses) == 1 and clauses[0].operator == "==":
            return str(clauses[0].version)
        return None

    def __str__(self) -> str:
        return self.text


def parse_requirement(text: str) -> Requirement:
    """Parse ``alice/cooking>=1,<2`` (or ``alice/cooking@1.0.0``); raise :class:`UsageError`."""
    match = _REQUIREMENT_RE.fullmatch(text)
    if match is None:
        raise UsageError(
            f"invalid requirement {text!r}: expected NAMESPACE/NAME optionally followed by a "
            "version specifier, like alice/cooking>=1,<2"
        )
    raw_name, raw_spec = match.groups()
    if raw_spec.startswith("@"):
        raw_spec = "==" + raw_spec[1:].strip()
    try:
        name = normalize_cube_name(raw_name)
        specifier = parse_specifier(raw_spec)
    except MIPError as exc:
        raise UsageError(f"invalid requirement {text!r}: {exc}") from exc
    return Requirement(name, specifier, requirement_text(name, raw_spec))


def requirement_text(name: str, specifier_text: str) -> str:
    """How a requirement is shown: the name and the specifier as written, without spaces."""
    compact = "".join(specifier_text.split())
    return name + ("" if compact in ("", "*") else compact)


class ProjectFile(msgspec.Struct, frozen=True):
    """A parsed ``memos.toml``."""

    path: Path
    requirements: list[Requirement]
    index_url: str | None


def load_project_file(path: Path) -> ProjectFile:
    """Read ``memos.toml``; every problem is reported in one :class:`UsageError`."""
    import tomllib  # only here: `memos install NAME` never reads TOML

    try:
        document = tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path} does not exist: create it with a `cubes = [...]` list") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: not valid TOML ({exc})") from exc
    problems: list[str] = []
    unknown = sorted(set(document) - {"cubes", "index-url"})
    if unknown:
        problems.append(f"unknown keys {', '.join(unknown)} (expected 'cubes' and 'index-url')")
    cubes = document.get("cubes")
    requirements: list[Requirement] = []
    if not isinstance(cubes, list) or not all(isinstance(item, str) for item in cubes):
        problems.append("'cubes' must be a list of strings like \"alice/cooking>=1\"")
    else:
        for item in cubes:
            try:
                requirements.append(parse_requirement(item))
            except UsageError as exc:
                problems.append(str(exc))
    index_url = document.get("index-url")
    if index_url is not None and not isinstance(index_url, str):
        problems.append("'index-url' must be a string")
        index_url = None
    if problems:
        raise UsageError(f"{path}: " + "; ".join(problems))
    return ProjectFile(path, requirements, index_url)
