"""The canonical bytes of one transparency log entry (spec/MIP-1-registry.md §12.2).

An entry is ASCII text, one ``key value`` line per field, in this fixed order, each line ending
in a newline; a line is present exactly when the event has that field::

    memstore-log-entry/v1
    event publish                     publish | yank | unyank | key-register | key-rotate | key-revoke
    namespace alice                   normal form (MIP-1 §3.1)
    name alice/cooking                version events: the cube's normal form
    version 1.2.0                     version events: the version as published
    manifest sha256:<64 hex>          version events: the manifest digest
    keys <64 hex> [<64 hex> ...]      signers of the version / the key(s) of a key event, sorted
    statement sha256:<64 hex>         key events, optional: the digest of the signed statement
    time 2026-01-01T00:00:00Z         UTC, whole seconds

Every value is ASCII without spaces (names, SemVer versions, hex digests), so the text needs no
escaping and each event has exactly one encoding: :func:`decode_entry` refuses anything that
:func:`encode_entry` would not write byte for byte.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Literal, cast, get_args

import msgspec

from mip.digests import parse_digest
from mip.errors import LogEntryError, LogEntryMismatchError, MIPError
from mip.names import normalize_cube_name, validate_namespace
from mip.versions import Version

HEADER = "memstore-log-entry/v1"
#: A log entry must fit an entry bundle's uint16 length prefix.
MAX_ENTRY_SIZE = 0xFFFF

EventKind = Literal["publish", "yank", "unyank", "key-register", "key-rotate", "key-revoke"]
VERSION_EVENTS: tuple[EventKind, ...] = ("publish", "yank", "unyank")
KEY_EVENTS: tuple[EventKind, ...] = ("key-register", "key-rotate", "key-revoke")
_EVENTS = frozenset(get_args(EventKind))
_KEY_ID_RE = re.compile(r"[0-9a-f]{64}")
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_TIME_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")


class LogEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One logged event. Version events carry ``name``, ``version`` and ``manifest_digest``;
    key events carry none of them and may carry ``statement_digest``."""

    event: EventKind
    namespace: str
    time: datetime
    key_ids: tuple[str, ...]
    name: str | None = None
    version: str | None = None
    manifest_digest: str | None = None
    statement_digest: str | None = None


def version_event(
    event: EventKind,
    name: str,
    version: str,
    manifest_digest: str,
    signer_key_ids: tuple[str, ...] | list[str],
    time: datetime,
) -> LogEntry:
    """The entry of a publish, yank or unyank of ``name`` ``version`` (any spelling of the name;
    the entry holds its normal form)."""
    normal = normalize_cube_name(name)
    return LogEntry(
        event=event,
        namespace=normal.split("/")[0],
        name=normal,
        version=version,
        manifest_digest=manifest_digest,
        key_ids=tuple(sorted(set(signer_key_ids))),
        time=time,
    )


def key_event(
    event: EventKind,
    namespace: str,
    key_ids: tuple[str, ...] | list[str],
    time: datetime,
    statement_digest: str | None = None,
) -> LogEntry:
    """The entry of a key registration, rotation or revocation in ``namespace``."""
    return LogEntry(
        event=event,
        namespace=validate_namespace(namespace),
        key_ids=tuple(sorted(set(key_ids))),
        time=time,
        statement_digest=statement_digest,
    )


def _problems(entry: LogEntry) -> list[str]:
    """Everything wrong with ``entry`` (all of it, so one error names every problem)."""
    problems = []
    if entry.event not in _EVENTS:
        problems.append(f"unknown event {entry.event!r}")
    try:
        if validate_namespace(entry.namespace) != entry.namespace:
            problems.append(f"namespace {entry.namespace!r} is not in its normal form")
    except MIPError as exc:
        problems.append(str(exc))
    version_fields = (entry.name, entry.version, entry.manifest_digest)
    if entry.event in VERSION_EVENTS:
        if None in version_fields:
            problems.append(f"a {entry.event} entry names the cube, version and manifest")
        else:
            assert entry.name is not None
            assert entry.version is not None
            try:
                if normalize_cube_name(entry.name) != entry.name:
                    problems.append(f"cube name {entry.name!r} is not in its normal form")
                elif entry.name.split("/")[0] != entry.namespace:
                    problems.append(f"cube {entry.name!r} is not in namespace {entry.namespace!r}")
                Version.parse(entry.version)
                parse_digest(entry.manifest_digest or "")
            except MIPError as exc:
                problems.append(str(exc))
        if entry.statement_digest is not None:
            problems.append(f"a {entry.event} entry has no statement")
    elif entry.event in KEY_EVENTS:
        if any(field is not None for field in version_fields):
            problems.append(f"a {entry.event} entry names no cube, version or manifest")
        if entry.statement_digest is not None:
            try:
                parse_digest(entry.statement_digest)
            except MIPError as exc:
                problems.append(str(exc))
    if not entry.key_ids:
        problems.append("an entry names at least one key id")
    if list(entry.key_ids) != sorted(set(entry.key_ids)):
        problems.append("key ids are listed once each, in ascending order")
    problems.extend(
        f"key id {key_id[:70]!r} is not 64 lower-case hex digits"
        for key_id in entry.key_ids
        if not _KEY_ID_RE.fullmatch(key_id)
    )
    if entry.time.tzinfo is None or entry.time.utcoffset() != timedelta(0):
        problems.append("the time of an entry is UTC")
    elif entry.time.microsecond:
        problems.append("the time of an entry is in whole seconds")
    return problems


