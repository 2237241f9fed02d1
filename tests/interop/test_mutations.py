"""No field of a real file, given a value of the wrong type, crashes `memos import`.

Every field of a few real files (and of files built the way their systems write them) is set,
one at a time, to each of a handful of values of other JSON types; reading the file then either
works or raises the one error the CLI turns into an `error:` line naming the file and the field
(`ImportFormatError` / `UsageError`) -- never a `TypeError`, `KeyError` or `AttributeError`.
"""

from __future__ import annotations

import copy
import json
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from memos_client.errors import ImportFormatError, UsageError
from memos_client.interop.importer import detect_format, read_batch
from tests.interop import formats
from tests.interop.test_import import SHARED

FIXTURES = Path(__file__).parent / "fixtures"
WRONG = (None, 42, "x", [], {}, True)
Path_ = tuple[str | int, ...]


def paths(value: Any, prefix: Path_ = ()) -> Iterator[Path_]:
    """Every path into ``value`` (the first two items of each list stand for the rest)."""
    yield prefix
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value[:2]):
            yield from paths(inner, (*prefix, index))


def mutated(document: Any, path: Path_, value: Any) -> Any:
    if not path:
        return value
    copied = copy.deepcopy(document)
    inner = copied
    for key in path[:-1]:
        inner = inner[key]
    inner[path[-1]] = value
    return copied


def survives(path: Path) -> str | None:
    """None when reading ``path`` works or fails with one clear error; else what crashed."""
    try:
        read_batch(path, detect_format(path), messages=True)
    except (ImportFormatError, UsageError):
        pass
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def crashes(document: Any, write: Any) -> list[str]:
    found = []
    for path in paths(document):
        for value in WRONG:
            problem = survives(write(mutated(document, path, value)))
            if problem is not None:
                found.append(f"{'/'.join(map(str, path))} = {value!r}: {problem}")
    return found


@pytest.mark.parametrize(
    "name",
    ["letta/memgpt_agent-da3e10e.af", "memos/mem_cube_2/textual_memory.json"],
)
def test_wrong_types_in_a_real_file(tmp_path: Path, name: str) -> None:
    source = FIXTURES / name
    document = json.loads(source.read_text())
    target = tmp_path / source.name

    def write(changed: Any) -> Path:
        target.write_text(json.dumps(changed))
        return target

    assert crashes(document, write) == []


def test_wrong_types_in_a_current_letta_file(tmp_path: Path) -> None:
    document = formats.letta_v2(passages=2)
    document["agents"][0]["messages"] += formats.letta_v1_agent_conversation()
    target = tmp_path / "agent.af"

    def write(changed: Any) -> Path:
        target.write_text(json.dumps(changed))
        return target

    assert crashes(document, write) == []


def test_wrong_types_in_a_memos_config(tmp_path: Path) -> None:
    cube = shutil.copytree(SHARED / "memos" / "general-cube", tmp_path / "cube")
    document = json.loads((cube / "config.json").read_text())

    def write(changed: Any) -> Path:
        (cube / "config.json").write_text(json.dumps(changed))
        return cube

    assert crashes(document, write) == []


def test_wrong_types_in_a_mem0_export(tmp_path: Path) -> None:
    target = tmp_path / "export.zip"
    captured: dict[str, Any] = {}
    formats.mem0_export(target, edit=lambda dump: captured.update(dump=copy.deepcopy(dump)))

    def write(changed: Any) -> Path:
        with zipfile.ZipFile(target, "w") as archive:
            archive.writestr("memories.json", json.dumps(changed))
        return target

    assert crashes(captured["dump"], write) == []


def test_wrong_types_in_a_mem0_memory_list(tmp_path: Path) -> None:
    from tests.interop.test_real_files import MEM0_ITEMS

    target = tmp_path / "mem0.json"

    def write(changed: Any) -> Path:
        target.write_text(json.dumps(changed))
        return target

    assert crashes({"results": MEM0_ITEMS, "relations": []}, write) == []


def test_wrong_types_in_a_jsonl_line(tmp_path: Path) -> None:
    target = tmp_path / "notes.jsonl"

    def write(changed: Any) -> Path:
        target.write_text(json.dumps(changed) + "\n")
        return target

    line = {"id": "a", "text": "Ships on Fridays.", "tags": ["ops"], "metadata": {"team": "core"}, "state": "archived", "created": "2025-01-01T00:00:00Z", "owner": "kim"}  # fmt: skip
    assert crashes(line, write) == []


@pytest.mark.parametrize("state", [[], {}, ["archived"]])
def test_a_record_state_of_the_wrong_type_is_refused(state: Any) -> None:
    """The runtime's record check (every import and install goes through it) names the field."""
    from memos_client.runtime.record_checks import validate_records

    with pytest.raises(UsageError, match="record 0: 'state' must be one of activated, archived"):
        validate_records([{"text": "x", "state": state}])
