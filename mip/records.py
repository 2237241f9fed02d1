"""The plaintext record codec: a msgpack stream of memory records (MIP-1 §7.1).

A plaintext blob is a concatenation of msgpack maps, one per memory. Each record has ``id``,
``text``, ``tags``, ``metadata``, ``created``, ``updated`` and ``version``; unknown keys are kept.
Decoding is streaming and bounded: no record larger than ``Limits.max_record_bytes``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import datetime
from functools import lru_cache
from typing import Any, BinaryIO

import msgpack

from mip.errors import RecordError
from mip.limits import DEFAULT_LIMITS, MAX_RECORD_ID_CHARS, Limits

#: Keys every record carries, with the type each must have.
REQUIRED_FIELDS: dict[str, type | tuple[type, ...]] = {
    "id": str,
    "text": str,
    "tags": list,
    "metadata": dict,
    "created": str,
    "updated": str,
    "version": int,
}
MAX_ID_LENGTH = MAX_RECORD_ID_CHARS
#: RFC 3339 §5.6 ``date-time``: a ``T`` (or ``t``), seconds, an optional fraction, and a ``Z`` or
#: a numeric offset -- no date alone, no missing zone, no week dates or other ISO 8601 forms.
_RFC3339_RE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
)


@lru_cache(maxsize=4096)  # the records of a part mostly share a few timestamps
def is_rfc3339(text: str) -> bool:
    """True when ``text`` is an RFC 3339 ``date-time`` that names a real instant (MIP-1 §7.1)."""
    if not _RFC3339_RE.fullmatch(text):
        return False
    date, _, rest = text.partition(text[10])
    clock = rest[:8]
    try:
        datetime.fromisoformat(f"{date}T{clock}")
        zone = rest[8:].lstrip(".0123456789")
        if zone not in ("Z", "z"):
            hours, minutes = int(zone[1:3]), int(zone[4:6])
            if hours > 23 or minutes > 59:
                return False
    except ValueError:
        return False
    return True


def _unique_pairs(pairs: list[tuple[Any, Any]]) -> dict[Any, Any]:
    """A msgpack map without a repeated key (two readers could otherwise read different text)."""
    document = dict(pairs)
    if len(document) != len(pairs):
        raise ValueError("a map repeats a key")
    return document


#: The longest memory text, in characters (MIP-1 §9): packers, registries and installers all
#: enforce it, so nothing publishes that an install would refuse.
MAX_TEXT_CHARS = 100_000
#: The most tags one record may carry (MIP-1 §9).
MAX_TAGS = 256
#: The lifecycle states a record may ask for (MIP-1 §7.1 ``state``).
RECORD_STATES = frozenset({"generated", "activated", "archived"})
_CONTROL = frozenset(chr(c) for c in (*range(0x20), 0x7F))


def content_problems(record: dict[str, Any]) -> list[str]:
    """What breaks the content rules of MIP-1 §7.1/§9 in a record whose fields have the right
    types: empty or over-long text, too many tags, an id with control characters or outer
    spaces, an unknown ``state``."""
    problems = []
    text = record.get("text")
    if isinstance(text, str):
        if not text.strip():
            problems.append("'text' must not be empty")
        elif len(text) > MAX_TEXT_CHARS:
            problems.append(
                f"'text' is {len(text):,} characters, over the {MAX_TEXT_CHARS:,}-character limit"
            )
    tags = record.get("tags")
    if isinstance(tags, list) and len(tags) > MAX_TAGS:
        problems.append(f"{len(tags)} tags, over the limit of {MAX_TAGS}")
    record_id = record.get("id")
    if isinstance(record_id, str) and (
        record_id != record_id.strip() or any(c in _CONTROL for c in record_id)
    ):
        problems.append("'id' must have no control characters and no leading or trailing space")
    state = record.get("state")
    if state is not None and state not in RECORD_STATES:
        problems.append(f"'state' must be one of {', '.join(sorted(RECORD_STATES))}")
    return problems


def validate_record(record: Any, index: int) -> dict[str, Any]:
    """Check one decoded record; raise :class:`RecordError` naming every problem at once."""
    if not isinstance(record, dict):
        raise RecordError(f"record {index}: expected a map, got {type(record).__name__}")
    problems = []
    for key in record:
        if not isinstance(key, str):
            problems.append(f"key {key!r} is not a string")
    for key, expected in REQUIRED_FIELDS.items():
        value = record.get(key)
        if value is None:
            problems.append(f"missing '{key}'")
        elif not isinstance(value, expected) or isinstance(value, bool):
            problems.append(f"'{key}' must be {getattr(expected, '__name__', expected)}")
    if not problems:
        if not 0 < len(record["id"]) <= MAX_ID_LENGTH:
            problems.append(f"'id' must be 1 to {MAX_ID_LENGTH} characters")
        if not all(isinstance(tag, str) for tag in record["tags"]):
            problems.append("'tags' must be a list of strings")
        if record["version"] < 1:
            problems.append("'version' must be >= 1")
        for key in ("created", "updated"):
            if not is_rfc3339(record[key]):
                problems.append(
                    f"'{key}' must be an RFC 3339 date-time (e.g. 2026-01-01T00:00:00Z)"
                )
        problems.extend(content_problems(record))
    if problems:
        raise RecordError(f"record {index}: " + "; ".join(problems))
    return record


def encode_record(record: dict[str, Any]) -> bytes:
    """One record as msgpack bytes (validated first)."""
    validate_record(record, 0)
    return msgpack.packb(record, use_bin_type=True)  # type: ignore[no-any-return]


def write_records(stream: BinaryIO, records: Iterable[dict[str, Any]]) -> int:
    """Write records to ``stream``; return how many were written. Ids must be unique."""
    packer = msgpack.Packer(use_bin_type=True)
    seen: set[str] = set()
    count = 0
    for index, record in enumerate(records):
        validate_record(record, index)
        if record["id"] in seen:
            raise RecordError(f"record {index}: duplicate id {record['id']!r}")
        seen.add(record["id"])
        stream.write(packer.pack(record))
        count += 1
    return count


class _CountingReader:
    """Counts the bytes handed to the unpacker, so a partial trailing record is detected."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self.count += len(data)
        return data


