"""docs/tutorial.md, run: every `$` command of its console blocks, in order, in one shell.

The registry the tutorial publishes to is a real `memos-registry serve` process started here,
with its data directory where the tutorial's `memos-registry admin` command looks for it; the
tutorial's address (127.0.0.1:8700) is rewritten to the free port it listens on. The documents
the tutorial starts from are made here: a runbook, an FAQ page, a two-page PDF, notes, a picture
and a chat log.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ingest.conftest import make_pdf
from tests.support import REPO, start_registry_process

TUTORIAL = REPO / "docs" / "tutorial.md"
DOCUMENTED_URL = "http://127.0.0.1:8700"

RUNBOOK = """\
# Runbook

## Deploys

Deploys go out on Tuesdays and Thursdays from the release branch.

## Rollbacks

To roll back a deploy, run `deployctl rollback --to previous` and tell #ops.
A rollback never needs approval.

## On-call

Priya is on call this week; Tomasz takes over on Monday.
"""
FAQ = """<html><head><title>Wiki FAQ</title></head><body>
<h1>FAQ</h1><h2>Laptops</h2><p>New laptops are ordered through the IT portal.</p>
<h2>Badges</h2><p>Lost badges are replaced at reception.</p></body></html>"""
POLICY = [
    "Expense policy. Meals are reimbursed up to 40 euros per day.",
    "Receipts. Every expense above 25 euros needs a receipt attached to the claim.",
]


def console_commands(markdown: str) -> list[str]:
    """The `$ ` lines of the ```console blocks, in order."""
    commands = []
    for block in re.findall(r"```console\n(.*?)```", markdown, re.DOTALL):
        commands.extend(line[2:] for line in block.splitlines() if line.startswith("$ "))
    return commands


def make_documents(root: Path) -> None:
    docs = root / "docs"
    docs.mkdir()
    (docs / "runbook.md").write_text(RUNBOOK)
    (docs / "faq.html").write_text(FAQ)
    make_pdf(docs / "policy.pdf", POLICY)
    (docs / "notes.txt").write_text("Retro notes.\n\nWe agreed to write smaller pull requests.\n")
    (docs / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (root / "standup.json").write_text(
        json.dumps(
            [
                {"role": "user", "name": "Priya", "content": "The payments deploy is blocked."},
                {"role": "user", "name": "Tomasz", "content": "I will unblock it after lunch."},
            ]
        )
    )


def test_the_tutorial_runs(tmp_path: Path) -> None:
    commands = console_commands(TUTORIAL.read_text("utf-8"))
    assert len(commands) >= 15
    make_documents(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEMOS_", "MEMSTORE_"))}
    env |= {
        "PYTHONPATH": str(REPO),
        "MEMOS_HOME": str(tmp_path / "author-home"),
        "MEMOS_CACHE_DIR": str(tmp_path / "cache"),
        "HF_HUB_OFFLINE": "1",
    }
    data_dir = tmp_path / "registry-data"
    data_dir.mkdir()
    server = start_registry_process(env, data_dir)
    # `memos` and `memos-registry` as this checkout runs them, whatever is on PATH.
    prelude = [
        "set -euo pipefail",
        f'memos() {{ "{sys.executable}" -m memos_client "$@"; }}',
        f'memos-registry() {{ "{sys.executable}" -m registry_server "$@"; }}',
    ]
    script = [
        f"echo '>>> {index}'; " + command.replace(DOCUMENTED_URL, server.url)
        for index, command in enumerate(commands)
    ]
    try:
        result = subprocess.run(
            ["bash", "-c", "\n".join(prelude + script)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    finally:
        server.stop()
    steps = dict(re.findall(r">>> (\d+)\n(.*?)(?=>>> \d+\n|\Z)", result.stdout, re.DOTALL))
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"

    def output_of(command: str) -> str:
        return steps[str(commands.index(command))]

    assert "with 4 documents from docs" in output_of(
        "memos init handbook --name acme/handbook --from docs"
    )
    assert "left out 1 files that are not documents: logo.png" in output_of(
        "memos init handbook --name acme/handbook --from docs"
    )
    rollback = output_of('memos query "How do I roll back a deploy?" --cube acme/handbook -k 3')
    assert "deployctl rollback --to previous" in rollback
    receipts = output_of('memos query "Which expenses need a receipt?" --cube acme/handbook -k 3')
    assert "needs a receipt attached" in receipts
    first, again = (
        steps[str(i)]
        for i, c in enumerate(commands)
        if c == "memos add --file docs/runbook.md --cube acme/notes"
    )
    assert "added, 0 changed" in first
    assert "(0 added, 0 changed" in again
    assert "unchanged, 0 removed)" in again
    assert "would import 2 memories into acme/imported" in output_of(
        "memos import standups.jsonl --cube acme/imported --dry-run"
    )
    assert (tmp_path / "acme-handbook-copy.memcube").is_file()
    assert (tmp_path / "handbook-memos" / "textual_memory.json").is_file()


@pytest.mark.parametrize(
    "command", ["memos add --help", "memos import --help", "memos export --help"]
)
def test_the_commands_it_teaches_have_help(command: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "memos_client", *command.split()[1:]],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert result.stdout.startswith("usage: memos ")
