"""Command-line parsing both front ends share (``memos`` and ``memos-registry``).

argparse value types that refuse junk as it is parsed, a fix to Python 3.11's argparse, the
``--version`` option, and the writer of the one ``error:`` line every failure ends with. Not
protocol: a leaf package of its own (it imports nothing of ours), which both CLIs may import
although the client and the registry never import each other (ADR 0018).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: Control characters (C0 but tab, DEL, C1) as escapes: in an error line a newline would split
#: the line, an escape sequence act on the terminal.
_CONTROL = {code: f"\\x{code:02x}" for code in [*range(0x20), 0x7F, *range(0x80, 0xA0)]}
_CONTROL |= {0x09: "\t", 0x0A: "\\n"}


def write_error(message: str) -> None:
    """Write ``error: MESSAGE`` as one line that any stderr can take.

    A message may quote the command line: its control characters are shown as escapes, and what
    stderr's encoding cannot take (a lone surrogate, from an undecodable byte) as ``\\udcNN``.
    """
    line = f"error: {message.translate(_CONTROL)}\n"
    encoding = getattr(sys.stderr, "encoding", None) or "utf-8"
    sys.stderr.write(line.encode(encoding, "backslashreplace").decode(encoding))


def text(value: str) -> str:
    """An argparse ``type``: text, refused when it holds an undecodable byte of the command line.

    Python hands such a byte over as a lone surrogate (``\\udcff`` for 0xff), which UTF-8 --
    SQLite, JSON, a URL -- cannot encode.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not valid UTF-8 text (an undecodable byte at character {exc.start}): "
            "use UTF-8"
        ) from None
    return value


def path(value: str) -> Path:
    """An argparse ``type``: a file or directory; "" (which Path reads as ".") and NUL refused."""
    if not value:
        raise argparse.ArgumentTypeError("the path is empty: give a file or directory")
    if "\0" in value:
        raise argparse.ArgumentTypeError(f"{value!r} contains a NUL character: no file name does")
    return Path(value)


def integer(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse ``type``: an integer in ``[minimum, maximum]``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum or (maximum is not None and value > maximum):
            bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
            raise argparse.ArgumentTypeError(f"{value} is not {bound}")
        return value

    parse.__name__ = "integer"  # what argparse calls the type in its messages
    return parse


class Parser(argparse.ArgumentParser):
    """An argument parser that takes ``--`` as a value where one is given (``--days=--``)."""

    def _get_values(self, action: argparse.Action, arg_strings: list[str]) -> Any:
        # Python 3.11's argparse drops a value that is "--" itself as the end of the options
        # and hands the parameter an empty list.
        if action.nargs is None and arg_strings == ["--"]:
            value = self._get_value(action, "--")
            self._check_value(action, value)
            return value
        return super()._get_values(action, arg_strings)


#: The distribution both programs ship in (what ``--version`` reports).
DISTRIBUTION = "memstore"


class VersionAction(argparse.Action):
    """``--version``: print ``PROG VERSION`` (the installed ``memstore``) and exit 0.

    argparse's own ``version`` action wants the text when the parser is built; this one asks
    :mod:`importlib.metadata` only when the option is given, so ``--help`` and every command stay
    free of its import (several milliseconds).
    """

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **kwargs: Any):
        kwargs.setdefault("help", "Show the version of memstore and exit.")
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        """Print the version line, or exit 1 with an ``error:`` line when none is installed."""
        from importlib.metadata import PackageNotFoundError, version

        try:
            installed = version(DISTRIBUTION)
        except PackageNotFoundError:
            write_error(
                f"{DISTRIBUTION} is not installed, so it has no version: install it "
                "(`pip install -e .` in a source tree)"
            )
            parser.exit(1)
        sys.stdout.write(f"{parser.prog} {installed}\n")
        parser.exit(0)
