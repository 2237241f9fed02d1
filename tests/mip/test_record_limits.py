"""The record content rules of MIP-1 §7.1/§9, shared by pack, the registry and install."""

from __future__ import annotations

import pytest

from mip.errors import RecordError
from mip.records import MAX_TEXT_CHARS, encode_record, validate_record

STAMP = "2026-01-01T00:00:00Z"


def _record(**changes: object) -> dict[str, object]:
    record: dict[str, object] = {
        "id": "m",
        "text": "t",
        "tags": [],
        "metadata": {},
        "created": STAMP,
        "updated": STAMP,
        "version": 1,
    }
    record.update(changes)
    return record


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"text": "x" * (MAX_TEXT_CHARS + 1)}, "'text' is 100,001 characters, over the 100,000"),
        ({"text": " \n"}, "'text' must not be empty"),
        ({"tags": ["t"] * 257}, "257 tags, over the limit of 256"),
        ({"id": "a\x00b"}, "'id' must have no control characters"),
        ({"id": "a "}, "no leading or trailing space"),
        ({"state": "frozen"}, "'state' must be one of activated, archived, generated"),
    ],
)
def test_each_content_rule_is_refused_with_its_message(
    changes: dict[str, object], message: str
) -> None:
    with pytest.raises(RecordError, match="record 3: .*" + message.replace("(", r"\(")):
        validate_record(_record(**changes), 3)
    with pytest.raises(RecordError):
        encode_record(_record(**changes))  # so nothing packs it


def test_a_text_at_the_limit_is_fine() -> None:
    assert validate_record(_record(text="x" * MAX_TEXT_CHARS), 0)["text"]
