"""The runtime CLI commands, run as real `memos` processes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import run_memos


@pytest.mark.slow
def test_add_query_plan_history_diff_rollback_tick(tmp_path: Path) -> None:
    added = run_memos(
        tmp_path,
        "add",
        "Paris is the capital of France",
        "--cube",
        "me/geo",
        "-t",
        "geo",
        "-m",
        "source=atlas",
        "--json",
    )
    assert added.returncode == 0, added.stderr
    item = json.loads(added.stdout)
    assert item["tags"] == ["geo"]
    assert item["metadata"] == {"source": "atlas"}
    second = run_memos(tmp_path, "add", "Rome is the capital of Italy", "--cube", "me/geo")
    second_id = second.stdout.strip()

    query = run_memos(tmp_path, "query", "French capital city", "--k", "1", "--json")
    assert query.returncode == 0, query.stderr
    [hit] = json.loads(query.stdout)
    assert hit["item"]["id"] == item["id"]
    assert set(hit["ranks"]) >= {"semantic"}
    text = run_memos(tmp_path, "query", "capital", "--cube", "me/geo", "--tag", "geo")
    assert item["id"] in text.stdout
    assert second_id not in text.stdout

    plan = json.loads(
        run_memos(tmp_path, "plan", "capital of France", "--budget", "12", "--json").stdout
    )
    assert plan["used_tokens"] <= 12
    assert plan["memories"][0]["item"]["id"] == item["id"]

    history = json.loads(run_memos(tmp_path, "history", "me/geo", "--json").stdout)
    assert [entry["op"] for entry in history] == ["add", "add"]
    first_change = str(history[0]["seq"])
    diff = json.loads(run_memos(tmp_path, "diff", "me/geo", first_change, "--json").stdout)
    assert [(d["item_id"], d["change"]) for d in diff] == [(second_id, "added")]
    rolled = run_memos(tmp_path, "rollback", "me/geo", "--to", first_change, "--json")
    assert json.loads(rolled.stdout)["deleted"] == [second_id]
    tick = json.loads(run_memos(tmp_path, "lifecycle", "tick", "--json").stdout)
    assert set(tick) == {"now", "expired", "activated", "archived", "demoted", "dry_run"}


@pytest.mark.slow
def test_cli_errors_are_one_line_with_exit_codes(tmp_path: Path) -> None:
    assert run_memos(tmp_path, "add", "secret", "--cube", "team/secret").returncode == 0
    assert run_memos(tmp_path, "principal", "add", "bob").returncode == 0
    granted = run_memos(tmp_path, "access", "team/secret", "--read", "local", "--write", "local")
    assert granted.returncode == 0, granted.stderr
    cases = [
        (("query", "secret", "--cube", "team/secret", "--as", "bob"), 8, "may not read"),
        (("query", "secret", "--as", "mallory"), 4, "unknown principal 'mallory'"),
        (("history", "no-such-id"), 4, "no memory or cube"),
        (("rollback", "team/secret", "--to", "2001-01-01T00:00:00Z"), 2, "did not exist"),
        (("add", "", "--cube", "me/x"), 2, "non-empty"),
        (("add", "x", "--cube", "noslash"), 2, "namespace/name"),
        (("lifecycle", "tick", "--now", "soon"), 2, "--now"),
        (("add", "x", "-m", "novalue"), 2, "KEY=VALUE"),
    ]
    for args, code, message in cases:
        result = run_memos(tmp_path, *args)
        assert result.returncode == code, (args, result.stderr)
        assert result.stderr.startswith("error: ")
        assert message in result.stderr
        assert result.stderr.count("\n") == 1, result.stderr


def test_memory_texts_are_printed_without_their_control_characters(tmp_path: Path) -> None:
    # A cube from someone else may hold terminal escape sequences; JSON output keeps them.
    hostile = "Okapi facts \x1b]0;pwned\x07\x1b[2J here\tand\nthere"
    assert run_memos(tmp_path, "add", hostile, "--cube", "me/zoo").returncode == 0
    shown = run_memos(tmp_path, "query", "okapi facts").stdout
    assert "\x1b" not in shown
    assert "\x07" not in shown
    assert "Okapi facts \\x1b]0;pwned\\x07\\x1b[2J here\tand\nthere" in shown
    history = run_memos(tmp_path, "history", "me/zoo").stdout
    assert "\x1b" not in history
    assert "\\x1b]0;pwned" in history
    [hit] = json.loads(run_memos(tmp_path, "query", "okapi facts", "--json").stdout)
    assert hit["item"]["text"] == hostile
