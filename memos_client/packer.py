"""Builds a signed ``.memcube`` from a cube source directory (``memos pack``).

The big payloads (KV snapshots, adapter weights) are started first: the writer copies and hashes
them on worker threads while :mod:`memos_client.pack_manifest` is imported and builds the parts and
the signed manifest on this one, so packing a large cube costs about one SHA-256 pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from memos_client.source import load_source
from mip.archive import BundleWriter, ProgressCallback

if TYPE_CHECKING:
    from mip.digests import Digest
    from mip.keys import SigningKey
    from mip.models import Manifest


@dataclass(frozen=True)
class PackResult:
    """What ``memos pack`` produced."""

    path: Path
    manifest: Manifest
    digest: Digest


def default_output_name(name: str, version: str) -> str:
    """``namespace-name-version.memcube``."""
    return f"{name.replace('/', '-')}-{version}.memcube"


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
    with BundleWriter(destination) as writer:
        weights = [directory / "adapter_model.safetensors" for directory in source.adapter_dirs]
        copies = {
            path: writer.start_blob_file(path, progress)
            for path in [*source.activation_files, *weights]
            if path.is_file()  # a missing file is reported with its part, below
        }
        # Imported now, so that pydantic, safetensors checks and signing overlap the copies.
        from memos_client.pack_manifest import signed_manifest
        from mip.manifest import manifest_digest

        manifest, manifest_bytes, envelope = signed_manifest(source, writer, copies, keys, progress)
        path = writer.finish(manifest_bytes, envelope)
    return PackResult(path, manifest, manifest_digest(manifest_bytes))
