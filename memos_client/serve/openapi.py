"""The REST API's OpenAPI document, committed as ``schemas/memos-serve.openapi.json`` (a test
checks drift).

Regenerate with ``python -m memos_client.serve.openapi schemas/memos-serve.openapi.json``.
"""

from __future__ import annotations

import sys
from typing import Any

from cli_support.json_document import render, write_main

__all__ = ["main", "openapi_document", "render"]


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of ``/v1`` (independent of any runtime or environment)."""
    from memos_client.serve.app import create_api

    document: dict[str, Any] = create_api().openapi()
    document["components"]["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "description": "`memos serve token`"}
    }
    document["security"] = [{"bearer": []}]
    return document


def main(argv: list[str]) -> int:
    """Write the document to the path given as the only argument."""
    return write_main(argv, prog="python -m memos_client.serve.openapi", build=openapi_document)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
