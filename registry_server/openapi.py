"""The registry's OpenAPI document, committed as ``schemas/openapi.json`` (a test checks drift).

Regenerate with ``python -m registry_server.openapi schemas/openapi.json``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from registry_server.app import create_app
from registry_server.settings import Settings


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of the JSON API (independent of any environment)."""
    document: dict[str, Any] = create_app(Settings()).openapi()
    return document


def render(document: dict[str, Any]) -> str:
    """The committed text of the document."""
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    """Write the document to the path given as the only argument."""
    import argparse

    from cli_support.args import path

    parser = argparse.ArgumentParser(
        prog="python -m registry_server.openapi", description=main.__doc__
    )
    parser.add_argument("path", type=path, help="The JSON file to write.")
    try:
        target = parser.parse_args(argv).path
    except SystemExit as exc:  # --help, or a usage error (`--help` once wrote a file "--help")
        return int(exc.code or 0)
    target.write_text(render(openapi_document()), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
