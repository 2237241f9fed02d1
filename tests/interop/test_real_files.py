"""`memos import` of real files other systems wrote (tests/interop/fixtures, ../shared/interop).

Each one imports, and its report accounts for every field that has a value, field by field: the
fields are listed here by walking the file itself, not by asking the reader. Fields a newer
version adds are reported as unknown, never a crash; nullable fields may be null; a malformed
file is one `error:` line naming the file and the field, and nothing is written.
"""

from __future__ import annotations

import json
import pickle
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest

from memos_client.interop.report import UNKNOWN_FIELD
from memos_client.runtime import MemOS
from tests.interop import formats
from tests.interop.test_import import SHARED, all_bytes, cli, import_report, memories

FIXTURES = Path(__file__).parent / "fixtures"
BROKEN_LETTA = FIXTURES / "letta" / "agent2-a7b06da.af"
LETTA_FILES = [
    *sorted(p for p in (FIXTURES / "letta").glob("*.af") if p != BROKEN_LETTA),
    *sorted((SHARED / "letta").glob("*.af")),
]
MEMOS_PATHS = [
    FIXTURES / "memos" / "mem_cube_2",
    FIXTURES / "memos" / "mem_cube_tree" / "textual_memory.json",
    SHARED / "memos" / "general-cube",
    SHARED / "memos" / "naive-text",
]


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh MEMOS_HOME (hashing embedder: retrieval quality is not what is tested here)."""
    monkeypatch.setenv("MEMOS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MEMOS_EMBEDDER", "hashing")
    monkeypatch.delenv("MEMOS_PRINCIPAL", raising=False)
    return tmp_path / "home"


def has_value(value: Any) -> bool:
    return value not in (None, "", [], {})


def named(kind: str, item: dict[str, Any], skip: tuple[str, ...] = ()) -> set[str]:
    """``KIND.FIELD`` for every field of ``item`` with a value."""
    return {
        f"{kind}.{key}" if kind else key
        for key, value in item.items()
        if key not in skip and has_value(value)
    }


def letta_document(path: Path) -> dict[str, Any]:
    document = json.loads(path.read_text())
    return json.loads(document) if isinstance(document, str) else document  # double-encoded


def letta_parts(document: dict[str, Any]) -> tuple[bool, list[dict[str, Any]], list[Any]]:
    legacy = "agents" not in document
    agents = [document] if legacy else document["agents"]
    blocks = (
        document["core_memory"]
        if legacy
        else document["blocks"] + [b for a in agents for b in a.get("memory_blocks") or []]
    )
    live = [b for b in blocks if b["value"].strip() and not b.get("is_deleted")]
    return legacy, agents, live


def users_words(text: str) -> bool:
    """Whether a text part of a user message holds the user's words, not Letta's own events
    (MemGPT's JSON: heartbeat, login, system_alert...) or a client's system reminder."""
    text = text.strip()
    if text.startswith("{"):
        try:
            return json.loads(text).get("type") == "user_message"
        except ValueError:
            return True
    return bool(text) and not text.startswith("<system-reminder>")


def letta_fields(document: dict[str, Any], messages: bool) -> set[str]:
    """Every field of the file that has a value, where the report must account for it."""
    legacy, agents, blocks = letta_parts(document)
    fields = set() if legacy else named("", document, ("agents", "blocks", "files", "passages"))
    for agent in agents:
        fields |= named("agent", agent, ("core_memory", "memory_blocks", "messages", "passages"))
        for message in agent.get("messages") or [] if messages else []:
            parts = message["content"] if isinstance(message["content"], list) else []
            said = any(p.get("type") == "text" and users_words(p["text"]) for p in parts)
            if message["role"] == "user" and said:
                fields |= named("message", message)
    for block in blocks:
        fields |= named("block", block)
    return fields


def memos_fields(document: Any) -> set[str]:
    """Every field of a MemOS textual memory dump that has a value."""
    fields: set[str] = set()
    items = document
    if isinstance(document, dict):
        fields |= named("", document, ("nodes", "edges"))
        items = document["nodes"]
    for item in items:
        if "payload" in item:
            fields |= named("", item, ("id", "payload"))
            item = item["payload"]
        metadata = item.get("metadata") or {}
        if item["memory"].strip() and metadata.get("status") != "deleted":
            fields |= named("", item, ("metadata",))
            fields |= named("metadata", metadata)
    return fields


def reported(report: dict[str, Any]) -> set[str]:
    return {note["field"] for note in report["fields"]}


def unknown(report: dict[str, Any]) -> list[str]:
    return [n["field"] for n in report["fields"] if n.get("reason") == UNKNOWN_FIELD]


@pytest.mark.parametrize("messages", [False, True], ids=["blocks", "messages"])
@pytest.mark.parametrize("path", LETTA_FILES, ids=lambda p: p.name)
def test_a_real_letta_file_imports_with_every_field_reported(
    home: Path, capsys: pytest.CaptureFixture[str], path: Path, messages: bool
) -> None:
    flags = ["--messages"] if messages else []
    report = import_report(capsys, path, *flags)
    document = letta_document(path)
    assert letta_fields(document, messages) - reported(report) == set()
    assert unknown(report) == []
    _, agents, blocks = letta_parts(document)
    assert report["found"]["agents"] == len(agents)
    items = list(memories(home, report["cube"]).values())
    imported = [i for i in items if i.metadata["letta"] == "block"]
    # Every block with text is there, under its label; a long one cut into chunks of its text.
    assert {i.metadata["label"] for i in imported} == {b["label"] for b in blocks}
    for item in imported:
        assert any(item.text in b["value"] for b in blocks if b["label"] == item.metadata["label"])
    said = [i for i in items if i.metadata["letta"] == "message" and i.metadata["role"] == "user"]
    users = [
        m
        for a in agents
        for m in a["messages"]
        if m["role"] == "user"
        and any(p.get("type") == "text" and users_words(p["text"]) for p in m["content"])
    ]
    assert len(said) == (len(users) if messages else 0)
    assert b"source_code" not in all_bytes(home)


def test_agents_sharing_blocks_and_a_sleeptime_group(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = FIXTURES / "letta" / "evie-11ef46c.af"
    report = import_report(capsys, path)
    assert report["cube"] == "letta/evie"
    items = {i.source_id: i for i in memories(home, "letta/evie").values()}
    assert items["block/about_me"].metadata["agents"] == ["Evie", "companion-sleeptime_copy"]
    assert items["block/memory_persona"].metadata["agents"] == ["companion-sleeptime_copy"]
    assert items["block/persona#e472f248173b0147"].metadata["label"] == "persona"  # long: cut
    assert items["block/guardrails"].metadata["read_only"] is True
    notes = {n["field"]: n for n in report["fields"]}
    assert notes["groups"]["reason"].startswith("multi-agent groups")
    assert notes["agent.group_ids"]["action"] == "dropped"
    assert notes["block.preserve_on_migration"]["action"] == "dropped"


def test_a_letta_v1_agent_answers_in_its_text(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = formats.letta_v2()
    document["agents"][0]["agent_type"] = "letta_v1_agent"
    document["agents"][0]["messages"] = formats.letta_v1_agent_conversation()
    path = tmp_path / "v1.af"
    path.write_text(json.dumps(document))
    report = import_report(capsys, path, "--messages")
    turns = sorted(
        (i for i in memories(home, report["cube"]).values() if i.metadata["letta"] == "message"),
        key=lambda i: i.metadata["turn"],
    )
    assert [t.text for t in turns] == [
        "What do you know about me?",
        "You live in Lyon and love trains.",
    ]
    notes = {n["field"]: n for n in report["fields"]}
    assert notes["message.content (other than text)"]["reason"] == (
        "reasoning and media: not words said"
    )
    assert b"Check the human block." not in all_bytes(home)


def test_a_real_letta_file_that_is_not_json_is_one_error_line(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli(capsys, "import", str(BROKEN_LETTA))
    assert code == 2
    assert err == (
        f"error: {BROKEN_LETTA}: not valid JSON (Expecting property name enclosed in double "
        "quotes at line 1 column 2030)\n"
    )
    assert not home.exists() or MemOS(home=home, embedder="hashing").cubes() == []


@pytest.mark.parametrize("path", MEMOS_PATHS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_a_real_memos_dump_imports_with_every_field_reported(
    home: Path, capsys: pytest.CaptureFixture[str], path: Path
) -> None:
    report = import_report(capsys, path, "--cube", "me/memos")
    memory_file = path if path.is_file() else path / "textual_memory.json"
    document = json.loads(memory_file.read_text())
    assert memos_fields(document) - reported(report) == set()
    assert unknown(report) == []
    items = document["nodes"] if isinstance(document, dict) else document
    texts = {(i.get("payload") or i)["memory"] for i in items}
    assert {i.text for i in memories(home, "me/memos").values()} == texts


def test_a_memos_general_text_cube_from_memos_examples(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cube = shutil.copytree(FIXTURES / "memos" / "mem_cube_2", tmp_path / "mem_cube_2")
    marker = tmp_path / "unpickled"

    class Payload:
        def __reduce__(self) -> tuple[Any, tuple[str, str]]:
            return (open, (str(marker), "w"))

    (cube / "activation_memory.pickle").write_bytes(pickle.dumps(Payload()))
    report = import_report(capsys, cube)
    assert not marker.exists()
    assert report["cube"] == "ki-seki/mem-cube-2"
    dropped = {entry["what"]: entry for entry in report["dropped"]}
    assert dropped["activation_memory.pickle"]["advice"] == (
        "build KV snapshots from the imported memories with `memos activate`"
    )
    assert dropped["parametric_memory.adapter"]["advice"] == (
        "train an adapter from the imported memories with `memos consolidate`"
    )
    assert dropped["README.md"]["reason"] == "not a MemOS memory file"
    items = memories(home, "ki-seki/mem-cube-2")
    eiffel = items["a18c2ce3-7824-41de-9f67-e6ef9d7c66e7"]
    assert eiffel.text == "The user loves the Eiffel Tower."
    assert eiffel.tags == ["opinions", "landmarks"]
    assert eiffel.metadata["entities"] == ["Eiffel Tower"]
    assert eiffel.metadata["confidence"] == 100.0
    assert eiffel.metadata["memory_time"] == "2025-06-03"
    assert eiffel.metadata["visibility"] == "session"
    notes = {n["field"]: n for n in report["fields"]}
    assert notes["vector"]["action"] == "dropped"


def test_a_memos_tree_dump_from_memos_examples(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = FIXTURES / "memos" / "mem_cube_tree" / "textual_memory.json"
    report = import_report(capsys, path, "--cube", "me/tree")
    item = memories(home, "me/tree")["c1e2bfb3-4dd7-40f9-a347-a25a72223b2c"]
    assert item.created == "2026-01-13T20:51:42.394870Z"
    assert item.metadata["memory_type"] == "UserMemory"
    assert item.metadata["key"] == "Persistence Demonstration"
    assert item.metadata["sources"][0] == {
        "type": "chat",
        "role": "user",
        "chat_time": "08:51 PM on 13 January, 2026",
        "content": "This is a test memory for dump example",
        "lang": "en",
    }
    notes = {n["field"]: n for n in report["fields"]}
    assert notes["metadata.sources"]["target"] == "metadata.sources (JSON text decoded)"
    assert notes["metadata.embedding"]["action"] == "dropped"
    assert notes["total_nodes"]["reason"] == "a count: recomputed"


def with_unknown_and_null_fields(kind: str, tmp_path: Path) -> tuple[Path, set[str]]:
    """A real file with fields a newer version might add, and nullable fields left null."""
    if kind == "letta":
        document = letta_document(FIXTURES / "letta" / "evie-11ef46c.af")
        document["future_section"] = [{"x": 1}]
        document["agents"][0]["future_setting"] = True
        block = document["blocks"][0]
        block.update(colour="blue", description=None, template_name=None, metadata=None)
        path = tmp_path / "evie.af"
        path.write_text(json.dumps(document))
        return path, {"future_section", "agent.future_setting", "block.colour"}
    if kind == "letta-v1":
        document = letta_document(FIXTURES / "letta" / "memgpt_agent-da3e10e.af")
        document["core_memory"][0].update(colour="blue", description=None, metadata_=None)
        document["messages"][0]["future"] = "x"
        document["messages"][1]["name"] = None
        path = tmp_path / "old.af"
        path.write_text(json.dumps(document))
        return path, {"block.colour"}
    path = shutil.copytree(FIXTURES / "memos" / "mem_cube_2", tmp_path / "cube")
    items = json.loads((path / "textual_memory.json").read_text())
    items[0]["future"] = "x"
    items[0]["payload"]["hash"] = "abc"
    items[0]["payload"]["metadata"].update(
        tags=None, session_id=None, confidence=None, memory_time=None, created_at=None
    )
    items[1]["payload"]["metadata"] = None
    items[1]["id"] = items[1]["payload"]["id"] = None  # MemOS makes an id up for such an item
    (path / "textual_memory.json").write_text(json.dumps(items))
    return path, {"future", "hash"}


@pytest.mark.parametrize("kind", ["letta", "letta-v1", "memos"])
def test_unknown_fields_are_reported_and_null_fields_read(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    path, new_fields = with_unknown_and_null_fields(kind, tmp_path)
    report = import_report(capsys, path, "--cube", "me/x", "--messages")
    assert set(unknown(report)) == new_fields
    items = memories(home, "me/x")
    assert len(items) == report["imported"]
    for item in items.values():
        assert None not in item.metadata.values()
    if kind == "memos":
        assert "The user is a professor." in {i.text for i in items.values()}


def broken(kind: str, tmp_path: Path) -> tuple[Path, str]:
    if kind.startswith("letta"):
        document = letta_document(FIXTURES / "letta" / "evie-11ef46c.af")
        path = tmp_path / "evie.af"
        if kind == "letta-value":
            document["blocks"][12]["value"] = None
            message = "{path}: blocks[12].value: must be a string"
        elif kind == "letta-tags":
            document["blocks"][3]["tags"] = "a,b"
            message = "{path}: blocks[3].tags: must be a list of strings"
        else:
            document["agents"][1]["messages"] = {"role": "user"}
            message = "{path}: agents[1].messages: must be a list"
        path.write_text(json.dumps(document))
        return path, message
    path = shutil.copytree(FIXTURES / "memos" / "mem_cube_2", tmp_path / "cube")
    items = json.loads((path / "textual_memory.json").read_text())
    if kind == "memos-payload":
        items[1]["payload"] = "The user is a professor."
        message = "{path}/textual_memory.json: [1].payload: must be an object"
    else:
        items[0]["payload"]["metadata"]["status"] = "forgotten"
        message = "{path}/textual_memory.json: [0].metadata.status: unknown status 'forgotten'"
    (path / "textual_memory.json").write_text(json.dumps(items))
    return path, message


@pytest.mark.parametrize(
    "kind", ["letta-value", "letta-tags", "letta-messages", "memos-payload", "memos-status"]
)
def test_a_malformed_real_file_changes_nothing(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    with MemOS(home=home, embedder="hashing") as mem:
        mem.add("Existing memory.", cube="me/x")
    before = all_bytes(home)
    path, message = broken(kind, tmp_path)
    code, _, err = cli(capsys, "import", str(path), "--cube", "me/x", "--messages")
    assert code == 2
    assert err == "error: " + message.format(path=path) + "\n"
    assert all_bytes(home) == before
    assert [i.text for i in memories(home, "me/x").values()] == ["Existing memory."]


def mem0_fields(path: Path) -> set[str]:
    """Every field of an OpenMemory export's memories.json that has a value."""
    with zipfile.ZipFile(path) as archive:
        dump = json.loads(archive.read("memories.json"))
    handled = ("memories", "user", "status_history", "access_controls")
    fields = named("", dump, handled) | named("user", dump["user"], ("name", "email"))
    for row in dump["memories"]:
        if row["state"] != "deleted" and (row["content"] or "").strip():
            fields |= named("memory", row)
    return fields


def test_a_mem0_export_has_every_field_reported(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = formats.mem0_export(tmp_path / "export.zip")
    report = import_report(capsys, path)
    assert mem0_fields(path) - reported(report) == set()
    assert unknown(report) == []


def test_a_mem0_export_with_unknown_and_null_fields(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def edit(dump: dict[str, Any]) -> None:
        dump["memories"][0].update(pinned=True, metadata=None, app_id=None, updated_at=None)
        dump["memories"][1].update(content=None)
        dump["memories"][2].update(category_ids=None, created_at="yesterday")
        dump["user"].update(name=None, email=None, plan="pro")
        dump["categories"][0]["description"] = None
        dump["webhooks"] = [{"url": "https://example.org"}]

    path = formats.mem0_export(tmp_path / "export.zip", edit=edit, logical_extra={"score": 1})
    report = import_report(capsys, path)
    assert set(unknown(report)) == {
        "memory.pinned",
        "user.plan",
        "webhooks",
        "memories.jsonl.gz.score",
    }
    notes = {n["field"]: n for n in report["fields"]}
    assert notes["memory.created_at"]["reason"] == "not a timestamp this importer can read"
    items = {i.text: i for i in memories(home, "mem0/alice").values()}
    assert "Is allergic to penicillin." not in items  # its content is null
    assert items["Prefers window seats on trains."].metadata["app"] == "claude"  # from the gzip
    assert None not in items["Used to live in Porto."].metadata.values()


MEM0_ITEMS = [
    {"id": "7f3a9c2e-1b4d-4e8f-9a6b-2c5d8e1f0a3b", "memory": "Likes hiking in the Alps", "hash": "1c9d6ef6c5e04e7e3d0c0b3f5a1d2e4f", "metadata": {"source": "chat"}, "created_at": "2025-03-02T10:11:12.345678-08:00", "updated_at": None, "user_id": "alice", "agent_id": None, "run_id": None},
    {"id": "8e4b0d3f-2c5e-4f90-8b7c-3d6e9f2a1b4c", "memory": "Is vegetarian", "hash": "2d0e7f07d6f15f8f4e1d1c4a6b2e3f5a", "metadata": None, "created_at": "2025-03-02T10:12:00-08:00", "updated_at": "2025-04-01T09:00:00-07:00", "user_id": "alice", "role": "user", "categories": ["food"]},
]  # fmt: skip


@pytest.mark.parametrize("layout", ["results", "list"])
def test_mem0s_own_memory_list(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], layout: str
) -> None:
    """What mem0's ``Memory.get_all()`` returns, saved as JSON: ``{"results": [...]}`` since
    mem0 1.1, the bare list before; not mistaken for a MemOS dump (items with ``memory``)."""
    document: Any = {"results": MEM0_ITEMS, "relations": [{"source": "alice", "relationship": "likes", "target": "alps"}]}  # fmt: skip
    path = tmp_path / "mem0.json"
    path.write_text(json.dumps(document if layout == "results" else MEM0_ITEMS))
    report = import_report(capsys, path)
    assert (report["format"], report["cube"], report["imported"]) == ("mem0", "mem0/alice", 2)
    assert unknown(report) == []
    fields = named("", MEM0_ITEMS[0]) | named("", MEM0_ITEMS[1])
    if layout == "results":
        fields.add("relations")
    assert fields - reported(report) == set()
    items = memories(home, "mem0/alice")
    hiking = items["7f3a9c2e-1b4d-4e8f-9a6b-2c5d8e1f0a3b"]
    assert hiking.created == "2025-03-02T18:11:12.345678Z"
    assert hiking.metadata == {"mem0_metadata": {"source": "chat"}, "user_id": "alice"}
    veggie = items["8e4b0d3f-2c5e-4f90-8b7c-3d6e9f2a1b4c"]
    assert veggie.tags == ["food"]
    assert veggie.metadata["role"] == "user"
    assert veggie.metadata["updated_at"] == "2025-04-01T16:00:00.000000Z"


def test_a_malformed_mem0_memory_list(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "mem0.json"
    path.write_text(json.dumps({"results": [MEM0_ITEMS[0], {**MEM0_ITEMS[1], "memory": 7}]}))
    code, _, err = cli(capsys, "import", str(path))
    assert code == 2
    assert err == f"error: {path}: results[1].memory: must be a string\n"
    assert not home.exists() or MemOS(home=home, embedder="hashing").cubes() == []


def test_memgpt_user_messages_are_the_users_words(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """MemGPT sends the user's words as ``{"type": "user_message", "message": ...}`` JSON and its
    own heartbeats and logins in the user's role: only the words are conversation."""
    path = FIXTURES / "letta" / "memgpt_agent_with_convo-26246d9.af"
    report = import_report(capsys, path, "--messages")
    turns = [i for i in memories(home, report["cube"]).values() if i.metadata["letta"] == "message"]
    said = {t.text for t in turns if t.metadata["role"] == "user"}
    assert len(said) > 10
    assert not any(t.lstrip().startswith("{") for t in said)
    assert "hi my name is actually sarah not chad " in said
    replies = [t for t in turns if t.metadata["role"] == "assistant"]
    assert replies
    assert all(not t.text.lstrip().startswith("{") for t in replies)
    whats = {entry["what"] for entry in report["dropped"]}
    assert any(what.startswith("user messages from Letta itself") for what in whats)


def test_letta_system_reminders_are_not_the_users_words(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = formats.letta_v2()
    document["agents"][0]["agent_type"] = "letta_v1_agent"
    conversation = formats.letta_v1_agent_conversation()
    reminder = {
        "type": "text",
        "text": "<system-reminder>\nThe user connected.\n</system-reminder>",
    }
    conversation[0]["content"].insert(0, reminder)
    heartbeat = '{"type": "heartbeat", "reason": "returning control", "time": "2025-08-10"}'
    conversation.append({**conversation[0], "id": "message-3", "content": [{"type": "text", "text": heartbeat}]})  # fmt: skip
    document["agents"][0]["messages"] = conversation
    path = tmp_path / "v1.af"
    path.write_text(json.dumps(document))
    report = import_report(capsys, path, "--messages")
    said = {
        i.text for i in memories(home, report["cube"]).values() if i.metadata["letta"] == "message"
    }
    assert said == {"What do you know about me?", "You live in Lyon and love trains."}


def test_a_letta_file_with_attached_files(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An attached file (``FileSchema``, keys as letta-ai/agent-file's void.af holds them) is
    imported as a document, chunked, with every field of the file entry reported."""
    document = formats.letta_v2(messages=False)
    sections = [f"## Part {i}\n\n" + f"Sentence {i} about stateful agents. " * 40 for i in range(6)]
    document["files"] = [
        {"source_id": "source-0", "file_name": "folder-1765842590288/transcript.md", "original_file_name": "transcript.md", "file_path": None, "file_type": "text/x-markdown", "file_size": 9000, "file_creation_date": None, "file_last_modified_date": None, "processing_status": "completed", "error_message": None, "total_chunks": 7, "chunks_embedded": 7, "content": "# Transcript\n\n" + "\n\n".join(sections), "id": "file-0"},
    ]  # fmt: skip
    document["sources"] = [{"name": "folder-1765842590288", "description": None, "instructions": None, "metadata": None, "embedding": None, "embedding_chunk_size": None, "embedding_config": {"embedding_model": "text-embedding-3-small"}, "id": "source-0"}]  # fmt: skip
    path = tmp_path / "with-files.af"
    path.write_text(json.dumps(document))
    report = import_report(capsys, path)
    fields = named("file", document["files"][0], ("content",)) | {"file.content", "sources"}
    assert fields - reported(report) == set()
    assert unknown(report) == []
    chunks = [i for i in memories(home, report["cube"]).values() if i.metadata["letta"] == "file"]
    assert len(chunks) > 1
    chunks.sort(key=lambda c: c.metadata["chunk"]["start"])
    joined = "".join("".join(c.text.split()) for c in chunks)
    assert all("".join(s.split()) in joined for s in sections)