def encode_entry(entry: LogEntry) -> bytes:
    """The canonical bytes of ``entry``; an invalid entry raises :class:`LogEntryError`
    naming every problem."""
    problems = _problems(entry)
    if problems:
        raise LogEntryError("invalid log entry: " + "; ".join(problems))
    lines = [HEADER, f"event {entry.event}", f"namespace {entry.namespace}"]
    if entry.event in VERSION_EVENTS:
        lines += [
            f"name {entry.name}",
            f"version {entry.version}",
            f"manifest {entry.manifest_digest}",
        ]
    lines.append("keys " + " ".join(entry.key_ids))
    if entry.statement_digest is not None:
        lines.append(f"statement {entry.statement_digest}")
    lines.append("time " + entry.time.strftime(_TIME_FORMAT))
    data = "".join(line + "\n" for line in lines).encode("ascii")
    if len(data) > MAX_ENTRY_SIZE:
        raise LogEntryError(f"a log entry of {len(data)} bytes is over {MAX_ENTRY_SIZE}")
    return data


def decode_entry(data: bytes) -> LogEntry:
    """The entry whose canonical bytes are ``data``; anything else raises
    :class:`LogEntryError`."""
    if len(data) > MAX_ENTRY_SIZE or not data.isascii() or not data.endswith(b"\n"):
        raise LogEntryError("a log entry is ASCII text of at most 65535 bytes ending in a newline")
    lines = data.decode("ascii")[:-1].split("\n")
    if lines[0] != HEADER:
        raise LogEntryError(f"a log entry starts with the line {HEADER!r}")
    fields: dict[str, str] = {}
    for line in lines[1:]:
        key, space, value = line.partition(" ")
        if not space or not value or key in fields:
            raise LogEntryError(f"malformed log entry line {line[:80]!r}")
        fields[key] = value
    try:
        if not _TIME_RE.fullmatch(fields.get("time", "")):
            raise ValueError("not YYYY-MM-DDTHH:MM:SSZ")
        time = datetime.strptime(fields["time"], _TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError as exc:
        raise LogEntryError(f"invalid log entry time {fields.get('time', '')[:40]!r}") from exc
    event = fields.get("event", "")
    if event not in _EVENTS:
        raise LogEntryError(f"unknown log entry event {event[:40]!r}")
    entry = LogEntry(
        event=cast(EventKind, event),  # checked against the Literal's values above
        namespace=fields.get("namespace", ""),
        name=fields.get("name"),
        version=fields.get("version"),
        manifest_digest=fields.get("manifest"),
        key_ids=tuple(fields.get("keys", "").split(" ")) if "keys" in fields else (),
        statement_digest=fields.get("statement"),
        time=time,
    )
    if encode_entry(entry) != data:
        raise LogEntryError("the log entry is not in canonical form (field order or spelling)")
    return entry


def check_entry_is(
    entry: LogEntry, event: EventKind, name: str, version: str, manifest_digest: str
) -> None:
    """Check that a logged ``entry`` records ``event`` of exactly this cube version and manifest
    (the client's check that a proof is about what it installs)."""
    expected = (event, normalize_cube_name(name), version, manifest_digest)
    found = (entry.event, entry.name, entry.version, entry.manifest_digest)
    if found != expected:
        raise LogEntryMismatchError(
            f"the log entry records {entry.event} of {entry.name} {entry.version} "
            f"(manifest {entry.manifest_digest}), not {event} of {expected[1]} {version} "
            f"(manifest {manifest_digest})"
        )
