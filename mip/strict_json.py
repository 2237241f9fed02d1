"""Strict JSON, as every MIP document is read: UTF-8, no duplicate keys, one error per reader.

The envelope (MIP-1 §6), the manifest (§5.1) and a safetensors header (§7.4) are each refused
with their own error class and message prefix; the rules are the same, so they live here once.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Any

from mip.errors import MIPError

#: ``json.loads``'s ``object_pairs_hook``: the object's ``(key, value)`` pairs to a dict.
PairsHook = Callable[[list[tuple[str, Any]]], dict[str, Any]]


def refuse_duplicate_keys(error: type[MIPError], message: str) -> PairsHook:
    """An ``object_pairs_hook`` raising ``error(message)`` for an object that repeats a key;
    ``{keys}`` in ``message`` becomes the repeated keys, sorted."""

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        document = dict(pairs)
        if len(document) != len(pairs):
            # Linear in the number of keys: a 1 MiB object of 100,000 keys is checked in
            # milliseconds (``list.count`` per key took minutes, before the scope check).
            repeated = sorted(
                key for key, count in Counter(key for key, _ in pairs).items() if count > 1
            )
            raise error(message.format(keys=", ".join(repeated)))
        return document

    return hook


def load_json(data: bytes, error: type[MIPError], what: str, duplicates: str) -> Any:
    """Decode ``data`` as UTF-8 JSON, or raise ``error("{what}: ...")``.

    ``duplicates`` says what a repeated key is (``{keys}`` names them); anything else not
    UTF-8 JSON is ``{what}: not UTF-8 JSON (why)``.
    """
    hook = refuse_duplicate_keys(error, f"{what}: {duplicates}")
    try:
        return json.loads(data.decode("utf-8"), object_pairs_hook=hook)
    except error:
        raise  # a duplicate key, found by the hook
    except (ValueError, RecursionError) as exc:
        # ValueError covers UnicodeDecodeError, JSONDecodeError and over-long integers;
        # RecursionError is nesting too deep for the decoder.
        raise error(f"{what}: not UTF-8 JSON ({exc})") from exc
