"""The plaintext record codec (MIP-1 §7.1): round trips, streaming bounds, every rejection."""

from __future__ import annotations

import contextlib
import io
import itertools
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mip.errors import RecordError
from mip.limits import Limits
from mip.records import (
    encode_record,
    iter_record_spans,
    iter_records,
    read_records,
    write_records,
)
from tests.support import raises_exactly

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)  # fmt: skip
records = st.fixed_dictionaries(
    {
        # Valid ids and texts (MIP-1 §7.1): the content rules have their own tests.
        "id": st.text(
            st.characters(blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp")),
            min_size=1,
            max_size=30,
        ),
        "text": st.text(max_size=200).map(lambda text: "t" + text),
        "tags": st.lists(st.text(max_size=10), max_size=4),
        "metadata": st.dictionaries(st.text(max_size=10), json_values, max_size=4),
        "created": st.just("2026-01-01T00:00:00Z"),
        "updated": st.just("2026-01-02T00:00:00Z"),
        "version": st.integers(1, 2**40),
    },
    optional={"x_future": json_values, "priority": st.integers(0, 9)},
)


def record(**changes: Any) -> dict[str, Any]:
    """A valid record (MIP-1 §7.1) with ``changes``; the other tests of tests/mip build theirs here."""
    base: dict[str, Any] = {
        "id": "m1",
        "text": "hello",
        "tags": ["a"],
        "metadata": {},
        "created": "2026-01-01T00:00:00Z",
        "updated": "2026-01-01T00:00:00Z",
        "version": 1,
    }
    return base | changes


@settings(max_examples=60)
@given(st.lists(records, max_size=6, unique_by=lambda r: r["id"]))
def test_round_trip_keeps_every_field(items: list[dict[str, Any]]) -> None:
    # Unknown keys are kept (MIP-1 §7.1).
    stream = io.BytesIO()
    assert write_records(stream, items) == len(items)
    assert read_records(stream.getvalue()) == items
    assert b"".join(encode_record(item) for item in items) == stream.getvalue()


@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_record_errors(data: bytes) -> None:
    with contextlib.suppress(RecordError):
        read_records(data)


@settings(max_examples=50)
@given(st.lists(records, min_size=1, max_size=3, unique_by=lambda r: r["id"]), st.data())
def test_every_truncation_is_detected(items: list[dict[str, Any]], data: st.DataObject) -> None:
    stream = io.BytesIO()
    write_records(stream, items)
    blob = stream.getvalue()
    boundaries = {0}
    for item in items:
        boundaries.add(max(boundaries) + len(encode_record(item)))
    cut = data.draw(st.integers(0, len(blob) - 1))
    if cut in boundaries:
        assert len(read_records(blob[:cut])) == sorted(boundaries).index(cut)
    else:
        with pytest.raises(RecordError, match="truncated msgpack data"):
            read_records(blob[:cut])


def pack(*values: Any) -> bytes:
    return b"".join(msgpack.packb(v, use_bin_type=True) for v in values)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (pack(record(), [1]), "record 1: expected a map, got list"),
        (pack(record(text=None)), "record 0: missing 'text'"),
        (pack({}), "record 0: missing 'id'; missing 'text'; missing 'tags'; missing 'metadata'; missing 'created'; missing 'updated'; missing 'version'"),
        (pack(record(version=True)), "record 0: 'version' must be int"),
        (pack(record(version=0)), "record 0: 'version' must be >= 1"),
        (pack(record(tags=[1])), "record 0: 'tags' must be a list of strings"),
        (pack(record(id="")), "record 0: 'id' must be 1 to 256 characters"),
        (pack(record(id="x" * 257)), "record 0: 'id' must be 1 to 256 characters"),
        (pack(record(metadata=[])), "record 0: 'metadata' must be dict"),
        (pack(record(), record()), "record 1: duplicate id 'm1'"),
        (pack(record()) + b"\xc1", "record 1: malformed msgpack (a byte that starts no msgpack value)"),
        (pack(record())[:-1], "record 0: truncated msgpack data"),
        (b"\x81\x01\x02", "record 0: malformed msgpack (int is not allowed for map key when strict_map_key=True)"),
        (b"\x91" * 2000, "record 0: msgpack nested too deeply"),
        (b"\xdb\xff\xff\xff\xff", "record 0: truncated msgpack data"),
        (pack(record(text="x" * (9 << 20))), "record 0: larger than the 8388608-byte record limit"),
        # Two readers could read different text from one signed blob (issue 15).
        (b"\x87" + pack("id", "m1", "text", "a", "text", "b", "tags", [], "metadata", {}, "created", "2026-01-01T00:00:00Z", "version", 1), "record 0: malformed msgpack (a map repeats a key)"),
        (pack(record(metadata={"a": {"k": 1}})).replace(b"\x81\xa1k\x01", b"\x82\xa1k\x01\xa1k\x02")[:-0 or None], "record 0: malformed msgpack (a map repeats a key)"),
        (pack(record(created="yesterday")), "record 0: 'created' must be an RFC 3339 date-time (e.g. 2026-01-01T00:00:00Z)"),
        (pack(record(updated="2026-02-30T00:00:00Z")), "record 0: 'updated' must be an RFC 3339 date-time (e.g. 2026-01-01T00:00:00Z)"),
        (pack(record(created="2026-01-01")), "record 0: 'created' must be an RFC 3339 date-time (e.g. 2026-01-01T00:00:00Z)"),
    ],
    ids=["duplicate-key", "duplicate-nested-key", "created-not-a-time", "updated-no-such-day", "created-date-only", "not-a-map", "missing", "all-missing", "bool-version", "version-zero", "tags", "empty-id", "long-id", "metadata", "duplicate-id", "bad-byte", "truncated", "int-key", "deep", "huge-string-header", "huge-record"],
)  # fmt: skip
def test_rejections(data: bytes, message: str) -> None:
    # MIP-1 §7.1: "Readers MUST refuse a blob that is not a sequence of whole msgpack maps
    # (truncation, a trailing partial object, a non-map item), a record missing a key or with a
    # key of the wrong type, a duplicate `id`, a record over 8 MiB [...]"
    with raises_exactly(RecordError, message):
        read_records(data)


