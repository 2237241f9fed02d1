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
import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from cli_support import args as cli_args
from memos_client.errors import UsageError

Handler = Callable[..., None]
#: What :func:`arg` returns: it declares a parameter on the command it decorates.
Declaration = Callable[[Handler], Handler]

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


def arg(*flags: str, **options: Any) -> Declaration:
    """Declare one parameter of the command below (decorators apply bottom-up: keep the order)."""
    if options.get("type") is Path:
        options["type"] = cli_args.path
    elif "type" not in options and options.get("action") in _VALUE_ACTIONS:
        options["type"] = cli_args.text

    def declare(function: Handler) -> Handler:
        function.__dict__.setdefault("cli_args", []).insert(0, (flags, options))
        return function

    return declare


def flag(*flags: str, **options: Any) -> Declaration:
    """Declare an on/off option of the command below (:func:`arg` with ``action="store_true"``)."""
    return arg(*flags, action="store_true", **options)


def option_group(
    name: str, build: Callable[..., Any], dests: Sequence[str], *declarations: Declaration
) -> Declaration:
    """Declare the options ``declarations`` (in this order) on the command below, which takes
    them as one parameter ``name``: ``build`` called with the options' values by their ``dests``
    (checked as the command is called, before it runs)."""

    def declare(function: Handler) -> Handler:
        @functools.wraps(function)
        def with_group(**options: Any) -> None:
            values = {dest: options.pop(dest) for dest in dests}
            function(**{name: build(**values)}, **options)

        # wraps() shares the command's declarations with the wrapper: these go before them.
        command: Handler = with_group
        for declaration in reversed(declarations):
            command = declaration(command)
        return command

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


#: The sections of ``memos --help``, in order, and the top-level commands each lists. A command
#: in none of them is listed under "other commands" (tests/cli/test_help.py wants none there).
SECTIONS: dict[str, tuple[str, ...]] = {
    "packaging (author and sign cubes)": ("keygen", "init", "pack", "verify", "inspect"),
    "registry (publish and find cubes)": (
        "login",
        "logout",
        "whoami",
        "publish",
        "yank",
        "search",
        "token",
        "key",
        "log",
    ),
    "installing (cubes into this machine)": (
        "install",
        "uninstall",
        "download",
        "list",
        "show",
        "tree",
        "lock",
        "sync",
        "check",
        "cache",
        "trust",
    ),
    "runtime (the memories of installed and local cubes)": (
        "add",
        "query",
        "get",
        "update",
        "delete",
        "plan",
        "history",
        "rollback",
        "diff",
        "access",
        "audit",
        "purge",
        "lifecycle",
        "principal",
        "export",
        "import",
        "serve",
        "mcp",
    ),
    "models (KV snapshots, LoRA adapters, generation)": ("activate", "consolidate", "generate"),
}


class TopParser(Parser):
    """``memos``'s own parser: its help lists the commands by section (:data:`SECTIONS`)."""

    def format_help(self) -> str:
        """Usage, description, options, then one section of commands per :data:`SECTIONS`."""
        formatter = self._get_formatter()
        formatter.add_usage(self.usage, self._actions, self._mutually_exclusive_groups)
        formatter.add_text(self.description)
        commands: dict[str, argparse.Action] = {}
        for group in self._action_groups:
            subparsers = [
                a for a in group._group_actions if isinstance(a, argparse._SubParsersAction)
            ]
            if subparsers:
                commands = {a.dest: a for a in subparsers[0]._choices_actions}
                continue
            formatter.start_section(group.title)
            formatter.add_text(group.description)
            formatter.add_arguments(group._group_actions)
            formatter.end_section()
        listed: set[str] = set()
        for title, names in [*SECTIONS.items(), ("other commands", tuple(commands))]:
            shown = [commands[name] for name in names if name in commands and name not in listed]
            if not shown:
                continue
            listed.update(action.dest for action in shown)
            formatter.start_section(title)
            for action in shown:
                formatter.add_argument(action)
            formatter.end_section()
        formatter.add_text(
            "`memos COMMAND --help` describes a command; docs/cli.md the options, JSON output and exit codes."
        )
        return formatter.format_help()


def _summary(function: Handler) -> str:
    return (function.__doc__ or "").strip().split("\n", 1)[0]


def _description(function: Handler) -> str:
    # A command's docstring is indented by the four spaces of a function body.
    lines = (function.__doc__ or "").strip().splitlines()
    return "\n".join(line.removeprefix("    ") for line in lines)


def _subcommands(parser: argparse.ArgumentParser) -> Any:
    return parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=Parser)


def _add_global_options(parser: argparse.ArgumentParser) -> None:
    """The options given before the command (:mod:`memos_client.cli.context`)."""
    options = parser.add_argument_group("global options (before the command)")
    options.add_argument("--version", action=cli_args.VersionAction)
    loudness = options.add_mutually_exclusive_group()
    loudness.add_argument(
        "-q",
        "--quiet",
        action="count",
        default=0,
        help="Print less: no notes or progress (-qq: no warnings either). Errors always show.",
    )
    loudness.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="Print more: which registry a command uses and why, each error's stable code.",
    )
    options.add_argument(
        "--no-color", action="store_true", help="No colours (as the NO_COLOR variable)."
    )
    options.add_argument(
        "--json",
        dest="global_json",
        action="store_true",
        help="Every command prints JSON (errors too: a JSON object on stderr).",
    )
    options.add_argument(
        "--index-url",
        dest="global_index_url",
        metavar="URL",
        help="The registry of every command that uses one (as its own --index-url).",
    )
    options.add_argument(
        "--cache-dir",
        type=cli_args.path,
        metavar="DIR",
        help="The download cache (as the MEMOS_CACHE_DIR variable).",
    )


def _apply_global_options(parser: Parser, prefix: list[str]) -> None:
    """Parse the options before the command and make them this run's (context.CURRENT)."""
    import os

    from memos_client.cli import context

    known = parser.parse_args(prefix)
    options = context.current()
    options.quiet, options.verbose = known.quiet, known.verbose
    options.json, options.index_url = known.global_json, known.global_index_url
    options.color = not known.no_color
    if known.no_color:
        os.environ["NO_COLOR"] = "1"
    if known.cache_dir is not None:
        options.cache_dir = known.cache_dir
        os.environ["MEMOS_CACHE_DIR"] = str(known.cache_dir)


def build_parser() -> Parser:
    """The parser of every command registered so far (the ones whose modules are imported)."""
    parser = TopParser(prog="memos", description=DESCRIPTION, allow_abbrev=False)
    _add_global_options(parser)
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
    from memos_client.cli import context

    prefix, argv = context.split_global_options(list(argv))
    top = build_parser()
    _apply_global_options(top, prefix)
    known, extra = top.parse_known_args(argv)
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
    _fill_from_global_options(parser.prog, namespace)
    handler(**namespace)


def _fill_from_global_options(prog: str, namespace: dict[str, Any]) -> None:
    """``memos --json CMD`` is ``memos CMD --json``; the same for ``--index-url``."""
    from memos_client.cli import context

    options = context.current()
    if options.json:
        if "json_output" not in namespace:
            raise UsageError(f"{prog} prints no JSON: leave out --json")
        namespace["json_output"] = True
    if options.index_url is not None and namespace.get("index_url", False) is None:
        namespace["index_url"] = options.index_url
