"""Points in time on the command line: an RFC 3339 time, or a duration back from now."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

_DURATION = re.compile(r"(\d{1,9})([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def moment(text: str, flag: str) -> datetime:
    """``2026-01-01T00:00:00Z`` (a time zone is required) or ``30m``/``24h``/``7d`` ago."""
    from memos_client.errors import UsageError
    from memos_client.runtime.memory_types import from_rfc3339, utc_now

    match = _DURATION.fullmatch(text)
    if match:
        return utc_now() - timedelta(**{_UNITS[match[2]]: int(match[1])})
    try:
        return from_rfc3339(text)
    except ValueError as exc:
        raise UsageError(
            f"{flag} {text!r}: give an RFC 3339 time with a zone (2026-01-01T00:00:00Z) "
            f"or a duration back from now (30m, 24h, 7d)"
        ) from exc
