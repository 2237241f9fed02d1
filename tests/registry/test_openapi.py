"""The committed OpenAPI document must equal what the application generates."""

from __future__ import annotations

import re
from pathlib import Path

from registry_server.openapi import openapi_document, render

COMMITTED = Path(__file__).resolve().parents[2] / "schemas" / "openapi.json"


def test_committed_openapi_matches_the_code() -> None:
    assert COMMITTED.read_text("utf-8") == render(openapi_document()), (
        "schemas/openapi.json drifted from the registry's routes: "
        "run `python -m registry_server.openapi schemas/openapi.json`"
    )


SPEC = Path(__file__).resolve().parents[2] / "spec" / "MIP-1-registry.md"
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
#: A row of an endpoint table: ``| GET | `/v1/whoami` | ...`` (a query string, and words after the
#: path in its cell, ignored).
TABLE_ROW = re.compile(rf"^\| ({'|'.join(HTTP_METHODS)}) \| `(/[^`?]*)[^|]*\|", re.MULTILINE)
#: An endpoint named in prose: `` `PATCH /v1/uploads/{upload_id}` `` (a query string ignored).
PROSE = re.compile(rf"`({'|'.join(HTTP_METHODS)}) (/[^`?\s]*)")


def _served() -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, operations in openapi_document()["paths"].items()
        for method in operations
        if method.upper() in HTTP_METHODS
    }


def test_the_spec_tables_list_exactly_the_served_endpoints() -> None:
    documented = set(TABLE_ROW.findall(SPEC.read_text("utf-8")))
    served = _served()
    assert served - documented == set(), "served but not in an endpoint table of the spec"
    assert documented - served == set(), "in an endpoint table of the spec but not served"


def test_every_endpoint_the_spec_names_in_prose_is_served() -> None:
    named = set(PROSE.findall(SPEC.read_text("utf-8")))
    assert named, "the pattern no longer finds the spec's endpoint mentions"
    assert named - _served() == set(), "named in spec/MIP-1-registry.md but not served"
