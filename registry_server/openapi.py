"""The registry's OpenAPI document, committed as ``schemas/openapi.json`` (a test checks drift).

Regenerate with ``python -m registry_server.openapi schemas/openapi.json``.
"""

from __future__ import annotations

import sys
from typing import Any

from cli_support.json_document import render, write_main
from registry_server.app import create_app
from registry_server.settings import Settings

__all__ = ["main", "openapi_document", "render"]


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of the JSON API (independent of any environment)."""
    document: dict[str, Any] = create_app(Settings()).openapi()
    return document


def main(argv: list[str]) -> int:
    """Write the document to the path given as the only argument."""
    return write_main(argv, prog="python -m registry_server.openapi", build=openapi_document)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
