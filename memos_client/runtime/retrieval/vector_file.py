"""The vector index's columns as memory-mapped files, shared by every process of a runtime.

A directory per embedder holds four column files and a small ``meta.json`` (ADR 0017):

- ``vectors.f32``: one row of ``dimension`` float32 per position;
- ``labels.i64``: the store ``rowid`` at each position;
- ``state.i8``: the lifecycle state code at each position (changed in place);
- ``cube.i32``: the cube code at each position (codes listed, in order, in ``meta.json``).

``meta.json`` says how many positions are valid (``count``) and which change of the store they
reflect (``watermark``); it is replaced by one rename, after the columns were written, so it is
the commit point: positions past ``count`` are garbage left by a process that died mid-write
and are overwritten by the next writer. Positions are only appended; an item's row is rewritten in
place when it changes. A fresh process maps the files (reading only the pages a search touches)
and replays the store's changes past ``watermark``: nothing is rebuilt, and an ``add`` writes
one row per column plus ``meta.json`` instead of rewriting a file. Writers serialise on an
``flock`` of ``lock``; the in-place rewrites are idempotent replays of the store, so a crash
between them and the next ``meta.json`` only makes the next process replay them again.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from memos_client.config import private_dir

FORMAT = 1
_MINIMUM_CAPACITY = 1024


class VectorMeta(msgspec.Struct):
    """The commit record of the column files."""

    format: int
    embedder: str
    dimension: int
    generation: str
    count: int = 0
    watermark: int = 0
    cubes: list[str] = msgspec.field(default_factory=list)


class VectorColumns:
    """The four columns, in files under ``directory`` or (``directory=None``) in memory."""

    def __init__(self, directory: Path | None, embedder: str, dimension: int) -> None:
        self.directory = directory
        self.embedder = embedder
        self.dimension = dimension
        self.capacity = 0
        self.matrix: np.ndarray[Any, Any] = np.zeros((0, dimension), dtype=np.float32)
        self.labels: np.ndarray[Any, Any] = np.zeros(0, dtype=np.int64)
        self.state: np.ndarray[Any, Any] = np.zeros(0, dtype=np.int8)
        self.cube: np.ndarray[Any, Any] = np.zeros(0, dtype=np.int32)
        self.meta = VectorMeta(FORMAT, embedder, dimension, uuid.uuid4().hex)
        #: Bytes this process wrote to the column files and meta.json (for the benchmark).
        self.bytes_written = 0

    # -- files ---------------------------------------------------------------------------------

    def _path(self, name: str) -> Path:
        assert self.directory is not None
        return self.directory / name

    def read_meta(self) -> VectorMeta | None:
        """The committed meta, or None when there is none usable (absent, another format or
        embedder, unreadable: the index is then rebuilt from the store)."""
        if self.directory is None:
            return None
        try:
            meta = msgspec.json.decode(self._path("meta.json").read_bytes(), type=VectorMeta)
        except (OSError, msgspec.DecodeError, msgspec.ValidationError):
            return None
        if (meta.format, meta.embedder, meta.dimension) != (FORMAT, self.embedder, self.dimension):
            return None
        return meta

    def open(self) -> VectorMeta | None:
        """Map the committed files; None (and empty columns) when there is nothing usable."""
        meta = self.read_meta()
        if meta is None:
            return None
        try:
            rows = os.path.getsize(self._path("labels.i64")) // 8
        except OSError:
            return None
        if rows < meta.count:
            return None  # truncated by hand: rebuild
        self._map(max(rows, _MINIMUM_CAPACITY))
        self.meta = meta
        return meta

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive among the processes writing these files (no-op in memory)."""
        if self.directory is None:
            yield
            return
        private_dir(self.directory)
        descriptor = os.open(self._path("lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)  # releases the lock

    def _columns(self) -> list[tuple[str, Any, tuple[int, ...]]]:
        return [
            ("vectors.f32", np.float32, (self.dimension,)),
            ("labels.i64", np.int64, ()),
            ("state.i8", np.int8, ()),
            ("cube.i32", np.int32, ()),
        ]

    def _map(self, capacity: int) -> None:
        """(Re)map every column with room for ``capacity`` positions, growing the files."""
        arrays = []
        for name, dtype, tail in self._columns():
            if self.directory is None:
                old = getattr(self, _ATTRIBUTE[name])
                grown = np.zeros((capacity, *tail), dtype=dtype)
                grown[: len(old)] = old
                arrays.append(grown)
                continue
            path = self._path(name)
            size = capacity * int(np.dtype(dtype).itemsize) * int(np.prod(tail, dtype=np.int64))
            private_dir(path.parent)
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                if os.fstat(descriptor).st_size < size:
                    os.ftruncate(descriptor, size)  # sparse: new pages cost nothing until written
            finally:
                os.close(descriptor)
            arrays.append(np.memmap(path, dtype=dtype, mode="r+", shape=(capacity, *tail)))
        self.matrix, self.labels, self.state, self.cube = arrays
        self.capacity = capacity

    def reserve(self, needed: int) -> None:
        """Room for ``needed`` positions."""
        if needed > self.capacity:
            self._map(max(needed, 2 * self.capacity, _MINIMUM_CAPACITY))

    def refresh(self) -> None:
        """Map again if another process grew the files past this mapping."""
        if self.directory is None:
            return
        with contextlib.suppress(OSError):
            rows = os.path.getsize(self._path("labels.i64")) // 8
            if rows > self.capacity:
                self._map(rows)

    def reset(self) -> None:
        """Start a new, empty generation (the store was replaced or the files are unusable)."""
        self.meta = VectorMeta(FORMAT, self.embedder, self.dimension, uuid.uuid4().hex)
        if self.directory is not None:
            for name, _, _ in self._columns():
                with contextlib.suppress(OSError):
                    self._path(name).unlink()
        self.capacity = 0
        self.matrix = np.zeros((0, self.dimension), dtype=np.float32)
        self.labels = np.zeros(0, dtype=np.int64)
        self.state = np.zeros(0, dtype=np.int8)
        self.cube = np.zeros(0, dtype=np.int32)

    def note_write(self, positions: int) -> None:
        """Count the bytes of ``positions`` rewritten rows (one row in every column)."""
        self.bytes_written += positions * (self.dimension * 4 + 8 + 1 + 4)

    def commit(self, count: int, watermark: int, cubes: list[str]) -> None:
        """Record ``count`` valid positions reflecting the store up to ``watermark``."""
        self.meta.count, self.meta.watermark, self.meta.cubes = count, watermark, list(cubes)
        if self.directory is None:
            return
        data = msgspec.json.encode(self.meta)
        temporary = self._path(f"meta.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        temporary.replace(self._path("meta.json"))
        self.bytes_written += len(data)


_ATTRIBUTE = {
    "vectors.f32": "matrix",
    "labels.i64": "labels",
    "state.i8": "state",
    "cube.i32": "cube",
}
