"""Search filters from the command line: ``--tag``, ``--any-tag``, ``--since``, ``--until`` and
``--where`` become the ``filters`` dict of ``MemOS.search``/``plan`` (checked there)."""

from __future__ import annotations

import json
import re
from typing import Any

from memos_client.cli.app import arg, option_group

_CONDITION = re.compile(r"([^<>=!]+?)\s*(<=|>=|!=|=|<|>)\s*(.*)", re.DOTALL)
_OPERATORS = {"=": "$eq", "!=": "$ne", "<": "$lt", "<=": "$lte", ">": "$gt", ">=": "$gte"}

#: The filter options of ``memos query`` and ``memos plan`` (in this order).
FILTER_ARGS = (
    arg("-t", "--tag", action="append", help="Only memories with this tag (repeatable: all)."),
    arg("--any-tag", action="append", help="Only memories with one of these tags (repeatable)."),
    arg("--since", help="Only memories created since: RFC 3339, or a duration back (7d)."),
    arg("--until", help="Only memories created until: RFC 3339, or a duration back."),
    arg(
        "--where",
        action="append",
        metavar="COND",
        help="Metadata condition, repeatable (all must hold): KEY=V, KEY!=V, KEY<V, KEY<=V, "
        'KEY>V, KEY>=V, or a JSON object such as \'{"lang": {"$in": ["en", "fr"]}}\'.',
    ),
)


def _value(text: str) -> Any:
    """A JSON scalar when the text is one (2, 2.5, true, "x"), else the text itself."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, str | int | float | bool) else text


def where_conditions(conditions: list[str]) -> dict[str, Any]:
    """``--where`` options as the ``metadata`` filter (operators on one key are merged)."""
    from memos_client.errors import UsageError

    metadata: dict[str, dict[str, Any]] = {}
    for condition in conditions:
        if condition.lstrip().startswith("{"):
            try:
                document = json.loads(condition)
            except (ValueError, RecursionError) as exc:
                raise UsageError(f"--where {condition!r:.80}: not a JSON object ({exc})") from exc
            if not isinstance(document, dict):
                raise UsageError(f"--where {condition!r:.80}: not a JSON object")
            for key, value in document.items():
                operators = value if isinstance(value, dict) else {"$eq": value}
                metadata.setdefault(key, {}).update(operators)
            continue
        match = _CONDITION.fullmatch(condition)
        if match is None or not match[1].strip():
            raise UsageError(
                f"--where {condition!r:.80}: expected KEY=VALUE, KEY<VALUE (<, <=, >, >=, !=) "
                "or a JSON object"
            )
        metadata.setdefault(match[1].strip(), {})[_OPERATORS[match[2]]] = _value(match[3])
    return metadata


def search_filters(
    tag: list[str] | None,
    any_tag: list[str] | None,
    since: str | None,
    until: str | None,
    where: list[str] | None,
) -> dict[str, Any]:
    """The ``filters`` dict of the filter options."""
    from memos_client.cli.moments import moment

    filters: dict[str, Any] = {"tags": tag or []}
    if any_tag:
        filters["tags_any"] = any_tag
    if since is not None:
        filters["since"] = moment(since, "--since")
    if until is not None:
        filters["until"] = moment(until, "--until")
    if where:
        filters["metadata"] = where_conditions(where)
    return filters


#: The filter options, as one ``filters`` parameter (:func:`search_filters`) of the command.
FILTERS = option_group(
    "filters", search_filters, ("tag", "any_tag", "since", "until", "where"), *FILTER_ARGS
)