def iter_records(stream: BinaryIO, limits: Limits = DEFAULT_LIMITS) -> Iterator[dict[str, Any]]:
    """Decode a record stream lazily; raise :class:`RecordError` on the first malformed record."""
    for _, _, record in iter_record_spans(stream, limits):
        yield record


def iter_record_spans(
    stream: BinaryIO, limits: Limits = DEFAULT_LIMITS
) -> Iterator[tuple[int, int, dict[str, Any]]]:
    """Like :func:`iter_records`, with where each record lies: ``(start, end, record)``.

    ``start``/``end`` are byte offsets in the stream (``end`` exclusive): reading those bytes
    alone decodes the record again (an index of a blob, for reading a few records later).
    """
    reader = _CountingReader(stream)
    unpacker = msgpack.Unpacker(
        reader,
        raw=False,
        strict_map_key=True,
        max_buffer_size=limits.max_record_bytes,
        # msgpack allocates an array's or map's declared length before reading its items.
        max_array_len=limits.max_record_items,
        max_map_len=limits.max_record_items,
        object_pairs_hook=_unique_pairs,
        read_size=min(1 << 16, limits.max_record_bytes),
    )
    seen: set[str] = set()
    index = 0
    # Offset just past the last whole record: after OutOfData, tell() counts the bytes of the
    # partial record too, so the boundary must be remembered from the last success.
    boundary = 0
    while True:
        try:
            record = unpacker.unpack()
        except msgpack.OutOfData:
            # A clean end lies exactly on a record boundary; anything left over is truncation.
            if boundary != reader.count:
                raise RecordError(f"record {index}: truncated msgpack data") from None
            return
        except msgpack.BufferFull as exc:
            raise RecordError(
                f"record {index}: larger than the {limits.max_record_bytes}-byte record limit"
            ) from exc
        except msgpack.StackError as exc:
            raise RecordError(f"record {index}: msgpack nested too deeply") from exc
        except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError) as exc:
            # msgpack's FormatError carries no text: say what it means.
            reason = str(exc) or "a byte that starts no msgpack value"
            raise RecordError(f"record {index}: malformed msgpack ({reason})") from exc
        start, boundary = boundary, unpacker.tell()
        validate_record(record, index)
        if record["id"] in seen:
            raise RecordError(f"record {index}: duplicate id {record['id']!r}")
        seen.add(record["id"])
        index += 1
        if index > limits.max_records:
            raise RecordError(f"more than {limits.max_records} records")
        yield start, boundary, record


def read_records(data: bytes, limits: Limits = DEFAULT_LIMITS) -> list[dict[str, Any]]:
    """Decode a whole in-memory record blob (small blobs, tests)."""
    import io

    return list(iter_records(io.BytesIO(data), limits))
