"""The one way sizes are shown to people, by the CLI and by the registry's web pages alike.

Binary units (IEC: KiB, MiB, GiB), one decimal place above bytes: ``512 B``, ``1.5 KiB``,
``12.3 MiB``. Binary because every limit the protocol sets is a power of two (a 1 MiB document,
an 8 MiB progress threshold), so a limit and the size it refuses read alike. Here, beside the
argparse helpers, because ``cli_support`` is what both programs share for people.
"""

from __future__ import annotations

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def format_size(size: int | None) -> str:
    """``1536`` -> ``1.5 KiB``; ``None`` (unknown) -> ``—``."""
    if size is None:
        return "—"
    value = float(size)
    for unit in _UNITS:
        if abs(value) < 1024 or unit == _UNITS[-1]:
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover
