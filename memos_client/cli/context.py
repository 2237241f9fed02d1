"""The global options of one `memos` run (given before the command), and where they apply.

``memos [-q|-v] [--no-color] [--json] [--index-url URL] [--cache-dir DIR] COMMAND ...``:
:func:`split_global_options` takes them off the front of the command line, and
:func:`memos_client.cli.app.dispatch` applies them:

- ``--json`` and ``--index-url`` fill the command's own ``--json`` / ``--index-url`` (a value
  given after the command wins);
- ``--cache-dir`` is ``MEMOS_CACHE_DIR`` for this run;
- ``--no-color`` is ``NO_COLOR`` (https://no-color.org) for this run;
- ``-q`` hides notes and progress (``-qq`` warnings too), ``-v`` adds details (which index a
  command uses and why, the stable code of an error). Errors are always written.

A module-level object rather than a parameter of every command: output helpers
(:mod:`memos_client.cli.output`) consult it wherever they are called from. :func:`reset` starts
each run afresh (tests run many commands in one process).
"""

from __future__ import annotations

from pathlib import Path


class GlobalOptions:
    """What the options before the command asked for (a plain class: no import on the way to
    ``memos --help``)."""

    def __init__(self) -> None:
        self.quiet = 0
        self.verbose = 0
        self.color = True
        self.json = False
        self.index_url: str | None = None
        self.cache_dir: Path | None = None


#: This run's options (replaced by :func:`reset` at the start of each run).
CURRENT = GlobalOptions()

#: The global options that take a value (``--index-url URL`` or ``--index-url=URL``).
VALUE_OPTIONS = ("--index-url", "--cache-dir")


def reset() -> GlobalOptions:
    """Start a run with default options; return them."""
    global CURRENT
    CURRENT = GlobalOptions()
    return CURRENT


def current() -> GlobalOptions:
    """This run's global options."""
    return CURRENT


def split_global_options(argv: list[str]) -> tuple[list[str], list[str]]:
    """``(options before the command, the command and its arguments)``.

    The first word that is not an option starts the command; ``--`` ends the global options.
    The prefix is parsed (and checked) by the top-level parser.
    """
    index = 0
    while index < len(argv):
        word = argv[index]
        if word == "--" or not word.startswith("-") or word == "-":
            break
        index += 2 if word in VALUE_OPTIONS else 1
    return argv[: min(index, len(argv))], argv[min(index, len(argv)) :]


def json_requested(argv: list[str]) -> bool:
    """Whether ``argv`` asked for JSON, read from the words alone (for an error met before or
    while parsing: the answer must be JSON all the same)."""
    if CURRENT.json:
        return True
    words = argv[: argv.index("--")] if "--" in argv else argv
    return "--json" in words
