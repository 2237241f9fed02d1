"""The MiniLM embedder's name comes from the installer's RECORD when it can be trusted (a cold
query does not hash 90 MB of weights), else from hashing the file: the same name either way."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from memos_client.runtime.embedding.minilm import MiniLMEmbedder, _recorded_sha256


def _package(tmp_path: Path, content: bytes, recorded: bytes, size: int | None = None) -> Path:
    package = tmp_path / "site" / "pkg"
    (package / "model").mkdir(parents=True)
    weights = package / "model" / "model.safetensors"
    weights.write_bytes(content)
    digest = base64.urlsafe_b64encode(hashlib.sha256(recorded).digest()).rstrip(b"=").decode()
    record = tmp_path / "site" / "pkg-0.1.0.dist-info" / "RECORD"
    record.parent.mkdir()
    record.write_text(
        f"pkg/model/model.safetensors,sha256={digest},{size if size is not None else len(content)}\n"
    )
    return weights


def test_the_recorded_digest_is_the_file_digest() -> None:
    weights = MiniLMEmbedder().model_dir / "model.safetensors"
    assert _recorded_sha256(weights) == hashlib.sha256(weights.read_bytes()).hexdigest()


def test_a_record_is_trusted_only_for_an_unmodified_file_of_its_size(tmp_path: Path) -> None:
    weights = _package(tmp_path, b"weights", b"weights")
    assert _recorded_sha256(weights) == hashlib.sha256(b"weights").hexdigest()
    later = weights.parent.parent.parent / "pkg-0.1.0.dist-info" / "RECORD"
    os.utime(weights, ns=(later.stat().st_mtime_ns + 10**9, later.stat().st_mtime_ns + 10**9))
    assert _recorded_sha256(weights) is None  # changed after the install: hash it
    other = _package(tmp_path / "b", b"weights!", b"weights", size=7)
    assert _recorded_sha256(other) is None  # not the recorded size
    assert _recorded_sha256(tmp_path / "nowhere" / "model" / "model.safetensors") is None


def test_a_model_outside_a_package_is_hashed(tmp_path: Path) -> None:
    source = MiniLMEmbedder().model_dir
    copy = tmp_path / "model"
    copy.mkdir()
    for name in ("model.safetensors", "config.json", "tokenizer.json"):
        (copy / name).write_bytes((source / name).read_bytes())
    assert MiniLMEmbedder(copy).name == MiniLMEmbedder().name
