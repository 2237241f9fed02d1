"""Reading other systems' files as bounded, strict data (JSON, zip members, gzip).

Every failure is an :class:`ImportFormatError` that names the file (and, through
:func:`field_error`, the field): one ``error:`` line in the CLI.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any, Protocol

from memos_client.errors import ImportFormatError

#: The largest file (or decompressed zip member) an import reads.
MAX_IMPORT_BYTES = 512 << 20


def field_error(where: str, field: str, problem: str) -> ImportFormatError:
    """``WHERE: FIELD: PROBLEM`` (the file and the field at fault)."""
    return ImportFormatError(f"{where}: {field}: {problem}")


def string_list(value: Any, where: str, field: str) -> list[str]:
    """``value`` if it is a list of strings; else the error naming ``field``."""
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise field_error(where, field, "must be a list of strings")
    return value


def _not_json_constant(text: str) -> Any:
    raise ValueError(f"{text} is not JSON")


def parse_json(data: bytes, where: str) -> Any:
    """Strict JSON (no NaN or Infinity) from UTF-8 bytes."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFormatError(f"{where}: not UTF-8 text (byte {exc.start})") from None
    try:
        return json.loads(text, parse_constant=_not_json_constant)
    except json.JSONDecodeError as exc:
        raise ImportFormatError(
            f"{where}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    except ValueError as exc:
        raise ImportFormatError(f"{where}: not valid JSON ({exc})") from None
    except RecursionError:
        raise ImportFormatError(f"{where}: JSON nested too deeply") from None


def read_bounded(path: Path) -> bytes:
    """A file's bytes, refusing one over :data:`MAX_IMPORT_BYTES`."""
    size = path.stat().st_size
    if size > MAX_IMPORT_BYTES:
        raise ImportFormatError(
            f"{path}: {size} bytes, over the {MAX_IMPORT_BYTES >> 20} MiB import limit"
        )
    return path.read_bytes()


class Readable(Protocol):
    """Anything with ``read(size)`` returning bytes (a file, a zip member, a gzip stream)."""

    def read(self, size: int = -1, /) -> bytes:
        """Up to ``size`` bytes."""
        ...


def read_stream_bounded(stream: Readable, where: str) -> bytes:
    """All of ``stream`` (a zip member, a gzip file) or an error past the import limit: a
    compressed bomb is stopped as it inflates, not after."""
    data = stream.read(MAX_IMPORT_BYTES + 1)
    if len(data) > MAX_IMPORT_BYTES:
        raise ImportFormatError(
            f"{where}: more than {MAX_IMPORT_BYTES >> 20} MiB once decompressed"
        )
    return data


def zip_member(archive: zipfile.ZipFile, name: str) -> str | None:
    """The member whose file name is ``name`` (in any folder), as mem0's own import finds it."""
    for info in archive.infolist():
        if not info.is_dir() and info.filename.rsplit("/", 1)[-1] == name:
            return info.filename
    return None


def read_member(archive: zipfile.ZipFile, member: str, where: str) -> bytes:
    """A zip member's bytes, bounded; a damaged member is a format error."""
    try:
        with archive.open(member) as stream:
            return read_stream_bounded(stream, f"{where}: {member}")
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError) as exc:
        # RuntimeError: an encrypted member; NotImplementedError: an unknown compression.
        raise ImportFormatError(f"{where}: {member}: cannot be read ({exc})") from exc
