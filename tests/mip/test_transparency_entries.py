"""Log entries (MIP-1-registry §12.2): one canonical encoding per event, everything else refused."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from msgspec.structs import replace

from mip.errors import LogEntryError, LogEntryMismatchError
from mip.transparency.entries import (
    LogEntry,
    check_entry_is,
    decode_entry,
    encode_entry,
    key_event,
    version_event,
)

KEY = hashlib.sha256(b"k1").hexdigest()
KEY2 = hashlib.sha256(b"k2").hexdigest()
DIGEST = "sha256:" + hashlib.sha256(b"m").hexdigest()
TIME = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


def test_publish_entry_golden_bytes() -> None:
    entry = version_event(
        "publish", "Alice/French_Cooking", "1.2.0", DIGEST, [KEY2, KEY, KEY], TIME
    )
    assert (
        encode_entry(entry)
        == (
            "memstore-log-entry/v1\n"
            "event publish\n"
            "namespace alice\n"
            "name alice/french-cooking\n"
            "version 1.2.0\n"
            f"manifest {DIGEST}\n"
            f"keys {' '.join(sorted([KEY, KEY2]))}\n"
            "time 2026-03-04T05:06:07Z\n"
        ).encode()
    )
    assert decode_entry(encode_entry(entry)) == entry


def test_key_entry_golden_bytes() -> None:
    entry = key_event("key-rotate", "Alice", [KEY], TIME, statement_digest=DIGEST)
    assert (
        encode_entry(entry)
        == (
            "memstore-log-entry/v1\nevent key-rotate\nnamespace alice\n"
            f"keys {KEY}\nstatement {DIGEST}\ntime 2026-03-04T05:06:07Z\n"
        ).encode()
    )
    assert decode_entry(encode_entry(entry)) == entry


#: A valid key event and a valid version event: each refused entry below changes one thing.
KEY_ENTRY = LogEntry(event="key-register", namespace="alice", key_ids=(KEY,), time=TIME)
YANK_ENTRY = LogEntry(
    event="yank",
    namespace="alice",
    name="alice/x",
    version="1.0.0",
    manifest_digest=DIGEST,
    key_ids=(KEY,),
    time=TIME,
)


def test_the_entries_refused_below_start_from_valid_ones() -> None:
    assert decode_entry(encode_entry(KEY_ENTRY)) == KEY_ENTRY
    assert decode_entry(encode_entry(YANK_ENTRY)) == YANK_ENTRY


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        (replace(KEY_ENTRY, event="publish"), "names the cube"),
        (replace(KEY_ENTRY, key_ids=()), "at least one key"),
        (replace(KEY_ENTRY, namespace="Alice"), "normal form"),
        (replace(KEY_ENTRY, key_ids=tuple(sorted((KEY, KEY2), reverse=True))), "ascending"),
        (replace(KEY_ENTRY, key_ids=("AB",)), "hex digits"),
        (replace(KEY_ENTRY, time=TIME.replace(tzinfo=None)), "UTC"),
        (replace(KEY_ENTRY, time=TIME.astimezone(timezone(timedelta(hours=2)))), "UTC"),
        (replace(KEY_ENTRY, time=TIME.replace(microsecond=5)), "whole seconds"),
        (replace(KEY_ENTRY, version="1.0.0"), "names no cube"),
        (replace(YANK_ENTRY, name="bob/x"), "not in namespace"),
        (replace(YANK_ENTRY, version="1.0"), "SemVer"),
        (replace(YANK_ENTRY, manifest_digest="md5:x"), "invalid digest"),
        (replace(YANK_ENTRY, statement_digest=DIGEST), "no statement"),
        (replace(KEY_ENTRY, event="drop"), "unknown event"),
    ],
)
def test_invalid_entries_are_refused(entry: LogEntry, problem: str) -> None:
    with pytest.raises(LogEntryError, match=problem):
        encode_entry(entry)


def test_every_problem_is_reported_at_once() -> None:
    entry = LogEntry(event="publish", namespace="Bad NS", key_ids=(), time=TIME)
    with pytest.raises(LogEntryError) as caught:
        encode_entry(entry)
    assert str(caught.value).count(";") >= 2


GOOD = encode_entry(version_event("yank", "alice/x", "1.0.0", DIGEST, [KEY], TIME))


@pytest.mark.parametrize(
    "data",
    [
        GOOD.replace(b"memstore-log-entry/v1", b"memstore-log-entry/v2"),
        GOOD.replace(b"event yank\nnamespace alice\n", b"namespace alice\nevent yank\n"),
        GOOD.replace(b"event yank", b"event  yank"),
        GOOD.replace(b"time 2026-03-04T05:06:07Z", b"time 2026-03-04 05:06:07"),
        GOOD.replace(b"time 2026-03-04T05:06:07Z", b"time 2026-02-30T05:06:07Z"),
        GOOD.replace(b"version 1.0.0\n", b""),
        GOOD.replace(b"version 1.0.0\n", b"version 1.0.0\nversion 1.0.0\n"),
        GOOD + b"extra line\n",
        GOOD[:-1],
        GOOD.replace(b"alice/x", "alice/\u00e9".encode()),
        GOOD.replace(b"event yank", b"event drop"),
        b"",
        b"\n",
        b"x" * 70000,
    ],
)
def test_non_canonical_bytes_are_refused(data: bytes) -> None:
    with pytest.raises(LogEntryError):
        decode_entry(data)


@given(
    st.sampled_from(["publish", "yank", "unyank"]),
    st.from_regex(r"[a-z0-9]{1,10}/[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True),
    st.from_regex(r"(0|[1-9][0-9]{0,3})\.(0|[1-9][0-9]{0,3})\.(0|[1-9][0-9]{0,3})", fullmatch=True),
    st.lists(st.binary(min_size=1, max_size=4), min_size=1, max_size=4),
    st.datetimes(
        min_value=datetime(1970, 1, 1), max_value=datetime(9999, 1, 1), timezones=st.just(UTC)
    ),
)
def test_version_entries_round_trip(
    event: str, name: str, version: str, keys: list[bytes], when: datetime
) -> None:
    key_ids = [hashlib.sha256(key).hexdigest() for key in keys]
    entry = version_event(event, name, version, DIGEST, key_ids, when.replace(microsecond=0))  # type: ignore[arg-type]
    data = encode_entry(entry)
    assert decode_entry(data) == entry
    assert data.isascii()
    assert data.endswith(b"\n")


def test_check_entry_is() -> None:
    entry = decode_entry(GOOD)
    check_entry_is(entry, "yank", "Alice/X", "1.0.0", DIGEST)
    for wrong in [("publish", "alice/x", "1.0.0", DIGEST), ("yank", "alice/y", "1.0.0", DIGEST),
                  ("yank", "alice/x", "1.0.1", DIGEST), ("yank", "alice/x", "1.0.0", "sha256:" + "0" * 64)]:  # fmt: skip
        with pytest.raises(LogEntryMismatchError):
            check_entry_is(entry, *wrong)  # type: ignore[arg-type]
