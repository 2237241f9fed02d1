"""Fuzz: any corruption of a snapshot file is refused with a TensorError, never a crash."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memos_client.runtime.activation.prompt import MemoryText
from memos_client.runtime.activation.snapshot_file import open_snapshot
from memos_client.runtime.activation.snapshots import build_snapshot
from mip.errors import TensorError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def snapshot_bytes(tiny_model: Any, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("fuzz") / "s.safetensors"
    build_snapshot(tiny_model, [MemoryText("m", 1, "The build server is hopper.")], path)
    return path.read_bytes()


def _open(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "s.safetensors"
        path.write_bytes(data)
        try:
            snapshot = open_snapshot(path)
        except TensorError:
            return
        # Whatever opens must be internally consistent.
        assert len(snapshot.token_ids) == snapshot.header.num_tokens


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_flipped_bytes_never_crash(snapshot_bytes: bytes, data: st.DataObject) -> None:
    corrupted = bytearray(snapshot_bytes)
    # Mostly hit the header (where the structure is), sometimes anywhere.
    header_end = 8 + int.from_bytes(snapshot_bytes[:8], "little")
    limit = data.draw(st.sampled_from([header_end, len(corrupted)]))
    for _ in range(data.draw(st.integers(1, 8))):
        position = data.draw(st.integers(0, limit - 1))
        corrupted[position] = data.draw(st.integers(0, 255))
    _open(bytes(corrupted))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cut=st.integers(min_value=0))
def test_truncation_anywhere_is_refused(snapshot_bytes: bytes, cut: int) -> None:
    length = cut % len(snapshot_bytes)
    with pytest.raises(TensorError):
        open_snapshot_bytes(snapshot_bytes[:length])


def open_snapshot_bytes(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "s.safetensors"
        path.write_bytes(data)
        open_snapshot(path)
