"""The fast bundle writer ``memos pack`` uses: the same bytes as mip's reference writer."""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from pathlib import Path

import pytest

from memos_client.authoring.bundle_writer import BundleWriter
from mip.bundle_writer import BundleWriter as ReferenceWriter
from mip.container import open_bundle
from mip.digests import CHUNK_SIZE
from mip.errors import BundleError
from tests.mip.test_container import finish_signed


def _plaintext_part(name: str, digest: str, size: int) -> dict[str, object]:
    return {"kind": "plaintext", "name": name, "digest": digest, "size": size, "count": 0}


def test_the_fast_and_the_reference_writer_write_the_same_bytes(tmp_path: Path) -> None:
    blobs = [os.urandom(3 * 1024 * 1024 + 17), b"small", b"", b"small"]
    files = []
    for index, blob in enumerate(blobs):
        files.append(tmp_path / f"blob{index}")
        files[-1].write_bytes(blob)
    written = []
    for writer_class, threshold in (
        (BundleWriter, 1),
        (BundleWriter, 1 << 40),
        (ReferenceWriter, 0),
    ):
        path = tmp_path / f"{writer_class.__module__}-{threshold}.memcube"
        with writer_class(path) as writer:
            if threshold:
                writer.kernel_copy_threshold = threshold  # type: ignore[union-attr]
            added = [writer.add_blob_file(files[0])]
            added += [writer.add_blob_stream(io.BytesIO(blob)) for blob in blobs[1:]]
            parts = [_plaintext_part(f"p{i}", d, s) for i, (d, s) in enumerate(added)]
            finish_signed(writer, parts)  # type: ignore[arg-type]
        written.append(path.read_bytes())
    assert written[0] == written[1] == written[2]


@pytest.mark.parametrize(
    ("threshold", "background"),
    [(1, False), (1 << 40, False), (1, True)],
    ids=["kernel-copy", "streamed", "kernel-copy-in-background"],
)
def test_add_blob_file_writes_the_same_archive_either_way(
    tmp_path: Path, threshold: int, background: bool
) -> None:
    """Large files take the in-kernel copy path, maybe on the writer's worker thread; its entries
    must equal the streamed path's."""
    blobs = [os.urandom(3 * 1024 * 1024 + 17), b"small", b""]
    files = []
    for index, blob in enumerate([*blobs, blobs[0]]):  # the last one repeats the first
        files.append(tmp_path / f"blob{index}")
        files[-1].write_bytes(blob)
    path = tmp_path / "c.memcube"
    with BundleWriter(path) as writer:
        writer.kernel_copy_threshold = threshold
        if background:
            started = [writer.start_blob_file(file) for file in files]
            added = [future.result() for future in started]
        else:
            added = [writer.add_blob_file(file) for file in files]
        parts = [_plaintext_part(f"p{i}", d, s) for i, (d, s) in enumerate(added)]
        finish_signed(writer, parts)
    assert [digest for digest, _ in added] == [
        "sha256:" + hashlib.sha256(blob).hexdigest() for blob in [*blobs, blobs[0]]
    ]
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None  # every CRC-32 in the headers is right
        for digest, _ in added:
            entry = "blobs/sha256/" + digest.removeprefix("sha256:")
            assert hashlib.sha256(archive.read(entry)).hexdigest() == digest.removeprefix("sha256:")
        assert len(archive.namelist()) == 5  # three distinct blobs, manifest, envelope
    with open_bundle(path) as bundle:
        bundle.verify_blobs()


def test_an_aborted_writer_stops_its_background_copies_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(4 * CHUNK_SIZE))
    out = tmp_path / "out"
    out.mkdir()
    started = []

    def pack_then_fail() -> None:
        with BundleWriter(out / "c.memcube") as writer:
            writer.kernel_copy_threshold = 1

            def hold_until_aborted(_count: int) -> None:
                # The first copy ends only once the writer aborts: the second is queued till then.
                assert writer._aborting.wait(timeout=60)

            started.append(writer.start_blob_file(source, hold_until_aborted))
            started.append(writer.start_blob_file(source))
            raise RuntimeError("the manifest is invalid")

    with pytest.raises(RuntimeError, match="the manifest is invalid"):
        pack_then_fail()
    assert os.listdir(out) == []
    assert all(future.done() for future in started)
    # The copy still queued when the writer aborted stopped before writing anything.
    assert isinstance(started[1].exception(), BundleError)
    assert str(started[1].exception()) == "packing was aborted"
