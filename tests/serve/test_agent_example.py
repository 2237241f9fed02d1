"""examples/agent/agent.py runs: a tiny random-weight Llama answers through the MCP tools.

Checks the wiring (which tools were called, the planned memory placed in the prompt, the
exchange remembered), not the quality of the answers.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memos_client.runtime import MemOS
from tests.activation.conftest import build_tiny_llama
from tests.serve.conftest import run_python
from tests.support import REPO

pytestmark = pytest.mark.slow


def test_the_agent_example_plans_generates_and_remembers(tmp_path: Path) -> None:
    model = build_tiny_llama(tmp_path / "tiny-llama")
    home = tmp_path / "home"
    with MemOS(home, embedder="hashing") as mem:
        mem.add("Luna is a grey cat who sleeps on the windowsill.", cube="me/pets")
        mem.add("The quarterly report is due on Friday.", cube="me/work")
    trace_file = tmp_path / "trace.json"
    done = run_python(
        home,
        str(REPO / "examples" / "agent" / "agent.py"),
        "--model",
        str(model),
        "--max-new-tokens",
        "4",
        "--remember",
        "Ann is vegetarian.",
        "--trace",
        str(trace_file),
        "Where does Luna sleep?",
        "What should I cook for Ann?",
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "Q: Where does Luna sleep?" in done.stdout
    trace = json.loads(trace_file.read_text())
    tools = [step["tool"] for step in trace if "tool" in step]
    assert tools == [
        "add_memory",
        "plan_context",
        "add_messages",
        "plan_context",
        "add_messages",
    ]
    assert not any(step.get("is_error") for step in trace)
    prompts = [step["prompt"] for step in trace if "prompt" in step]
    assert "Luna is a grey cat who sleeps on the windowsill." in prompts[0]
    assert "Ann is vegetarian." in prompts[1]
    assert prompts[0].rstrip().endswith("Question: Where does Luna sleep?\nAnswer:")
    with MemOS(home, embedder="hashing") as mem:  # the exchange was remembered, per turn
        remembered = mem.memories("local/agent")
        assert [item.metadata["role"] for item in remembered[1:]] == ["user", "assistant"] * 2
