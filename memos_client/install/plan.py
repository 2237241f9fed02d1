"""What an install, sync or uninstall would change (``--dry-run``): computed, never applied.

The same resolution as the real command (:func:`memos_client.install.resolver.resolve` with the
installed versions preferred), compared with what is installed; nothing is downloaded,
installed, pinned or cached.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import msgspec

from memos_client.install.requirements import Requirement
from memos_client.install.resolver import Candidate, resolve
from memos_client.install.session import Options, open_session
from memos_client.install.target import read_installed
from mip.names import CubeName
from mip.versions import Version


class Change(msgspec.Struct):
    """One cube's change: ``install``, ``upgrade``, ``downgrade``, ``replace`` (same version,
    other content), ``reinstall`` (--force-reinstall), ``unchanged`` or ``remove``."""

    action: str
    name: str
    version: str
    previous_version: str | None = None
    yanked: bool = False
    yank_reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form for ``--json``."""
        return {f: getattr(self, f) for f in self.__struct_fields__}


def _installed(options: Options) -> dict[str, tuple[str, str]]:
    """name -> (version, manifest digest) of the installed cubes (nothing created if none)."""
    cubes = read_installed(options.open_runtime, options.home)
    return {c.name: (c.version, c.manifest_digest) for c in cubes}


def _changes(
    resolved: Sequence[Candidate], installed: Mapping[str, tuple[str, str]], force: bool
) -> list[Change]:
    changes = []
    for candidate in resolved:
        name = str(candidate.name)
        before = installed.get(name)
        if before is None:
            action = "install"
        elif before[1] == str(candidate.manifest_digest):
            action = "reinstall" if force else "unchanged"
        else:
            old, new = Version.parse(before[0]), candidate.version
            action = "upgrade" if new > old else "downgrade" if new < old else "replace"
        changes.append(
            Change(
                action,
                name,
                candidate.version_text,
                before[0] if before else None,
                candidate.yanked,
                candidate.yank_reason,
            )
        )
    return changes


def plan_install(requirements: Sequence[Requirement], options: Options) -> list[Change]:
    """What ``memos install`` would do with ``requirements``."""
    installed = _installed(options)
    preferred = (
        {}
        if options.upgrade
        else {CubeName(n): Version.parse(v) for n, (v, _) in installed.items()}
    )
    session = open_session(options)
    try:
        resolved = resolve(
            requirements, session.registry, preferred, with_dependencies=not options.no_deps
        )
    finally:
        session.close()
    ordered = [resolved[name] for name in sorted(resolved)]
    return _changes(ordered, installed, options.force_reinstall)


def plan_sync(candidates: Sequence[Candidate], options: Options) -> list[Change]:
    """What ``memos sync`` would do to make the installed cubes exactly ``candidates``."""
    installed = _installed(options)
    wanted = {str(c.name) for c in candidates}
    changes = _changes(sorted(candidates, key=lambda c: c.name), installed, False)
    changes += [
        Change("remove", name, version)
        for name, (version, _) in sorted(installed.items())
        if name not in wanted
    ]
    return changes


def check_installed(names: Sequence[str], installed: Collection[str]) -> None:
    """Raise :class:`NotFoundError` naming what of ``names`` is not installed (and the nearest
    installed name)."""
    unknown = [name for name in names if name not in installed]
    if unknown:
        import difflib

        from memos_client.errors import NotFoundError

        close = difflib.get_close_matches(unknown[0], list(installed), n=1)
        hint = f"did you mean {close[0]}?" if close else "`memos list` shows what is installed"
        raise NotFoundError(f"not installed: {', '.join(unknown)}; {hint}")


def plan_uninstall(names: Sequence[CubeName], options: Options) -> list[Change]:
    """What ``memos uninstall`` would remove (the same not-installed error as the real one)."""
    installed = _installed(options)
    check_installed(names, installed)
    return [Change("remove", name, installed[name][0]) for name in dict.fromkeys(names)]
