"""The parts and the signed manifest of a bundle being packed (the heavy half of ``memos pack``).

:mod:`memos_client.authoring.packer` starts copying the big payloads into the archive first and imports this
module while they are copied: the manifest models, safetensors header checks and signing then cost
no wall time on a large cube.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from memos_client import __version__
from memos_client.authoring.bundle_writer import BundleWriter, ProgressCallback
from memos_client.authoring.source import CubeSource, iter_source_records
from memos_client.errors import SourceError
from mip import MIP_VERSION
from mip.digests import Digest
from mip.dsse import sign
from mip.errors import MIPError
from mip.keys import SigningKey
from mip.manifest import encode_manifest, manifest_from_document
from mip.models import (
    ActivationPart,
    Manifest,
    ParameterPart,
    PlaintextPart,
    describe_error,
    from_document,
    to_document,
)
from mip.records import write_records
from mip.tensors import (
    activation_metadata,
    check_activation,
    check_parameter,
    check_token_ids,
    parameter_metadata,
    read_header,
    token_ids_range,
)

PLAINTEXT_PART_NAME = "memories"
ADAPTER_WEIGHTS = "adapter_model.safetensors"

#: A payload file's blob, being written: its future gives the digest and size.
BlobCopies = dict[Path, Future[tuple[Digest, int]]]


def signed_manifest(
    source: CubeSource,
    writer: BundleWriter,
    copies: BlobCopies,
    keys: list[SigningKey],
    progress: ProgressCallback | None = None,
) -> tuple[Manifest, bytes, bytes]:
    """Build every part (writing the memories blob), then the manifest and its envelope.

    ``copies`` holds the payload files already started on ``writer``; returns the manifest, its
    exact bytes and the signed envelope's JSON.
    """
    created = _created(source)
    # Fail on a bad name or version before the parts are examined (the abort stops the copies).
    try:
        manifest_from_document(_document(source, created, []))
    except MIPError as exc:
        raise SourceError(f"{source.root / 'memcube.toml'}: {exc}") from exc
    parts: list[dict[str, Any]] = []
    for path in source.activation_files:
        parts.append(_activation_part(path, copies[path]))
    for directory in source.adapter_dirs:
        parts.append(_adapter_part(directory, copies))
    plaintext = _pack_memories(source, created, writer, progress)
    if plaintext is not None:
        parts.insert(0, plaintext)
    names = [part["name"] for part in parts]
    repeated = sorted(n for n, count in Counter(names).items() if count > 1)
    if repeated:
        raise SourceError(f"part names must be unique; repeated: {', '.join(repeated)}")
    try:
        manifest = manifest_from_document(_document(source, created, parts))
    except MIPError as exc:
        raise SourceError(f"{source.root}: {exc}") from exc
    manifest_bytes = encode_manifest(manifest)
    return manifest, manifest_bytes, sign(manifest_bytes, keys).to_json()


def _created(source: CubeSource) -> datetime:
    value = source.cube.get("created")
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.isdigit():
        return datetime.fromtimestamp(int(epoch), UTC)
    return datetime.now(UTC).replace(microsecond=0)


def _document(source: CubeSource, created: datetime, parts: list[dict[str, Any]]) -> dict[str, Any]:
    cube = {k: v for k, v in source.cube.items() if k != "created"}
    return {
        "mip_version": MIP_VERSION,
        **cube,
        "created": created.isoformat(),
        "dependencies": source.dependencies,
        "governance": source.governance,
        "provenance": {"tool": f"memos {__version__}"},
        **({"card": source.card} if source.card else {}),
        "parts": parts,
    }


def _pack_memories(
    source: CubeSource, created: datetime, writer: BundleWriter, progress: ProgressCallback | None
) -> dict[str, Any] | None:
    if not source.memory_files:
        return None
    # Spooled: small memory sets stay in RAM, large ones go to a temporary file.
    with tempfile.SpooledTemporaryFile(max_size=16 << 20) as spool:
        try:
            count = write_records(spool, iter_source_records(source, created))  # type: ignore[arg-type]
        except MIPError as exc:
            raise SourceError(f"invalid memories: {exc}") from exc
        if count == 0:
            return None
        spool.seek(0)
        digest, size = writer.add_blob_stream(spool, progress)  # type: ignore[arg-type]
    part = PlaintextPart(name=PLAINTEXT_PART_NAME, digest=digest, size=size, count=count)
    return to_document(part)


def _tensor_header(path: Path) -> Any:
    with open(path, "rb") as stream:
        return read_header(stream, path.stat().st_size)


def _activation_part(path: Path, copy: Future[tuple[Digest, int]]) -> dict[str, Any]:
    try:
        header = _tensor_header(path)
        metadata = activation_metadata(header)
        digest, size = copy.result()
        part = from_document(
            {**metadata, "name": path.stem, "digest": digest, "size": size}, ActivationPart
        )
        check_activation(header, part)
        start, length = token_ids_range(header)
        with open(path, "rb") as stream:
            stream.seek(start)
            check_token_ids(stream.read(length), part)
    except msgspec.ValidationError as exc:
        raise SourceError(f"{path}: invalid activation metadata: {describe_error(exc)}") from exc
    except (MIPError, ValueError) as exc:
        raise SourceError(f"{path}: {exc}") from exc
    return to_document(part)


def _adapter_config(path: Path) -> Any:
    try:
        return json.loads(path.read_text("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SourceError(f"{path}: not valid JSON ({exc})") from exc


def _adapter_part(directory: Path, copies: BlobCopies) -> dict[str, Any]:
    weights = directory / ADAPTER_WEIGHTS
    try:
        config = _adapter_config(directory / "adapter_config.json")
        header = _tensor_header(weights)
        metadata = parameter_metadata(header)
        digest, size = copies[weights].result()
        part = from_document(
            {
                **metadata,
                "name": directory.name,
                "digest": digest,
                "size": size,
                "adapter_config": config,
            },
            ParameterPart,
        )
        check_parameter(header, part)
    except msgspec.ValidationError as exc:
        raise SourceError(f"{directory}: invalid adapter metadata: {describe_error(exc)}") from exc
    except FileNotFoundError as exc:
        raise SourceError(
            f"{directory}: an adapter needs adapter_config.json and {ADAPTER_WEIGHTS} "
            f"({Path(exc.filename).name} is missing)"
        ) from exc
    except (MIPError, ValueError) as exc:
        raise SourceError(f"{directory}: {exc}") from exc
    return to_document(part)
