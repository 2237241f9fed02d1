"""The registry's OpenAPI document, committed as ``schemas/openapi.json`` (a test checks drift).

Regenerate with ``python -m registry_server.openapi schemas/openapi.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
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
    usage = "usage: python -m registry_server.openapi PATH\n"
    if argv in (["-h"], ["--help"]):
        sys.stdout.write(usage)
        return 0
    if len(argv) != 1 or argv[0].startswith("-"):
        # An option is not a path: `--help` once wrote the document to a file named "--help".
        sys.stderr.write(usage)
        return 2
    Path(argv[0]).write_text(render(openapi_document()), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
