"""One size style for the CLI, the marketplace pages and the diff page (cli_support.units)."""

from __future__ import annotations

import pytest

from cli_support.units import format_size
from memos_client.cli.output import format_size as cli_format_size
from registry_server.web.rendering import human_size


@pytest.mark.parametrize(
    ("size", "shown"),
    [
        (None, "—"),
        (0, "0 B"),
        (512, "512 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (8 << 20, "8.0 MiB"),
        (3 * 1024**3 + 1024**3 // 2, "3.5 GiB"),
        (1024**5, "1.0 PiB"),
        (1024**6, "1024.0 PiB"),
    ],
)
def test_format_size(size: int | None, shown: str) -> None:
    assert format_size(size) == shown


def test_the_cli_and_the_web_pages_use_the_one_formatter() -> None:
    assert human_size is format_size  # the templates' filter (cube, search and diff pages)
    for size in (0, 999, 1000, 1024, 10**6, 1 << 20, 10**9):
        assert cli_format_size(size) == format_size(size)
