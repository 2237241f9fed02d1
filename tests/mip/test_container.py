"""The ``.memcube`` container (MIP-1 §8): writer, reader, limits, and a fuzz of the reader.

"Reading it never trusts a path from the archive, bounds every size, and verifies every digest":
whatever bytes it is given, the reader raises a ``MIPError`` subclass or returns a bundle that
passes every check — never another exception.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import threading
import time
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mip.archive import RangeReader, blob_entries, read_archive, read_entries
from mip.blob_hashing import BlobHashing
from mip.container import BundleWriter, open_bundle
from mip.digests import CHUNK_SIZE, Digest
from mip.dsse import sign, verify
from mip.errors import BundleError, DigestMismatchError, MIPError, SignatureError
from mip.keys import SigningKey
from mip.limits import Limits
from mip.manifest import encode_manifest, manifest_from_document
from mip.models import PlaintextPart
from mip.records import write_records
from tests.mip.test_records import record
from tests.support import modules_imported_by, raises_exactly

REPO = Path(__file__).resolve().parents[2]
VECTORS = REPO / "spec" / "vectors"
KEY = SigningKey.from_seed(hashlib.sha256(b"memstore test key 1").digest())
TRUSTED = {KEY.key_id: KEY.public_key}
VALID = (VECTORS / "valid.memcube").read_bytes()
ALL_KINDS = (VECTORS / "valid-all-kinds.memcube").read_bytes()


def full_check(path: Path) -> None:
    with open_bundle(path) as bundle:
        verify(bundle.envelope, TRUSTED)
        bundle.verify_blobs()
        bundle.check_contents()


def finish_signed(writer: BundleWriter, parts: list[dict[str, object]]) -> None:
    """Write the manifest of ``parts`` and its envelope signed with the test key."""
    manifest = manifest_from_document(
        {
            "mip_version": "1.0",
            "name": "ns/c",
            "version": "1.0.0",
            "created": "2026-01-01T00:00:00Z",
            "parts": parts,
        }
    )
    data = encode_manifest(manifest)
    writer.finish(data, sign(data, [KEY]).to_json())


def write_bundle(path: Path, blobs: list[bytes], count: int = 0) -> tuple[Path, list[str]]:
    """A signed bundle of plaintext parts built with the writer under test."""
    with BundleWriter(path) as writer:
        parts = []
        for index, blob in enumerate(blobs):
            digest, size = writer.add_blob_stream(io.BytesIO(blob))
            parts.append(
                {
                    "kind": "plaintext",
                    "name": f"p{index}",
                    "digest": digest,
                    "size": size,
                    "count": count,
                }
            )
        finish_signed(writer, parts)
    return path, [str(part["digest"]) for part in parts]


def test_writer_output_reads_back(tmp_path: Path) -> None:
    stream = io.BytesIO()
    records = [record(id=f"m{i}") for i in range(3)]
    write_records(stream, records)
    path, _ = write_bundle(tmp_path / "out" / "c.memcube", [stream.getvalue()], count=3)
    full_check(path)
    with open_bundle(path) as bundle:
        part = bundle.manifest.parts[0]
        assert isinstance(part, PlaintextPart)
        assert list(bundle.iter_records(part)) == records
        seen: list[int] = []
        bundle.copy_blob(part.digest, None, seen.append)
        assert sum(seen) == part.size
        bundle.extract_blob(part.digest, tmp_path / "x" / "blob")
    assert (tmp_path / "x" / "blob").read_bytes() == stream.getvalue()
    assert os.listdir(tmp_path / "x") == ["blob"]
    assert os.listdir(tmp_path / "out") == ["c.memcube"]
    assert (path.stat().st_mode & 0o777) == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_same_bytes_twice_are_stored_once(tmp_path: Path) -> None:
    path, digests = write_bundle(tmp_path / "c.memcube", [b"same", b"other", b"same"])
    assert digests[0] == digests[2]
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    assert len(names) == len(set(names)) == 4
    with open_bundle(path) as bundle:
        bundle.verify_blobs()
        assert len(bundle.blobs) == 2


def test_writer_leaves_nothing_when_it_fails(tmp_path: Path) -> None:
    target = tmp_path / "c.memcube"
    with pytest.raises(RuntimeError), BundleWriter(target) as writer:  # noqa: PT012
        writer.add_blob_stream(io.BytesIO(b"x" * 1000))
        raise RuntimeError("the packer failed half way")
    assert os.listdir(tmp_path) == []
    # An unfinished writer closed without an error is discarded too.
    with BundleWriter(target) as writer:
        writer.add_blob_stream(io.BytesIO(b"y"))
    assert os.listdir(tmp_path) == []


def test_copy_blob_detects_a_changed_blob(tmp_path: Path) -> None:
    path, (digest,) = write_bundle(tmp_path / "c.memcube", [b"payload bytes"])
    data = path.read_bytes()
    path.write_bytes(data.replace(b"payload bytes", b"payload bytez"))
    with open_bundle(path) as bundle, pytest.raises(DigestMismatchError):
        bundle.extract_blob(digest, tmp_path / "out")  # type: ignore[arg-type]
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["c.memcube"]


def test_entry_limit_is_a_setting(tmp_path: Path) -> None:
    path = tmp_path / "v.memcube"
    path.write_bytes(VALID)
    with raises_exactly(BundleError, "archive has 3 entries, limit 2"):
        open_bundle(path, Limits(max_entries=2))
    with pytest.raises(BundleError) as caught:
        open_bundle(path, Limits(max_envelope_bytes=100))
    assert str(caught.value).startswith("envelope.json is ")
    assert str(caught.value).endswith(" bytes, over the 100-byte limit")


def test_missing_required_entries(tmp_path: Path) -> None:
    path = tmp_path / "v.memcube"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("manifest.json", b"{}")
    with raises_exactly(BundleError, "not a .memcube: envelope.json is missing"):
        open_bundle(path)


def test_directory_entry_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "v.memcube"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("blobs/sha256/" + "0" * 64 + "/", b"")
    with pytest.raises(BundleError) as caught:
        open_bundle(path)
    assert "unexpected entry" in str(caught.value)


def test_local_header_must_match_the_central_directory(tmp_path: Path) -> None:
    # Rename the entry in its local header only: readers that trust either copy disagree.
    data = VALID.replace(b"PK\x03\x04", b"PK\x03\x04", 1)
    first = data.index(b"blobs/sha256/")
    changed = data[:first] + b"blobs/sha256/" + b"f" * 64 + data[first + 77 :]
    path = tmp_path / "v.memcube"
    path.write_bytes(changed)
    with pytest.raises(BundleError) as caught:
        open_bundle(path)
    assert "local header names" in str(caught.value)


def check_bytes(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "fuzz.memcube"
    path.write_bytes(data)
    with contextlib.suppress(MIPError):
        full_check(path)


fuzz = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@fuzz
@given(st.binary(max_size=400))
def test_arbitrary_bytes_raise_only_mip_errors(tmp_path: Path, data: bytes) -> None:
    check_bytes(tmp_path, data)


@fuzz
@given(
    st.sampled_from([VALID, ALL_KINDS]),
    st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), min_size=1, max_size=8),
)
def test_mutated_bundles_raise_only_mip_errors(
    tmp_path: Path, base: bytes, changes: list[tuple[int, int]]
) -> None:
    data = bytearray(base)
    for position, value in changes:
        data[position % len(data)] = value
    check_bytes(tmp_path, bytes(data))


@fuzz
@given(
    st.sampled_from([VALID, ALL_KINDS]),
    st.integers(0, 1 << 20),
    st.integers(0, 1 << 20),
    st.binary(max_size=40),
)
def test_spliced_bundles_raise_only_mip_errors(
    tmp_path: Path, base: bytes, start: int, length: int, insert: bytes
) -> None:
    start %= len(base)
    check_bytes(tmp_path, base[:start] + insert + base[start + length % 64 :])


@pytest.mark.parametrize("name", [p.name for p in sorted((VECTORS / "invalid").glob("*.memcube"))])
def test_every_truncation_of_invalid_vectors_raises_only_mip_errors(
    tmp_path: Path, name: str
) -> None:
    data = (VECTORS / "invalid" / name).read_bytes()[:8192]
    for cut in range(0, len(data), max(1, len(data) // 16)):
        check_bytes(tmp_path, data[:cut] + data[-22:])


def bundle_of_parts(path: Path, blobs: list[bytes], parts: list[dict[str, object]]) -> Path:
    """A signed bundle whose parts are given whole (digest and size filled in from ``blobs``)."""
    with BundleWriter(path) as writer:
        for blob, part in zip(blobs, parts, strict=True):
            part["digest"], part["size"] = writer.add_blob_stream(io.BytesIO(blob))
        finish_signed(writer, parts)
    return path


def test_a_part_of_unknown_kind_is_verified_then_ignored(tmp_path: Path) -> None:
    # MIP-1 §2: "A part of an unknown kind MUST still have its blob verified and MUST otherwise
    # be ignored."
    part: dict[str, object] = {
        "kind": "hologram",
        "name": "future",
        "media_type": "application/x-hologram",
    }
    path = bundle_of_parts(tmp_path / "c.memcube", [b"not msgpack, not safetensors"], [part])
    full_check(path)
    data = path.read_bytes().replace(b"not msgpack", b"NOT msgpack")
    path.write_bytes(data)
    with pytest.raises(DigestMismatchError):
        full_check(path)


def test_a_snapshot_without_self_description_is_valid(tmp_path: Path) -> None:
    # MIP-1 §7.2: the __metadata__ key is a SHOULD; the manifest part alone describes the blob.
    import numpy as np
    from safetensors.numpy import save

    from mip.tensors import token_ids_digest

    tensors = {f"layers.0.{w}": np.zeros((1, 2, 4), np.float16) for w in ("key", "value")}
    tensors["token_ids"] = np.array([3, 4], np.int64)
    model = {
        "model_id": "org/m", "architecture": "LlamaForCausalLM", "config_sha256": "1" * 64,
        "tokenizer_sha256": "2" * 64, "dtype": "float16", "num_layers": 1,
        "num_attention_heads": 2, "num_kv_heads": 1, "head_dim": 4, "hidden_size": 8,
        "vocab_size": 10,
    }  # fmt: skip
    part: dict[str, object] = {
        "kind": "activation", "name": "kv", "model": model, "dtype": "F16", "num_layers": 1,
        "num_kv_heads": 1, "head_dim": 4, "num_tokens": 2, "token_ids_sha256": token_ids_digest([3, 4]),
    }  # fmt: skip
    full_check(bundle_of_parts(tmp_path / "c.memcube", [save(tensors)], [part]))


def test_blobs_are_hashed_in_parallel_and_the_first_mismatch_in_file_order_is_reported(
    tmp_path: Path,
) -> None:
    blobs = [bytes([65 + index]) * (100_000 + index) for index in range(5)]
    path, _ = write_bundle(tmp_path / "c.memcube", blobs)
    with read_archive(path) as archive:
        seen: list[int] = []
        archive.start_hashing(seen.append).wait()
        assert sum(seen) == sum(map(len, blobs))
    data = path.read_bytes()
    # Tamper with the second and the fourth blob: the second is always the one named.
    for index in (1, 3):
        start = data.index(blobs[index])
        data = data[:start] + b"Z" + data[start + 1 :]
    path.write_bytes(data)
    wanted = hashlib.sha256(blobs[1]).hexdigest()
    for _ in range(5):
        with read_archive(path) as archive:
            hashing = archive.start_hashing()
            assert archive.start_hashing() is hashing  # started once
            with pytest.raises(DigestMismatchError, match=f"blobs/sha256/{wanted}: content"):
                hashing.wait()


def test_hashing_stops_when_cancelled_and_never_reports_success(tmp_path: Path) -> None:
    blob = os.urandom(3 * CHUNK_SIZE)
    path, _ = write_bundle(tmp_path / "c.memcube", [blob])
    seen: list[int] = []
    go = threading.Event()

    def stall_after_each_chunk(count: int) -> None:
        seen.append(count)
        go.wait(10)

    with read_archive(path) as archive:
        hashing = archive.start_hashing(stall_after_each_chunk)
        hashing.cancel()
        go.set()
        with pytest.raises(BundleError, match="cancelled before every blob was checked"):
            hashing.wait()
    assert seen in ([], [CHUNK_SIZE])  # the worker stopped at its next chunk


def test_a_wrong_signer_is_refused_while_the_blobs_are_still_unread(tmp_path: Path) -> None:
    from memos_client.authoring.verifier import verify_bundle_file

    path, _ = write_bundle(tmp_path / "c.memcube", [os.urandom(3 * CHUNK_SIZE)])
    other = SigningKey.from_seed(hashlib.sha256(b"another key").digest())
    seen: list[int] = []
    started: list[BlobHashing] = []

    def stall_until_cancelled(count: int) -> None:
        seen.append(count)
        deadline = time.monotonic() + 10
        while not (started and started[0].cancelled) and time.monotonic() < deadline:
            time.sleep(0.005)

    with read_archive(path) as archive:
        started.append(archive.start_hashing(stall_until_cancelled))
        with pytest.raises(SignatureError):
            verify_bundle_file(archive, {other.key_id: other.public_key})
    # Refused, and the hashing cancelled, after at most one chunk of three (none if the worker
    # had not been scheduled yet).
    assert seen in ([], [CHUNK_SIZE])


def test_the_archive_layer_and_the_verifier_import_no_heavy_dependency() -> None:
    # `memos verify` starts hashing before it imports the manifest models and cryptography
    # (overlap).
    heavy = {"mip.models", "msgspec", "pydantic", "cryptography", "msgpack"}
    assert modules_imported_by("import mip.archive, memos_client.authoring.verifier", heavy) == []


def test_the_protocol_layer_and_the_client_do_not_import_pydantic() -> None:
    # The MIP models are msgspec structs (docs/adr/0010-mip-models-msgspec.md): importing
    # pydantic alone cost ~90 ms per command. Only the registry server uses it.
    statement = (
        "import mip.manifest, mip.container, mip.schemas, mip.tensors, "
        "memos_client.authoring.pack_manifest, memos_client.install.installer, memos_client.authoring.publisher"
    )
    assert modules_imported_by(statement, {"pydantic"}) == []


def test_archive_layout_is_read_without_the_manifest(tmp_path: Path) -> None:
    path, digests = write_bundle(tmp_path / "c.memcube", [b"first blob", b"second, longer blob"])
    with open(path, "rb") as file:
        blobs = blob_entries(read_entries(file))
        assert list(blobs) == digests  # in file order
        with open_bundle(path) as bundle:
            assert blobs == bundle.blobs
        entry = blobs[Digest(digests[1])]
        reader = RangeReader(file, entry.offset, entry.size)
        assert reader.read(7) == b"second,"
        assert reader.file_span() == (file, entry.offset + 7, entry.size - 7)
    # The layout reader is what `memos publish` starts uploading from: it must not pull in the
    # manifest models (msgspec), which are imported while the upload runs.
    assert modules_imported_by("import mip.archive", {"mip.models", "msgspec"}) == []
