"""The committed OpenAPI document must equal what the application generates."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry_server.openapi import main, openapi_document, render

COMMITTED = Path(__file__).resolve().parents[2] / "schemas" / "openapi.json"


def test_committed_openapi_matches_the_code() -> None:
    assert COMMITTED.read_text("utf-8") == render(openapi_document()), (
        "schemas/openapi.json drifted from the registry's routes: "
        "run `python -m registry_server.openapi schemas/openapi.json`"
    )


def test_every_served_path_is_described_in_the_spec() -> None:
    spec = (Path(__file__).resolve().parents[2] / "spec" / "MIP-1-registry.md").read_text("utf-8")
    for path in openapi_document()["paths"]:
        assert path in spec, f"{path} is served but not described in spec/MIP-1-registry.md"


def test_an_option_is_not_taken_for_the_output_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["--help"]) == 0
    assert "usage:" in capsys.readouterr().out
    assert main(["--output"]) == 2
    assert "usage:" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
