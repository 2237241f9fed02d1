"""The ``python -m ... PATH`` writers of the generated JSON documents committed under ``schemas/``.

The registry's and ``memos serve``'s OpenAPI documents are written the same way: sorted keys, two
spaces, one final newline, to the one path on the command line (an option is a usage error, never
a file name: ``--help`` once wrote a file ``--help``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any


def render(document: dict[str, Any]) -> str:
    """The committed text of the document."""
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def write_main(argv: list[str], *, prog: str, build: Callable[[], dict[str, Any]]) -> int:
    """Write ``build()``'s document to the path given as the only argument; the exit status."""
    import argparse

    from cli_support.args import path

    parser = argparse.ArgumentParser(
        prog=prog, description="Write the document to the path given as the only argument."
    )
    parser.add_argument("path", type=path, help="The JSON file to write.")
    try:
        target = parser.parse_args(argv).path
    except SystemExit as exc:  # --help, or a usage error
        return int(exc.code or 0)
    target.write_text(render(build()), encoding="utf-8")
    return 0
