"""`memos get/update/delete` and the filter options of `memos query`/`plan` (issue #19)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support import run_memos

HASHING = {"MEMOS_EMBEDDER": "hashing"}


def memos(home: Path, *args: str) -> tuple[int, str, str]:
    result = run_memos(home, *args, env=HASHING)
    return result.returncode, result.stdout, result.stderr


def _add(home: Path, text: str, *args: str) -> str:
    code, out, err = memos(home, "add", text, *args)
    assert code == 0, err
    return out.strip()


def test_get_update_delete(tmp_path: Path) -> None:
    item = _add(tmp_path, "the wifi password is hunter2", "--cube", "me/home", "-t", "net",
                "-m", "room=office", "-m", "floor=2")  # fmt: skip
    code, out, _ = memos(tmp_path, "get", item, "--json")
    assert code == 0
    assert json.loads(out)["metadata"] == {"room": "office", "floor": 2}
    code, out, err = memos(tmp_path, "update", item, "--text", "the wifi password is swordfish",
                           "-m", "floor=3", "--unset", "room", "-t", "wifi", "--json")  # fmt: skip
    assert code == 0, err
    updated = json.loads(out)
    assert (updated["text"], updated["tags"], updated["metadata"], updated["version"]) == (
        "the wifi password is swordfish",
        ["wifi"],
        {"floor": 3},
        2,
    )
    code, out, _ = memos(tmp_path, "get", item)
    assert out.splitlines()[0] == f"{item}  [me/home] v2 generated"
    assert out.splitlines()[-1] == "the wifi password is swordfish"
    code, _, err = memos(tmp_path, "update", item)
    assert (code, err.startswith("error: nothing to change")) == (2, True)
    code, _, err = memos(tmp_path, "update", item, "--unset", "colour")
    assert (code, err) == (2, f"error: --unset 'colour': memory {item} has no such key\n")
    code, out, _ = memos(tmp_path, "delete", item)
    assert (code, out) == (0, f"deleted {item}\n")
    code, _, err = memos(tmp_path, "get", item)
    assert code == 4
    assert err == f"error: memory {item!r} is deleted; see `memos history {item}`\n"
    code, _, err = memos(tmp_path, "delete", "no-such-id")
    assert code == 4
    assert "unknown memory 'no-such-id'" in err


def _query(home: Path, *args: str) -> Any:
    code, out, err = memos(home, "query", "fix bug task", "--k", "20", "--json", *args)
    assert code == 0, err
    return sorted(hit["item"]["text"] for hit in json.loads(out))


@pytest.fixture
def tasks(tmp_path: Path) -> Path:
    _add(tmp_path, "fix A", "--cube", "me/tasks", "-t", "bug", "-m", "priority=1",
         "-m", "due=2026-01-05")  # fmt: skip
    _add(tmp_path, "fix B", "--cube", "me/tasks", "-t", "docs", "-m", "priority=2")
    _add(tmp_path, "fix C", "--cube", "me/tasks", "-t", "ci", "-m", "priority=3")
    _add(tmp_path, "fix D", "--cube", "me/other", "-t", "bug")
    return tmp_path


def test_query_filters(tasks: Path) -> None:
    assert _query(tasks, "--where", "priority<2") == ["fix A"]
    assert _query(tasks, "--where", "priority>=2", "--where", "priority!=3") == ["fix B"]
    assert _query(tasks, "--where", '{"priority": {"$in": [1, 3]}}') == ["fix A", "fix C"]
    assert _query(tasks, "--where", '{"due": {"$exists": true}}') == ["fix A"]
    assert _query(tasks, "--any-tag", "ci", "--any-tag", "docs") == ["fix B", "fix C"]
    assert _query(tasks, "--cube", "me/tasks", "--cube", "me/other", "-t", "bug") == [
        "fix A",
        "fix D",
    ]
    assert _query(tasks, "--since", "1h", "--cube", "me/other") == ["fix D"]
    assert _query(tasks, "--until", "1h") == []
    assert _query(tasks, "--since", "2099-01-01T00:00:00Z") == []
    code, out, _ = memos(tasks, "plan", "fix", "--where", "priority<=1", "--json")
    assert code == 0
    assert [m["item"]["text"] for m in json.loads(out)["memories"]] == ["fix A"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--where", "priority"), "error: --where 'priority': expected KEY=VALUE"),
        (
            ("--where", '{"priority": {"$lt": [1]}}'),
            "error: invalid metadata filter: priority: $lt takes",
        ),
        (("--where", "{nope"), "error: --where '{nope': not a JSON object"),
        (("--since", "last week"), "error: --since 'last week': give an RFC 3339 time"),
    ],
)
def test_bad_filter_options_are_one_clear_error(tmp_path: Path, args: tuple[str, ...],
                                                message: str) -> None:  # fmt: skip
    _add(tmp_path, "fix A", "-m", "priority=1")
    code, _, err = memos(tmp_path, "query", "fix", *args)
    assert code == 2
    assert err.startswith(message)
    assert err.count("\n") == 1
