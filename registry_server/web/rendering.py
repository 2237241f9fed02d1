"""The Jinja2 environment of the marketplace pages: autoescaping always on, a few filters.

Autoescaping is forced for every template (not chosen by file extension), so text from manifests
and memories can never become markup; templates never use ``|safe``.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.templating import Jinja2Templates

TEMPLATE_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"
_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def human_size(size: int | None) -> str:
    """``1536`` -> ``1.5 KiB``: sizes people can read at a glance."""
    if size is None:
        return "—"
    value = float(size)
    for unit in _UNITS:
        if value < 1024 or unit == _UNITS[-1]:
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


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
    )
    return Jinja2Templates(env=environment)
