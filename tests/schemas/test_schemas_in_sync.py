"""The committed JSON Schemas in schemas/ must equal what the models generate."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest

from memos_client.serve.openapi import main as serve_openapi_main
from mip.schemas import main, render, schema_documents
from registry_server.openapi import main as registry_openapi_main

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


@pytest.mark.parametrize("filename", sorted(schema_documents()))
def test_committed_schema_matches_the_code(filename: str) -> None:
    committed = (SCHEMAS / filename).read_text("utf-8")
    assert committed == render(schema_documents()[filename]), (
        f"schemas/{filename} drifted from mip's models: run `python -m mip.schemas schemas`"
    )


#: A manifest's fields but its parts.
MANIFEST_HEAD = {
    "mip_version": "1.0",
    "name": "acme/handbook",
    "version": "1.0.0",
    "created": "2026-01-01T00:00:00Z",
}


def test_generated_manifest_schema_validates_a_manifest_document() -> None:
    document = {
        **MANIFEST_HEAD,
        "parts": [
            {
                "kind": "plaintext",
                "name": "memories",
                "media_type": "application/vnd.memcube.plaintext.v1+msgpack",
                "digest": "sha256:" + "0" * 64,
                "size": 10,
                "count": 1,
            }
        ],
    }
    jsonschema.validate(document, schema_documents()["manifest.schema.json"])


def test_generated_manifest_schema_rejects_a_part_without_digest() -> None:
    document = {
        **MANIFEST_HEAD,
        "parts": [{"kind": "plaintext", "name": "memories", "size": 10, "count": 1}],
    }
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, schema_documents()["manifest.schema.json"])


#: The ``python -m`` writers of the committed documents, and an option each must refuse as a path.
WRITERS = {
    "mip.schemas": (main, "--out"),
    "registry_server.openapi": (registry_openapi_main, "--output"),
    "memos_client.serve.openapi": (serve_openapi_main, "--output"),
}


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_a_writer_takes_no_option_for_the_output_path(
    writer: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write, option = WRITERS[writer]
    monkeypatch.chdir(tmp_path)
    assert write(["--help"]) == 0
    assert "usage:" in capsys.readouterr().out
    assert write([option]) == 2
    assert "usage:" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_main_writes_every_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["written"]) == 0
    assert sorted(p.name for p in (tmp_path / "written").iterdir()) == sorted(schema_documents())
