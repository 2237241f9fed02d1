"""The `memos` command tree, built on the standard library's :mod:`argparse`.

Command modules declare each command with :func:`command` and its parameters with :func:`arg`
(the keyword arguments of :meth:`argparse.ArgumentParser.add_argument`, with the value types of
:mod:`cli_support.args`, e.g. ``type=integer(1)``); the command's function is called with one keyword
argument per parameter. The docstring's first line is the command's summary in ``memos --help``;
the whole docstring is its description in ``memos COMMAND --help``.

Values are checked as they are parsed, so that junk never reaches a command: a parameter declared
without a ``type`` takes text (:func:`cli_support.args.text`: an undecodable byte is refused, since
the value goes to the database, the registry or a name check that cannot take it); ``type=Path``
refuses an empty path and a NUL character (:func:`cli_support.args.path`). Declare ``type=str`` for
a value that may be a file name in any bytes.

argparse replaced Typer here because a cold command paid ~15 ms for importing Typer and Click and
building their command objects, a tenth of a cold ``memos install`` (docs/adr/0011).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from cli_support import args as cli_args
from memos_client.errors import UsageError

Handler = Callable[..., None]

DESCRIPTION = "Install, inspect and run memory for AI agents (MemCubes, MIP v1)."

#: Help of each command group (``memos cache ...``), by group name.
GROUPS: dict[str, str] = {}
#: Every declared command: ``(name,)`` or ``(group, name)`` -> its function.
COMMANDS: dict[tuple[str, ...], Handler] = {}


def group(name: str, help: str) -> str:
    """Declare the command group ``memos NAME ...``; return its name for :func:`command`."""
    GROUPS[name] = help
    return name


#: The actions that store the value they are given (the others take no value, or a fixed one).
_VALUE_ACTIONS = (None, "store", "append", "extend")


def arg(*flags: str, **options: Any) -> Callable[[Handler], Handler]:
    """Declare one parameter of the command below (decorators apply bottom-up: keep the order)."""
    if options.get("type") is Path:
        options["type"] = cli_args.path
    elif "type" not in options and options.get("action") in _VALUE_ACTIONS:
        options["type"] = cli_args.text

    def declare(function: Handler) -> Handler:
        function.__dict__.setdefault("cli_args", []).insert(0, (flags, options))
        return function

    return declare


def command(name: str | None = None, *, group: str | None = None) -> Callable[[Handler], Handler]:
    """Register ``function`` as ``memos [GROUP] NAME`` (default name: the function's, dashed)."""

    def register(function: Handler) -> Handler:
        where = (name or function.__name__.replace("_", "-"),)
        COMMANDS[(group, *where) if group else where] = function
        return function

    return register


class Parser(cli_args.Parser):
    """An argument parser whose errors are one :class:`UsageError` line, not usage + exit."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see `{self.prog} --help`)")

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        # An unknown command: name the closest ones instead of listing them all.
        if isinstance(action, argparse._SubParsersAction) and value not in action.choices:
            import difflib

            close = difflib.get_close_matches(value, list(action.choices), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise argparse.ArgumentError(None, f"no such command {value!r}{hint}")
        super()._check_value(action, value)


def _summary(function: Handler) -> str:
    return (function.__doc__ or "").strip().split("\n", 1)[0]


def _description(function: Handler) -> str:
    # A command's docstring is indented by the four spaces of a function body.
    lines = (function.__doc__ or "").strip().splitlines()
    return "\n".join(line.removeprefix("    ") for line in lines)


def _subcommands(parser: argparse.ArgumentParser) -> Any:
    return parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=Parser)


def build_parser() -> Parser:
    """The parser of every command registered so far (the ones whose modules are imported)."""
    parser = Parser(prog="memos", description=DESCRIPTION, allow_abbrev=False)
    parser.add_argument("--version", action=cli_args.VersionAction)
    parser.set_defaults(handler=None, parser=parser)
    commands = _subcommands(parser)
    groups: dict[str, Any] = {}
    for path, function in COMMANDS.items():
        where = commands
        if len(path) == 2:
            if path[0] not in groups:
                group_parser = commands.add_parser(
                    path[0],
                    help=GROUPS[path[0]],
                    description=GROUPS[path[0]],
                    allow_abbrev=False,
                )
                group_parser.set_defaults(parser=group_parser)
                groups[path[0]] = _subcommands(group_parser)
            where = groups[path[0]]
        sub = where.add_parser(
            path[-1],
            help=_summary(function),
            description=_description(function),
            formatter_class=argparse.RawDescriptionHelpFormatter,
            allow_abbrev=False,
        )
        for flags, options in function.__dict__.get("cli_args", []):
            sub.add_argument(*flags, **options)
        sub.set_defaults(handler=function, parser=sub)
    return parser


def dispatch(argv: Sequence[str]) -> None:
    """Parse ``argv`` and run its command; a group or ``memos`` alone prints its help."""
    known, extra = build_parser().parse_known_args(argv)
    handler = known.handler
    parser = known.parser  # the innermost: its command names the error
    if handler is None:
        if extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        if parser.prog != "memos":
            raise UsageError(f"{parser.prog}: name a command (see `{parser.prog} --help`)")
        parser.print_help()  # `memos` alone: what it can do
        return
    # The command's own arguments once more, positionals and options intermixed as Click took
    # them: in one pass argparse fills `install a/b --offline c/d`'s list with a/b alone.
    words = len(parser.prog.split()) - 1  # `memos cache info`: the command is argv[:2]
    namespace = vars(parser.parse_intermixed_args(argv[words:]))
    del namespace["handler"], namespace["parser"]
    handler(**namespace)
