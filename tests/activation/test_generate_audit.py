"""`memos generate` is a read of the memories it puts in the prompt: it is audit-logged (#19)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memos_client.cli.main import run

pytestmark = pytest.mark.slow


def test_generate_writes_an_audit_entry_naming_the_memories_it_used(
    cli_home: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from memos_client.runtime import MemOS

    home = cli_home
    with MemOS(home, embedder="hashing") as memos:
        item = memos.add("Invoices above 5000 euros need two approvals.", cube="acme/ops")
    argv = ["generate", "Who approves invoices?", "--model", str(tiny_model_dir)]
    code = run([*argv, "--max-new-tokens", "2", "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert item in json.loads(captured.out)["used"]["memories"]
    with MemOS(home, embedder="hashing") as memos:
        [entry] = [e for e in memos.audit() if e["action"] == "generate"]
    assert (entry["principal"], entry["outcome"]) == ("local", "ok")
    assert json.loads(entry["detail"]) == {"query": "Who approves invoices?", "results": [item]}
