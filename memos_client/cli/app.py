"""The Typer application every command module registers on."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="memos",
    help="Install, inspect and run memory for AI agents (MemCubes, MIP v1).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