def test_record_limits_are_settings() -> None:
    data = pack(record(text="x" * 1000))
    with raises_exactly(RecordError, "record 0: larger than the 512-byte record limit"):
        read_records(data, Limits(max_record_bytes=512))
    two = pack(record(id="a"), record(id="b"))
    with raises_exactly(RecordError, "more than 1 records"):
        read_records(two, Limits(max_records=1))


def test_decoding_is_lazy() -> None:
    # A stream is decoded record by record: the first record is usable before a later error.
    iterator = iter_records(io.BytesIO(pack(record(), "oops")))
    assert next(iterator)["id"] == "m1"
    with pytest.raises(RecordError):
        next(iterator)


def test_writer_refuses_bad_records() -> None:
    with raises_exactly(RecordError, "record 1: duplicate id 'm1'"):
        write_records(io.BytesIO(), [record(), record()])
    with pytest.raises(RecordError):
        encode_record(record(version="1"))


def test_record_spans_locate_each_record_exactly() -> None:
    records = [
        {"id": f"m{i}", "text": "x" * (i * 250), "tags": [], "metadata": {"i": i},
         "created": "2026-01-01T00:00:00Z", "updated": "2026-01-01T00:00:00Z", "version": 1}
        for i in range(1, 400)
    ]  # fmt: skip
    stream = io.BytesIO()
    write_records(stream, records)
    data = stream.getvalue()
    spans = list(iter_record_spans(io.BytesIO(data)))
    assert [record for _, _, record in spans] == records
    assert spans[0][0] == 0
    assert spans[-1][1] == len(data)
    for (start, end, record), (following, _, _) in itertools.pairwise(spans):
        assert end == following  # contiguous: nothing skipped, nothing counted twice
        assert read_records(data[start:end]) == [record]


@pytest.mark.parametrize(
    "data",
    [
        b"\xdd\x7f\xff\xff\xff",  # an array declaring 2^31 - 1 items, in 5 bytes
        b"\xdf\x7f\xff\xff\xff",  # a map declaring as many pairs
        b"\x81\xa1a" + b"\xdd\x00\xff\xff\xff" * 50,  # nested declarations
    ],
    ids=["array", "map", "nested"],
)
def test_declared_lengths_allocate_nothing_before_they_are_checked(data: bytes) -> None:
    """msgpack reserves a declared length up front (address space, even if never touched):
    the length is refused at the header, against ``Limits.max_record_items`` (MIP-1 §9)."""
    with pytest.raises(RecordError, match=r"exceeds max_(array|map)_len\(65536\)"):
        read_records(data)
