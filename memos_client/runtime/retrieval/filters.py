"""Symbolic filters of a search: states, tags (all of / any of), creation time and metadata.

Metadata conditions map a field to a value (equality) or to operators, MongoDB-style:
``{"priority": {"$lt": 2}, "lang": {"$in": ["en", "fr"]}, "draft": {"$exists": False}}``.
Every condition is checked when the filters are parsed, so a bad one is one clear
:class:`UsageError` naming what is wrong (all of them at once), never a database error; they
become SQL predicates over ``items AS i`` with bound parameters (nothing of the input is ever
SQL text).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import msgspec

from memos_client.errors import UsageError
from memos_client.runtime.memory_types import DEFAULT_STATES, State, to_rfc3339, utc_now

#: The metadata operators and what their operand must be.
OPERATORS = {
    "$eq": "a string, number or boolean",
    "$ne": "a string, number or boolean",
    "$lt": "a string or number",
    "$lte": "a string or number",
    "$gt": "a string or number",
    "$gte": "a string or number",
    "$in": "a non-empty list of strings, numbers or booleans",
    "$exists": "true or false",
}
_COMPARE = {"$lt": "<", "$lte": "<=", "$gt": ">", "$gte": ">="}
_MAX_IN = 1000
_KNOWN = {"tags", "tags_any", "state", "states", "since", "until", "metadata"}


def _scalar(value: Any) -> bool:
    if isinstance(value, bool | str):
        return True
    return isinstance(value, int | float) and math.isfinite(value)


def _orderable(value: Any) -> bool:
    return _scalar(value) and not isinstance(value, bool)


def _check_operand(field: str, operator: str, operand: Any) -> str | None:
    """What is wrong with one condition, or None."""
    if operator not in OPERATORS:
        return f"{field}: unknown operator {operator!r} (use {', '.join(OPERATORS)})"
    if operator in ("$eq", "$ne"):
        ok = _scalar(operand)
    elif operator in _COMPARE:
        ok = _orderable(operand)
    elif operator == "$in":
        ok = (
            isinstance(operand, list | tuple)
            and 0 < len(operand) <= _MAX_IN
            and all(_scalar(value) for value in operand)
        )
    else:
        ok = isinstance(operand, bool)
    if not ok:
        return f"{field}: {operator} takes {OPERATORS[operator]}, got {operand!r:.60}"
    return None


def check_metadata_filter(value: Any) -> dict[str, dict[str, Any]]:
    """Metadata conditions as ``{field: {operator: operand}}``; every problem in one error."""
    if not isinstance(value, Mapping):
        raise UsageError("filters['metadata'] must be a mapping of field to value or operators")
    conditions: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    for field, condition in value.items():
        if not isinstance(field, str) or not field or not field.isprintable() or '"' in field:
            problems.append(f"{field!r}: a field name is printable text without '\"'")
            continue
        if isinstance(condition, Mapping):
            if not condition:
                problems.append(f"{field}: no operator (use {', '.join(OPERATORS)})")
            operators = dict(condition)
        else:
            operators = {"$eq": condition}
        for operator, operand in operators.items():
            problem = _check_operand(field, str(operator), operand)
            if problem is not None:
                problems.append(problem)
        conditions[field] = operators
    if problems:
        raise UsageError("invalid metadata filter: " + "; ".join(problems))
    return conditions


def _metadata_sql(field: str, operator: str, operand: Any) -> tuple[str, list[Any]]:
    path = f'$."{field}"'
    value = "json_extract(i.metadata, ?)"
    kind = "json_type(i.metadata, ?)"
    if operator == "$exists":
        return f"{kind} IS {'NOT ' if operand else ''}NULL", [path]
    if operator == "$eq":
        return f"{value} = ?", [path, operand]
    if operator == "$ne":
        return f"({value} IS NULL OR {value} != ?)", [path, path, operand]
    if operator == "$in":
        marks = ",".join("?" * len(operand))
        return f"{value} IN ({marks})", [path, *operand]
    # SQLite orders every number before every text: compare numbers with numbers only.
    types = "('text')" if isinstance(operand, str) else "('integer', 'real')"
    return f"({kind} IN {types} AND {value} {_COMPARE[operator]} ?)", [path, path, operand]


class Filters(msgspec.Struct, frozen=True):
    """Symbolic filters: every given condition must hold."""

    tags: tuple[str, ...] = ()
    states: tuple[State, ...] = DEFAULT_STATES
    since: datetime | None = None
    until: datetime | None = None
    metadata: Mapping[str, Any] = msgspec.field(default_factory=dict)
    #: At least one of these tags (OR); ``tags`` are all required (AND).
    tags_any: tuple[str, ...] = ()

    @classmethod
    def parse(cls, value: Filters | Mapping[str, Any] | None, include_archived: bool) -> Filters:
        """Filters from a dict: ``tags`` (all of), ``tags_any`` (any of), ``states`` (or
        ``state``), ``since``, ``until``, ``metadata`` (values or operators)."""
        if isinstance(value, Filters):
            return value
        if value is not None and not isinstance(value, Mapping):
            raise UsageError("filters must be a mapping (tags, tags_any, states, since, ...)")
        raw = dict(value or {})
        unknown = sorted(str(key) for key in set(raw) - _KNOWN)
        if unknown:
            raise UsageError(
                f"unknown filter(s) {', '.join(unknown)}: use tags, tags_any, states, since, "
                "until, metadata"
            )
        states_value = raw.get("states", raw.get("state"))
        if states_value is None:
            states: tuple[State, ...] = DEFAULT_STATES + (
                (State.ARCHIVED,) if include_archived else ()
            )
        else:
            names = [states_value] if isinstance(states_value, str) else list(states_value)
            try:
                states = tuple(State(name) for name in names)
            except ValueError as exc:
                raise UsageError(
                    f"unknown state in filters ({exc}): use generated, activated, archived"
                ) from exc
            hidden = [state for state in states if state in (State.EXPIRED, State.DELETED)]
            if hidden:
                raise UsageError(
                    f"{hidden[0]} memories are never returned by search; their versions stay in the history"
                )
        tags, tags_any = _tags(raw, "tags"), _tags(raw, "tags_any")
        metadata = check_metadata_filter(raw.get("metadata") or {})
        since, until = raw.get("since"), raw.get("until")
        for moment in (since, until):
            if moment is not None and (not isinstance(moment, datetime) or moment.tzinfo is None):
                raise UsageError("filters 'since' and 'until' must be timezone-aware datetimes")
        return cls(tags, states, since, until, metadata, tags_any)

    def narrows(self) -> bool:
        """Whether a filter beyond cube and state applies (the vector index only knows those)."""
        return bool(self.tags or self.tags_any or self.since or self.until or self.metadata)

    def sql(self, cubes: set[str] | None) -> tuple[str, list[Any]]:
        """A WHERE clause over ``items AS i`` and its parameters."""
        clauses = [f"i.state IN ({','.join('?' * len(self.states))})"]
        parameters: list[Any] = [str(state) for state in self.states]
        clauses.append("(i.expires_at IS NULL OR i.expires_at > ?)")
        parameters.append(to_rfc3339(utc_now()))
        if cubes is not None:
            clauses.append(f"i.cube IN ({','.join('?' * len(cubes))})")
            parameters.extend(sorted(cubes))
        for tag in self.tags:
            clauses.append("EXISTS (SELECT 1 FROM json_each(i.tags) WHERE value = ?)")
            parameters.append(tag)
        if self.tags_any:
            marks = ",".join("?" * len(self.tags_any))
            clauses.append(
                f"EXISTS (SELECT 1 FROM json_each(i.tags) WHERE value IN ({marks}))"  # noqa: S608
            )
            parameters.extend(self.tags_any)
        if self.since is not None:
            clauses.append("i.created >= ?")
            parameters.append(to_rfc3339(self.since))
        if self.until is not None:
            clauses.append("i.created <= ?")
            parameters.append(to_rfc3339(self.until))
        for field, operators in check_metadata_filter(self.metadata).items():
            for operator, operand in operators.items():
                clause, values = _metadata_sql(field, operator, operand)
                clauses.append(clause)
                parameters.extend(values)
        return " AND ".join(clauses), parameters


def _tags(raw: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = raw.get(key) or ()
    if isinstance(value, str):
        value = (value,)
    if not isinstance(value, list | tuple) or not all(isinstance(tag, str) for tag in value):
        raise UsageError(f"filters[{key!r}] must be a tag or a list of tags")
    return tuple(value)
