"""Builds a signed ``.memcube`` from a cube source directory (``memos pack``).

The big payloads (KV snapshots, adapter weights) are started first: the writer copies and hashes
them on worker threads while :mod:`memos_client.authoring.pack_manifest` is imported and builds the parts and
the signed manifest on this one, so packing a large cube costs about one SHA-256 pass.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from memos_client.authoring.bundle_writer import BundleWriter, ProgressCallback
from memos_client.authoring.source import CubeSource, load_source

if TYPE_CHECKING:
    from mip.digests import Digest
    from mip.keys import SigningKey
    from mip.models import Manifest


class PackResult(msgspec.Struct, frozen=True):
    """What ``memos pack`` produced."""

    path: Path
    manifest: Manifest
    digest: Digest


def default_output_name(name: str, version: str) -> str:
    """``namespace-name-version.memcube``."""
    return f"{name.replace('/', '-')}-{version}.memcube"


#: How every ZIP file, and so every ``.memcube``, starts (an empty archive starts with the end
#: record instead).
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


def check_output(destination: Path, source: CubeSource) -> None:
    """Refuse an output path whose replacement would lose data: one of the cube's source files,
    or an existing file that is not a bundle (a rebuilt ``.memcube`` may replace an older one)."""
    from memos_client.errors import UsageError

    target = destination.resolve()
    inputs = {source.root / "memcube.toml", *source.memory_files, *source.activation_files}
    folders = [source.root / folder for folder in ("memories", "activations", "adapters")]
    if target in {path.resolve() for path in inputs} or any(
        target.is_relative_to(folder.resolve()) for folder in folders
    ):
        raise UsageError(
            f"{destination} is part of the cube source {source.root}: write the bundle elsewhere "
            "(-o PATH)"
        )
    if not os.path.lexists(destination):
        return
    if destination.is_symlink() or not destination.is_file():
        raise UsageError(
            f"{destination} exists and is not a regular file: remove it or choose another -o"
        )
    with open(destination, "rb") as existing:
        start = existing.read(4)
    if start and start not in _ZIP_MAGIC:
        raise UsageError(
            f"{destination} exists and is not a .memcube bundle: remove it or choose another -o "
            "(only an older bundle is replaced)"
        )


def pack(
    source_dir: Path,
    output: Path | None,
    keys: list[SigningKey],
    progress: ProgressCallback | None = None,
) -> PackResult:
    """Pack and sign ``source_dir``; the bundle appears at ``output`` only when complete."""
    source = load_source(source_dir)
    name, version = str(source.cube["name"]), str(source.cube["version"])
    destination = output or Path.cwd() / default_output_name(name, version)
    check_output(destination, source)
    with BundleWriter(destination) as writer:
        weights = [directory / "adapter_model.safetensors" for directory in source.adapter_dirs]
        copies = {
            path: writer.start_blob_file(path, progress)
            for path in [*source.activation_files, *weights]
            if path.is_file()  # a missing file is reported with its part, below
        }
        # Imported now, so that the manifest models, safetensors checks and signing overlap the copies.
        from memos_client.authoring.pack_manifest import signed_manifest
        from mip.manifest import manifest_digest

        manifest, manifest_bytes, envelope = signed_manifest(source, writer, copies, keys, progress)
        path = writer.finish(manifest_bytes, envelope)
    return PackResult(path, manifest, manifest_digest(manifest_bytes))
