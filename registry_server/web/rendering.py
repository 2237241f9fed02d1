"""The Jinja2 environment of the marketplace pages: autoescaping always on, a few filters.

Autoescaping is forced for every template (not chosen by file extension), so text from manifests
and memories can never become markup; templates never use ``|safe``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.templating import Jinja2Templates

from cli_support.units import format_size

TEMPLATE_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"
#: ``1536`` -> ``1.5 KiB``: the one size format of the CLI and the pages (cli_support.units).
human_size = format_size


def short_digest(digest: str, length: int = 12) -> str:
    """``sha256:abcdef...`` -> ``abcdef123456`` (the full digest goes in a title attribute)."""
    return digest.removeprefix("sha256:")[:length]


def iso_date(value: datetime | None) -> str:
    """A date as ``YYYY-MM-DD`` (UTC)."""
    return "" if value is None else value.strftime("%Y-%m-%d")


def iso_time(value: datetime | None) -> str:
    """A machine-readable timestamp for ``<time datetime=...>``."""
    return "" if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")


def number(value: int) -> str:
    """``12345`` -> ``12,345``."""
    return f"{value:,}"


#: Nesting shown by :func:`brief_value` before it writes ``…``.
_MAX_DEPTH = 8
#: Items of a list shown by :func:`list_or_value`.
MAX_LIST_ITEMS = 20


def _tokens(value: Any, depth: int) -> Iterator[str]:
    """JSON-like text of any decoded value, piece by piece (so a caller can stop early).

    Manifests (JSON) and memory records (msgpack) hold values of any type: binary strings,
    extension types, timestamps, non-finite floats, binary map keys. Each gets a readable form;
    nothing raises.
    """
    if isinstance(value, str):
        yield json.dumps(value, ensure_ascii=False)
    elif value is None or isinstance(value, bool):
        yield json.dumps(value)
    elif isinstance(value, int):
        yield str(value)
    elif isinstance(value, float):
        yield repr(value) if math.isfinite(value) else ("NaN" if value != value else "Infinity" if value > 0 else "-Infinity")  # fmt: skip
    elif isinstance(value, bytes | bytearray | memoryview):
        yield f'"<{len(value):,} bytes>"'
    elif isinstance(value, datetime):
        yield json.dumps(value.isoformat())
    elif depth >= _MAX_DEPTH:
        yield "…"
    elif isinstance(value, dict):
        yield "{"
        for index, (key, item) in enumerate(value.items()):
            if index:
                yield ", "
            yield from (_tokens(key, depth + 1) if isinstance(key, str | bytes) else [json.dumps(str(key))])  # fmt: skip
            yield ": "
            yield from _tokens(item, depth + 1)
        yield "}"
    elif isinstance(value, list | tuple):
        yield "["
        for index, item in enumerate(value):
            if index:
                yield ", "
            yield from _tokens(item, depth + 1)
        yield "]"
    else:  # msgpack extension types and timestamps, anything else a decoder may return
        yield json.dumps(f"<{type(value).__name__}>")


def brief_value(value: Any, limit: int = 500) -> str:
    """Any stored value as one line of JSON-like text, at most about ``limit`` characters."""
    pieces: list[str] = []
    length = 0
    for piece in _tokens(value, 0):
        pieces.append(piece)
        length += len(piece)
        if length > limit:
            return "".join(pieces)[:limit] + "…"
    return "".join(pieces)


def list_or_value(value: Any, limit: int = 500) -> str:
    """A list of strings as ``a, b, c`` (the first :data:`MAX_LIST_ITEMS`), anything else brief.

    What LoRA ``target_modules`` and similar free-form fields need: PEFT writes a list of names or
    one string, but a manifest may hold any JSON value there.
    """
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + "…"
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        shown = ", ".join(value[:MAX_LIST_ITEMS])
        shown = shown if len(shown) <= limit else shown[:limit] + "…"
        more = len(value) - MAX_LIST_ITEMS
        return shown + (f" … and {more:,} more" if more > 0 else "")
    return brief_value(value, limit)


def build_templates() -> Jinja2Templates:
    """The page templates, with autoescaping on for everything and undefined names an error."""
    environment = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    environment.filters.update(
        human_size=human_size,
        short_digest=short_digest,
        iso_date=iso_date,
        iso_time=iso_time,
        number=number,
        brief_value=brief_value,
        list_or_value=list_or_value,
    )
    return Jinja2Templates(env=environment)
