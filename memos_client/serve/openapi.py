"""The REST API's OpenAPI document, committed as ``schemas/memos-serve.openapi.json`` (a test
checks drift).

Regenerate with ``python -m memos_client.serve.openapi schemas/memos-serve.openapi.json``.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of ``/v1`` (independent of any runtime or environment)."""
    from memos_client.serve.app import create_api

    document: dict[str, Any] = create_api().openapi()
    document["components"]["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "description": "`memos serve token`"}
    }
    document["security"] = [{"bearer": []}]
    return document


def render(document: dict[str, Any]) -> str:
    """The committed text of the document."""
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    """Write the document to the path given as the only argument."""
    import argparse

    from cli_support.args import path

    parser = argparse.ArgumentParser(
        prog="python -m memos_client.serve.openapi", description=main.__doc__
    )
    parser.add_argument("path", type=path, help="The JSON file to write.")
    try:
        target = parser.parse_args(argv).path
    except SystemExit as exc:
        return int(exc.code or 0)
    target.write_text(render(openapi_document()), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
