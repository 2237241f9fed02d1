"""What an import kept and what it dropped, field by field, and why.

Readers fill an :class:`ImportBatch` (the records and a :class:`Ledger` of notes); the importer
turns it into the :class:`ImportReport` that ``memos import`` prints (``--json`` too).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

import msgspec

from mip.errors import InvalidNameError
from mip.names import normalize_cube_name

#: Why a field no reader knows was left out: a newer version of the other system may have added
#: it; the import goes on, and the report names it.
UNKNOWN_FIELD = "a field this importer does not know: left out"


def is_empty(value: Any) -> bool:
    """Nothing to carry: null (a nullable field left null), an empty string, list or object."""
    return value is None or (isinstance(value, str | list | dict) and not value)


class FieldNote(msgspec.Struct):
    """One source field: where it went (``target``) or why it was dropped, in how many items."""

    field: str
    action: str  # "kept" or "dropped"
    target: str | None = None
    reason: str | None = None
    count: int = 0


class Dropped(msgspec.Struct):
    """A whole thing left out (a file, a kind of item), why, and what to do instead."""

    what: str
    reason: str
    count: int = 1
    advice: str | None = None


class Ledger:
    """Collects field notes (counted per field) and dropped things, in first-seen order."""

    def __init__(self) -> None:
        self._fields: dict[tuple[str, str], FieldNote] = {}
        self.dropped: list[Dropped] = []

    def kept(self, field: str, target: str, count: int = 1) -> None:
        """``field`` was imported as ``target``."""
        note = self._fields.get((field, "kept"))
        if note is None:  # built once per field, not once per item: imports run this per field
            note = self._fields[field, "kept"] = FieldNote(field, "kept", target)
        note.count += count

    def lost(self, field: str, reason: str, count: int = 1) -> None:
        """``field`` was not imported, because ``reason``."""
        note = self._fields.get((field, "dropped"))
        if note is None:
            note = self._fields[field, "dropped"] = FieldNote(field, "dropped", None, reason)
        note.count += count

    def rest(
        self,
        kind: str,
        item: Mapping[str, Any],
        handled: Collection[str],
        reasons: Mapping[str, str],
    ) -> None:
        """Account for the fields of ``item`` the reader did not use (those not in ``handled``):
        each one with a value is noted as ``KIND.FIELD`` (``FIELD`` at a file's top level), dropped for the reason ``reasons``
        gives it, or as unknown (:data:`UNKNOWN_FIELD`). Empty and null fields carry nothing."""
        for key, value in item.items():
            if key in handled or is_empty(value):
                continue
            self.lost(f"{kind}.{key}" if kind else key, reasons.get(key, UNKNOWN_FIELD))

    def timestamp(self, item: Mapping[str, Any], key: str, kind: str) -> str | None:
        """``item[key]`` as an RFC 3339 UTC timestamp; a value that is not a time this
        importer can read is reported as ``KIND.KEY`` dropped, never guessed."""
        from memos_client.ingest.messages import rfc3339

        value = item.get(key)
        moment = rfc3339(value)
        if moment is None and not is_empty(value):
            self.lost(f"{kind}.{key}", "not a timestamp this importer can read")
        return moment

    def drop(self, what: str, reason: str, count: int = 1, advice: str | None = None) -> None:
        """A whole item or file was left out."""
        for entry in self.dropped:
            if (entry.what, entry.reason) == (what, reason):
                entry.count += count
                return
        self.dropped.append(Dropped(what, reason, count, advice))

    @property
    def fields(self) -> list[FieldNote]:
        """Every field note, kept ones first."""
        notes = list(self._fields.values())
        return [n for n in notes if n.action == "kept"] + [n for n in notes if n.action != "kept"]


class ImportBatch(msgspec.Struct):
    """What a reader found: records ready for the runtime, and its notes."""

    format: str
    cube: str
    records: list[dict[str, Any]]
    found: dict[str, int]
    ledger: Any  # Ledger (not a msgspec type)


class ImportReport(msgspec.Struct):
    """The outcome of ``memos import`` (or what ``--dry-run`` would do)."""

    source: str
    format: str
    cube: str
    dry_run: bool
    found: dict[str, int]
    imported: int
    added: int
    changed: int
    unchanged: int
    fields: list[FieldNote]
    dropped: list[Dropped]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return msgspec.to_builtins(self)  # type: ignore[no-any-return]

    def render(self) -> str:
        """The report as text for a terminal."""
        verb = "would import" if self.dry_run else "imported"
        found = ", ".join(f"{count} {kind}" for kind, count in self.found.items()) or "nothing"
        lines = [
            f"{self.source} ({self.format}): found {found}",
            f"{verb} {self.imported} memories into {self.cube} ({self.added} new, "
            f"{self.changed} changed, {self.unchanged} unchanged)",
        ]
        kept = [note for note in self.fields if note.action == "kept"]
        lost = [note for note in self.fields if note.action != "kept"]
        if kept:
            lines.append("fields kept:")
            lines.extend(f"  {n.field} -> {n.target}  ({n.count})" for n in kept)
        if lost:
            lines.append("fields dropped:")
            lines.extend(f"  {n.field}: {n.reason}  ({n.count})" for n in lost)
        if self.dropped:
            lines.append("left out:")
            for entry in self.dropped:
                advice = f"; {entry.advice}" if entry.advice else ""
                count = f" ({entry.count})" if entry.count != 1 else ""
                lines.append(f"  {entry.what}{count}: {entry.reason}{advice}")
        if self.dry_run:
            lines.append("dry run: nothing was written")
        return "\n".join(lines)


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def derived_cube_name(namespace: str, name: str) -> str:
    """A valid cube name from another system's identifiers (``memos/alice-travel``)."""
    if "/" in name:
        try:
            return str(normalize_cube_name(name))
        except InvalidNameError:
            name = name.replace("/", "-")
    segment = _UNSAFE.sub("-", name).strip("-._")[:100].strip("-._") or "imported"
    return str(normalize_cube_name(f"{namespace}/{segment}"))
