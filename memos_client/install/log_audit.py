"""``memos log verify`` and ``memos log watch``: the transparency log after the install.

- :func:`verify_installed` re-checks every installed cube against its registry's log (online: a
  fresh inclusion proof in a checkpoint that extends the one this home accepted; offline: the
  tlog-proof stored when it was installed);
- :func:`watch_namespace` is a monitor (spec §12.9): every event of a namespace since a tree
  size, read from tiles proven against a verified checkpoint, each flagged when a key it names is
  not one the owner expects -- how a version published with a stolen token shows up.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import msgspec

from memos_client.errors import UsageError
from memos_client.install.installer import cube_dir
from memos_client.install.target import RuntimeOpener, read_installed
from memos_client.trust.log_check import CubeRef, LogCheck, Verified


class CubeCheck(msgspec.Struct):
    """One installed cube's outcome: verified (with its entry), or skipped and why."""

    name: str
    version: str
    source: str
    index: int | None = None
    tree_size: int | None = None
    yanked_in_log: bool = False
    skipped: str | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form for ``--json``."""
        return msgspec.to_builtins(self)  # type: ignore[no-any-return]


def _source(home: Path, name: str, digest: str) -> str:
    try:
        origin = json.loads((cube_dir(home, name, digest) / "origin.json").read_text("utf-8"))
    except (OSError, ValueError):
        return ""
    source = origin.get("source") if isinstance(origin, dict) else None
    return source if isinstance(source, str) else ""


def verify_installed(
    home: Path,
    open_runtime: RuntimeOpener,
    *,
    offline: bool = False,
    allow_unlogged: bool = False,
) -> tuple[list[CubeCheck], list[str]]:
    """Check every installed cube against its registry's log; return the outcomes and the
    warnings. A failed check raises :class:`~memos_client.errors.LogVerificationError`."""
    installed = read_installed(open_runtime, home)
    by_source: dict[str, list[CubeRef]] = {}
    results: list[CubeCheck] = []
    for cube in installed:
        source = _source(home, cube.name, cube.manifest_digest)
        if not source.startswith(("http://", "https://")):
            results.append(
                CubeCheck(cube.name, cube.version, source, skipped="installed from a local file")
            )
            continue
        ref = CubeRef(cube.name, cube.version, cube.manifest_digest, exact=True)
        by_source.setdefault(source, []).append(ref)
    warnings: list[str] = []
    for source, refs in sorted(by_source.items()):
        check = LogCheck(home, source, allow_unlogged=allow_unlogged)
        if offline:
            verified = check.verify_offline(refs)
        else:
            from memos_client.registry.client import RegistryClient

            with RegistryClient(source) as client:
                verified = check.verify_online(client, refs)
        warnings.extend(check.warnings)
        check.save()
        done = {v.cube.manifest_digest: v for v in verified}
        for ref in refs:
            found: Verified | None = done.get(ref.manifest_digest)
            if found is None:
                results.append(CubeCheck(ref.name, ref.version, source, skipped="not checked"))
            else:
                results.append(
                    CubeCheck(
                        ref.name,
                        ref.version,
                        source,
                        found.index,
                        found.tree_size,
                        ref.manifest_digest in check.verified_yanked,
                    )
                )
    return sorted(results, key=lambda r: r.name), warnings


class WatchedEvent(msgspec.Struct):
    """One event of the watched namespace, and the keys it names that were not expected."""

    index: int
    event: str
    time: str
    key_ids: list[str]
    name: str | None = None
    version: str | None = None
    manifest_digest: str | None = None
    unexpected: list[str] = msgspec.field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form for ``--json``."""
        return msgspec.to_builtins(self)  # type: ignore[no-any-return]


class WatchReport(msgspec.Struct):
    """What ``memos log watch`` read: the range, the verified head, the namespace's events."""

    namespace: str
    start: int
    tree_size: int
    origin: str
    expected: list[str]
    events: list[WatchedEvent]

    @property
    def unexpected(self) -> list[WatchedEvent]:
        """The events naming a key that was not expected."""
        return [event for event in self.events if event.unexpected]


def _expected_keys(home: Path, namespace: str, given: Sequence[str]) -> list[str]:
    from memos_client.trust.store import load_pins

    if given:
        bad = [key for key in given if not (8 <= len(key) <= 64 and _is_hex(key))]
        if bad:
            raise UsageError(
                f"--expect-key {bad[0]!r} is not a key id (8 to 64 lower-case hex digits; "
                "`memos key list` shows yours)"
            )
        return sorted(set(given))
    pin = load_pins(home).get(namespace)
    if pin is None:
        raise UsageError(
            f"no key is pinned for namespace {namespace!r} in this home: name the keys its "
            "events may carry with --expect-key KEYID (repeatable)"
        )
    return sorted(pin.keys)


def _is_hex(text: str) -> bool:
    return all(char in "0123456789abcdef" for char in text)


def _unexpected(key_ids: Collection[str], expected: Collection[str]) -> list[str]:
    return [key for key in key_ids if not any(key.startswith(prefix) for prefix in expected)]


def watch_namespace(
    home: Path,
    registry_url: str,
    namespace: str,
    *,
    since: int | None = None,
    expect_keys: Sequence[str] = (),
) -> WatchReport:
    """Every event of ``namespace`` from entry ``since`` (default: where the last watch of it
    stopped, else 0) to the current verified checkpoint."""
    from memos_client.registry.client import RegistryClient
    from memos_client.trust.log_scan import read_proven_entries
    from mip.errors import MIPError
    from mip.names import validate_namespace
    from mip.transparency.entries import decode_entry

    try:
        namespace = validate_namespace(namespace)
    except MIPError as exc:
        raise UsageError(f"invalid namespace {namespace!r}: {exc}") from exc
    expected = _expected_keys(home, namespace, expect_keys)
    check = LogCheck(home, registry_url)
    with RegistryClient(registry_url) as client:
        check.verify_online(client, [])
        current = check.checkpoint
        assert current is not None  # verify_online sets it, or raised
        start = since if since is not None else 0
        if since is None and check.state is not None:
            start = check.state.watched.get(namespace, 0)
        if start > current.size:
            raise UsageError(f"--since {start} is past the log's {current.size} entries")
        entries = read_proven_entries(client, current, start, current.size)
    events = []
    for offset, data in enumerate(entries):
        entry = decode_entry(data)
        if entry.namespace != namespace:
            continue
        events.append(
            WatchedEvent(
                start + offset,
                entry.event,
                entry.time.strftime("%Y-%m-%dT%H:%M:%SZ"),
                list(entry.key_ids),
                entry.name,
                entry.version,
                entry.manifest_digest,
                _unexpected(entry.key_ids, expected),
            )
        )
    report = WatchReport(namespace, start, current.size, current.origin, expected, events)
    check.save()
    if not report.unexpected:
        # Only a clean range is marked as read: a flagged event shows again until resolved.
        _mark_watched(home, registry_url, namespace, current.size)
    return report


def _mark_watched(home: Path, registry_url: str, namespace: str, size: int) -> None:
    from memos_client.trust.log_state import load_log_states, save_log_states

    states = load_log_states(home)
    state = states.registries.get(registry_url)
    if state is not None:
        state.watched[namespace] = size
        save_log_states(states, home)
