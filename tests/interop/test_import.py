"""`memos import`: MemOS cube directories, Letta agent files, mem0 exports, JSONL/CSV.

The MemOS and Letta fixtures in ../shared/interop are files those systems wrote; the other
variants are built the way their code writes them (tests/interop/formats.py).
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest

from memos_client.cli.main import run
from memos_client.runtime import MemOS
from tests.interop import formats

SHARED = Path(__file__).resolve().parents[3] / "shared" / "interop"
if not SHARED.is_dir():  # the main checkout sits beside shared/ too
    SHARED = Path("/work/shared/interop")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh MEMOS_HOME (hashing embedder: retrieval quality is not what is tested here)."""
    monkeypatch.setenv("MEMOS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MEMOS_EMBEDDER", "hashing")
    monkeypatch.delenv("MEMOS_PRINCIPAL", raising=False)
    return tmp_path / "home"


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    code = run(list(argv))
    out = capsys.readouterr()
    document = json.loads(out.out) if out.out.strip().startswith(("{", "[")) else out.out
    return code, document, out.err


def import_report(capsys: pytest.CaptureFixture[str], path: Path, *options: str) -> Any:
    """The report of ``memos import PATH OPTIONS --json``, which must succeed."""
    code, report, err = cli(capsys, "import", str(path), *options, "--json")
    assert code == 0, err
    return report


def memories(home: Path, cube: str) -> dict[str, Any]:
    with MemOS(home=home, embedder="hashing") as mem:
        return {item.source_id: item for item in mem.memories(cube)}


def all_bytes(home: Path) -> bytes:
    """Everything the runtime wrote (database, WAL, indexes)."""
    return b"".join(p.read_bytes() for p in home.rglob("*") if p.is_file())


