"""Chat messages as conversation memories: the file forms, the metadata, the refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memos_client.errors import UsageError
from memos_client.ingest.messages import conversation_records, parse_sessions, rfc3339
from memos_client.runtime import MemOS

CHAT = [
    {"role": "system", "content": "You are helpful."},
    {"role": "user", "name": "Ann", "content": "I adopted a cat named Luna.", "timestamp": "2026-03-01T10:00:00Z"},
    {"role": "assistant", "content": [{"type": "text", "text": "Lovely! How old is Luna?"}, {"type": "image_url", "image_url": {"url": "x"}}]},
    {"role": "assistant", "content": None, "tool_calls": [{"id": "1"}]},
    {"role": "user", "name": "Ann", "content": "She is two.", "id": "m-4"},
]  # fmt: skip


def records(data: bytes, default: str | None = "chat") -> list[dict[str, object]]:
    sessions = parse_sessions(data, "chat.json")
    return conversation_records(sessions, default_session=default, where="chat.json").records


def test_a_json_list_is_one_session_of_turns() -> None:
    conversation = conversation_records(
        parse_sessions(json.dumps(CHAT).encode(), "chat.json"),
        default_session="chat",
        where="chat.json",
    )
    texts = [r["text"] for r in conversation.records]
    assert texts == [
        "You are helpful.",
        "I adopted a cat named Luna.",
        "Lovely! How old is Luna?",
        "She is two.",
    ]
    metadata = [r["metadata"] for r in conversation.records]
    assert metadata[1] == {
        "speaker": "Ann",
        "role": "user",
        "session": "chat",
        "turn": 1,
        "time": "2026-03-01T10:00:00Z",
    }
    assert metadata[2]["speaker"] == "assistant"
    assert metadata[3] == {
        "speaker": "Ann",
        "role": "user",
        "session": "chat",
        "turn": 3,
        "message_id": "m-4",
    }
    assert conversation.records[1]["created"] == "2026-03-01T10:00:00.000000Z"
    assert conversation.skipped == 1  # the tool call without words
    assert conversation.dropped_parts == 1  # the image
    assert conversation.ignored_keys == ["tool_calls"]


def test_json_lines_of_sessions_with_their_dates() -> None:
    lines = [
        {"session": 1, "date": "1:56 pm on 8 May, 2023", "messages": CHAT[1:3]},
        {"session_id": "two", "messages": [{"role": "user", "content": "Hello again"}]},
        [{"role": "user", "content": "A bare list is a session too"}],
    ]
    data = "\n".join(json.dumps(line) for line in lines).encode()
    result = records(data)
    assert [(r["metadata"]["session"], r["metadata"]["turn"]) for r in result] == [
        (1, 0),
        (1, 1),
        ("two", 0),
        (3, 0),
    ]
    # The session's date stands for its messages without one; it is kept as written.
    assert result[1]["metadata"]["time"] == "1:56 pm on 8 May, 2023"
    assert "created" not in result[1]


def test_rfc3339_reads_what_chat_exports_write() -> None:
    assert rfc3339("2026-03-01T10:00:00+02:00") == "2026-03-01T08:00:00.000000Z"
    assert rfc3339(1_700_000_000) == "2023-11-14T22:13:20.000000Z"
    assert rfc3339("2026-03-01") == "2026-03-01T00:00:00.000000Z"
    assert rfc3339("yesterday") is None
    assert rfc3339(True) is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{not json", "chat.json:1: not JSON (Expecting property name enclosed in double quotes); give a JSON list of messages or JSON Lines with one session per line"),
        (b'[{"content": "no role"}]', "invalid messages: chat.json: session 'chat', message 0: 'role' must be a non-empty string"),
        (b'[{"role": "user", "content": 5}]', "invalid messages: chat.json: session 'chat', message 0: 'content' must be a string or a list of text parts"),
        (b'"a string"', "chat.json: expected a list of messages or an object with 'messages', got str"),
        (b"\xff\xfe", "chat.json: not UTF-8 text (byte 0)"),
    ],
)  # fmt: skip
def test_bad_message_files_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        records(data)
    assert str(caught.value) == message


def test_memos_add_messages(tmp_path: Path) -> None:
    with MemOS(home=tmp_path / "home", embedder="hashing") as mem:
        ids = mem.add_messages(CHAT, cube="me/chat", session="s1")
        items = [mem.get(item_id, touch=False) for item_id in ids]
        assert [item.metadata["turn"] for item in items] == [0, 1, 2, 3]
        assert {item.metadata["session"] for item in items} == {"s1"}
        sessions = [
            {"session": "a", "messages": CHAT[1:2]},
            {"session": "b", "messages": CHAT[4:5]},
        ]
        more = mem.add_messages(sessions, cube="me/chat")
        assert [mem.get(i, touch=False).metadata["session"] for i in more] == ["a", "b"]
        with pytest.raises(UsageError, match="no message has any text"):
            mem.add_messages([{"role": "assistant", "content": None}], cube="me/chat")
