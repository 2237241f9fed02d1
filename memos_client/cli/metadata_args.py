"""``-m/--meta KEY=VALUE``: the metadata a command gives a memory (``memos add``, ``update``)."""

from __future__ import annotations

import json
import math
from typing import Any


def parse_meta(pairs: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` options as a metadata dict: a JSON value keeps its type, else text."""
    from memos_client.errors import UsageError

    metadata: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--meta {pair!r}: expected KEY=VALUE")
        try:
            # Numbers, booleans and JSON values keep their type; anything else is a string, NaN
            # and numbers too large for a float (1e999) included: they are not JSON.
            metadata[key] = json.loads(value, parse_constant=_not_json, parse_float=_finite)
        except (ValueError, RecursionError):  # RecursionError: nested deeper than Python goes
            metadata[key] = value
    return metadata


def _not_json(text: str) -> float:
    raise ValueError(f"{text} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is too large for a float")
    return value
