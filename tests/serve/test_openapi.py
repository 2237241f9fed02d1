"""The committed OpenAPI document of `memos serve` must equal what the application generates."""

from __future__ import annotations

from pathlib import Path

from memos_client.serve.openapi import openapi_document, render

COMMITTED = Path(__file__).resolve().parents[2] / "schemas" / "memos-serve.openapi.json"


def test_committed_openapi_matches_the_code() -> None:
    assert COMMITTED.read_text("utf-8") == render(openapi_document()), (
        "schemas/memos-serve.openapi.json drifted from the routes: "
        "run `python -m memos_client.serve.openapi schemas/memos-serve.openapi.json`"
    )


def test_every_error_answer_is_documented_as_the_error_body() -> None:
    for path, operations in openapi_document()["paths"].items():
        for method, operation in operations.items():
            for status in ("401", "403", "404", "413", "422"):
                schema = operation["responses"][status]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path)