def test_a_memos_general_cube(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, report, err = cli(capsys, "import", str(SHARED / "memos" / "general-cube"), "--json")
    assert code == 0, err
    assert report["cube"] == "alice/travel"
    assert (report["imported"], report["added"]) == (3, 3)
    kept = {note["field"]: note["target"] for note in report["fields"] if note["action"] == "kept"}
    assert kept["metadata.memory_time"] == "metadata.memory_time"
    assert kept["metadata.tags"] == "tags"
    dropped = {entry["what"]: entry for entry in report["dropped"]}
    assert dropped["config.json text_mem.config.extractor_llm.config.api_key"]["reason"] == (
        "a credential: never copied anywhere"
    )
    assert "max_tokens" not in json.dumps(report["dropped"])
    items = memories(home, "alice/travel")
    peanuts = items["21c6ec46-48c4-4936-b345-f72b42e48a36"]
    assert peanuts.text == "Alice is allergic to peanuts."
    assert peanuts.tags == ["health"]
    assert peanuts.metadata["confidence"] == 0.95
    assert peanuts.metadata["visibility"] == "private"
    assert peanuts.metadata["type"] == "fact"
    assert items["f28e6975-3653-4b9e-ba43-2273bff35106"].metadata["memory_time"] == "2026-03-14"
    assert b"sk-none" not in all_bytes(home)
    # Importing again changes nothing.
    code, again, _ = cli(capsys, "import", str(SHARED / "memos" / "general-cube"), "--json")
    assert (code, again["added"], again["unchanged"]) == (0, 0, 3)


def test_a_memos_naive_dump_into_a_named_cube(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = SHARED / "memos" / "naive-text"
    report = import_report(capsys, path, "--cube", "me/facts")
    items = memories(home, "me/facts")
    assert {item.metadata.get("source") for item in items.values()} == {"conversation", None}
    assert report["dropped"] == []


def test_a_memos_tree_dump_never_loads_its_pickle(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cube = formats.memos_tree_dump(tmp_path / "tree")
    marker = tmp_path / "unpickled"

    class Payload:
        def __reduce__(self) -> tuple[Any, tuple[str, str]]:
            return (open, (str(marker), "w"))

    (cube / "activation_memory.pickle").write_bytes(pickle.dumps(Payload()))
    code, text, err = cli(capsys, "import", str(cube))
    assert code == 0, err
    assert not marker.exists()
    assert (
        "  activation_memory.pickle: MemOS activation memory is a Python pickle: never loaded "
        "(unpickling runs code); build KV snapshots from the imported memories with `memos "
        "activate`"
    ) in text
    assert "config.json text_mem.config.graph_db.config.password: a credential" in text
    assert "metadata.embedding: a vector of MemOS's embedder" in text
    assert "memories with status 'deleted': deleted in MemOS" in text
    items = memories(home, "memos/bob-running")
    marathon = next(i for i in items.values() if "marathon" in i.text)
    trains = next(i for i in items.values() if "Tuesdays" in i.text)
    assert marathon.metadata["relations"] == [{"type": "RELATE_TO", "target": trains.source_id}]
    assert marathon.metadata["memory_type"] == "LongTermMemory"
    assert marathon.metadata["sources"][0]["role"] == "user"
    assert str(trains.state) == "archived"
    assert marathon.created == "2026-01-01T00:00:00.000000Z"
    assert b"hunter2" not in all_bytes(home)
    assert b"sk-live-123" not in all_bytes(home)


def test_a_memos_general_text_file(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = formats.memos_general_dump(tmp_path / "textual_memory.json")
    report = import_report(capsys, path, "--cube", "me/carol")
    assert report["format"] == "memos"
    assert {i.text for i in memories(home, "me/carol").values()} == {
        "Carol speaks Portuguese.",
        "Carol's cat is called Miso.",
    }
    assert any(n["field"] == "vector" and n["action"] == "dropped" for n in report["fields"])


@pytest.mark.parametrize(
    ("name", "blocks", "code_tools"),
    [
        ("memgpt_agent.af", {"human", "persona"}, 0),
        ("memgpt_agent_with_convo.af", {"human", "persona"}, 0),
        ("customer_service.af", {"human", "persona"}, 4),
    ],
)
def test_letta_agent_files(
    home: Path, capsys: pytest.CaptureFixture[str], name: str, blocks: set[str], code_tools: int
) -> None:
    code, report, err = cli(capsys, "import", str(SHARED / "letta" / name), "--json")
    assert code == 0, err
    cube = report["cube"]
    items = memories(home, cube)
    assert {tag for item in items.values() for tag in item.tags} == blocks
    dropped = [entry["what"] for entry in report["dropped"]]
    assert sum(what.endswith("(source code)") for what in dropped) == code_tools
    assert ("the outer JSON string" in dropped) == (name != "memgpt_agent_with_convo.af")
    assert "messages" in dropped  # only with --messages
    human = next(i for i in items.values() if "human" in i.tags)
    assert human.metadata["limit"] == 20000
    assert human.metadata["read_only"] is False


def test_letta_tool_code_is_never_run(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "ran"
    code_text = f"open({str(marker)!r}, 'w').write('x')\ndef book_train(city: str) -> str:\n    return city\n"
    path = formats.letta_file(tmp_path / "agent.af", formats.letta_v2(tool_code=code_text))
    code, text, err = cli(capsys, "import", str(path))
    assert code == 0, err
    assert not marker.exists()
    assert "tool book_train (source code): code: never run, never imported" in text
    assert b"book_train(city" not in all_bytes(home)


def test_letta_messages_only_when_asked(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = formats.letta_file(tmp_path / "agent.af", formats.letta_v2())
    assert import_report(capsys, path)["imported"] == 2
    report = import_report(capsys, path, "--messages")
    assert report["added"] == 2
    turns = sorted(
        (
            i
            for i in memories(home, "letta/travel-buddy").values()
            if i.metadata.get("letta") == "message"
        ),
        key=lambda i: i.metadata["turn"],
    )
    assert [(t.metadata["speaker"], t.text) for t in turns] == [
        ("user", "I just moved to Lyon."),
        ("assistant", "Welcome to Lyon!"),
    ]
    assert {t.metadata["session"] for t in turns} == {"travel_buddy"}
    assert turns[0].created == "2025-10-31T22:57:00.000000Z"
    whats = {entry["what"] for entry in report["dropped"]}
    assert {"system messages", "tool messages"} <= whats
    dropped = {n["field"]: n["reason"] for n in report["fields"] if n["action"] == "dropped"}
    assert dropped["agent.tool_exec_environment_variables"] == "may hold credentials: never copied"
    assert dropped["message.content"] == "an assistant's inner monologue, not what it said"


def test_letta_archival_passages(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = formats.letta_file(tmp_path / "agent.af", formats.letta_v2(passages=50))
    report = import_report(capsys, path)
    assert report["found"]["archival passages"] == 50
    items = memories(home, "letta/travel-buddy")
    passage = items["passage/passage-7"]
    assert passage.tags == ["trains"]
    assert passage.metadata["archive_id"] == "archive-0"
    assert passage.created == "2025-09-01T00:00:00.000000Z"


def test_the_first_letta_schema(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = formats.letta_file(tmp_path / "old.af", formats.letta_v1())
    code, text, err = cli(capsys, "import", str(path), "--messages")
    assert code == 0, err
    items = memories(home, "letta/memgpt-agent")
    assert {i.text for i in items.values()} == {"First name: Chad", "I like sailing."}
    assert "tool web_search (source code): code: never run, never imported" in text
    assert b"tvly-secret" not in all_bytes(home)


def test_a_mem0_openmemory_export(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = formats.mem0_export(tmp_path / "memories_export_alice.zip")
    report = import_report(capsys, path)
    assert report["cube"] == "mem0/alice"
    assert report["found"] == {"memories": 5}
    items = memories(home, "mem0/alice")
    by_text = {item.text: item for item in items.values()}
    assert set(by_text) == {
        "Prefers window seats on trains.",
        "Is allergic to penicillin.",
        "Used to live in Porto.",
        "Temporarily off caffeine.",
    }
    assert by_text["Prefers window seats on trains."].tags == ["travel"]
    assert by_text["Prefers window seats on trains."].metadata["app"] == "claude"
    assert str(by_text["Temporarily off caffeine."].state) == "archived"
    assert by_text["Temporarily off caffeine."].metadata["mem0_state"] == "paused"
    assert str(by_text["Used to live in Porto."].state) == "archived"
    assert (
        by_text["Used to live in Porto."].metadata["status_history"][0]["new_state"] == "archived"
    )
    assert by_text["Is allergic to penicillin."].created == "2025-06-02T09:30:00.123456Z"
    whats = {entry["what"] for entry in report["dropped"]}
    assert {"memories in state 'deleted'", "user name and e-mail", "access_controls"} <= whats
    assert b"alice@example.org" not in all_bytes(home)


def test_jsonl_and_csv(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    jsonl = tmp_path / "notes.jsonl"
    jsonl.write_text(
        '{"text": "Ships on Fridays.", "tags": ["ops"], "metadata": {"team": "core"}, "owner": "kim"}\n'
        '{"id": "n2", "text": "Standup at 9.", "state": "archived"}\n'
    )
    code, _, err = cli(capsys, "import", str(jsonl), "--json")
    assert code == 0, err
    items = memories(home, "local/notes")
    ships = next(i for i in items.values() if i.text == "Ships on Fridays.")
    assert ships.metadata == {"team": "core", "owner": "kim"}
    assert str(items["n2"].state) == "archived"
    table = tmp_path / "facts.csv"
    table.write_text(
        'text,tags,metadata,source\n"Paris is in France.",geo;europe,"{""n"": 1}",atlas\n'
    )
    import_report(capsys, table, "--cube", "me/geo")
    (fact,) = memories(home, "me/geo").values()
    assert fact.tags == ["geo", "europe"]
    assert fact.metadata == {"n": 1, "source": "atlas"}


def build_bad(kind: str, tmp_path: Path) -> Path:
    if kind == "af-not-json":
        path = tmp_path / "agent.af"
        path.write_text('{"agents": [')
    elif kind == "af-block-value":
        document = formats.letta_v2()
        document["blocks"][1]["value"] = 42
        path = tmp_path / "agent.af"
        path.write_text(json.dumps(document))
    elif kind == "af-agents":
        path = tmp_path / "agent.af"
        path.write_text(json.dumps({"agents": {"name": "x"}}))
    elif kind == "memos-memory":
        path = tmp_path / "cube"
        shutil.copytree(SHARED / "memos" / "general-cube", path)
        items = json.loads((path / "textual_memory.json").read_text())
        del items[1]["memory"]
        (path / "textual_memory.json").write_text(json.dumps(items))
    elif kind == "memos-not-json":
        path = tmp_path / "cube"
        shutil.copytree(SHARED / "memos" / "general-cube", path)
        (path / "textual_memory.json").write_text("[{]")
    elif kind == "memos-nan":
        path = tmp_path / "cube"
        shutil.copytree(SHARED / "memos" / "general-cube", path)
        text = (
            (path / "textual_memory.json")
            .read_text()
            .replace('"confidence": 0.95', '"confidence": NaN')
        )
        (path / "textual_memory.json").write_text(text)
    elif kind == "zip-no-json":
        path = tmp_path / "export.zip"
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("readme.txt", "hi")
    elif kind == "zip-damaged":
        path = formats.mem0_export(tmp_path / "export.zip")
        data = path.read_bytes()
        path.write_bytes(data[:40] + b"\x00" * 200 + data[240:])
    elif kind == "zip-state":
        path = formats.mem0_export(tmp_path / "export.zip", [("x", "forgotten", [])])
    else:
        raise AssertionError(kind)
    return path


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("af-not-json", "{path}: not valid JSON (Expecting value at line 1 column 13)"),
        ("af-block-value", "{path}: blocks[1].value: must be a string"),
        ("af-agents", "{path}: agents: must be a list"),
        ("memos-memory", "{path}/textual_memory.json: [1].memory: must be a string"),
        ("memos-not-json", "{path}/textual_memory.json: not valid JSON (Expecting property name enclosed in double quotes at line 1 column 3)"),
        ("memos-nan", "{path}/textual_memory.json: not valid JSON (NaN is not JSON)"),
        ("zip-no-json", "{path}: memories.json is missing: not an OpenMemory export (POST /api/v1/backup/export)"),
        ("zip-state", "{path}: memories.json: memories[0].state: unknown state 'forgotten'"),
    ],
)  # fmt: skip
def test_malformed_files_give_one_error_line_and_change_nothing(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str, message: str
) -> None:
    path = build_bad(kind, tmp_path)
    code, _, err = cli(capsys, "import", str(path), "--cube", "me/target")
    assert code == 2
    assert err == "error: " + message.format(path=path) + "\n"
    assert (
        not (home / "runtime" / "memos.db").exists()
        or not MemOS(home=home, embedder="hashing").cubes()
    )


def test_a_damaged_zip_is_refused(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = build_bad("zip-damaged", tmp_path)
    code, _, err = cli(capsys, "import", str(path))
    assert code == 2
    assert err.startswith(f"error: {path}: ")
    assert err.count("\n") == 1


def test_dry_run_writes_nothing(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, text, err = cli(capsys, "import", str(SHARED / "memos" / "general-cube"), "--dry-run")
    assert code == 0, err
    assert "would import 3 memories into alice/travel (3 new, 0 changed, 0 unchanged)" in text
    assert text.rstrip().endswith("dry run: nothing was written")
    with MemOS(home=home, embedder="hashing") as mem:
        assert "alice/travel" not in mem.cubes()


def test_import_into_a_cube_the_principal_may_not_write(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with MemOS(home=home, embedder="hashing") as mem:
        mem.add("Existing memory.", cube="team/kb")
        mem.add_principal("bob")
        mem.set_access("team/kb", read=["*"], write=["local"])
    before = memories(home, "team/kb")
    path = formats.mem0_export(tmp_path / "export.zip")
    for extra in ([], ["--dry-run"]):
        code, _, err = cli(capsys, "import", str(path), "--cube", "team/kb", "--as", "bob", *extra)
        assert code == 8
        assert err.startswith("error: ")
        assert "bob" in err
    assert memories(home, "team/kb").keys() == before.keys()


def test_a_failed_import_leaves_the_store_as_it_was(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with MemOS(home=home, embedder="hashing") as mem:
        mem.add("Existing memory.", cube="team/kb")
    path = tmp_path / "dupes.jsonl"
    path.write_text('{"id": "a", "text": "one"}\n{"id": "a", "text": "two"}\n')
    code, _, err = cli(capsys, "import", str(path), "--cube", "team/kb")
    assert code == 2
    assert err == f"error: {path}: invalid records: record 1: id 'a' appears twice\n"
    assert [i.text for i in memories(home, "team/kb").values()] == ["Existing memory."]


def test_a_memory_longer_than_the_embedder_reads_is_cut_into_chunks(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    long_text = "\n\n".join(f"Paragraph {i}: " + "words " * 120 for i in range(30))
    path = tmp_path / "long.jsonl"
    path.write_text(json.dumps({"id": "essay", "text": long_text, "tags": ["essay"]}) + "\n")
    report = import_report(capsys, path)
    items = memories(home, "local/long")
    assert len(items) > 10
    assert all(item.tags == ["essay"] for item in items.values())
    assert all(item.source_id.startswith("essay#") for item in items.values())
    joined = "".join(
        "".join(i.text.split())
        for i in sorted(items.values(), key=lambda i: i.metadata["chunk"]["start"])
    )
    assert joined == "".join(long_text.split())
    assert os.path.basename(report["source"]) == "long.jsonl"
