"""JSON Schemas of the MIP v1 documents, generated from the models (MIP-1 §5, §6, §7).

``python -m mip.schemas DIR`` writes them; a test fails when the committed files in ``schemas/``
drift from the code.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mip import MIP_VERSION
from mip.models import Manifest, ModelFingerprint


class SignatureDocument(BaseModel):
    """One DSSE signature as it appears in JSON."""

    model_config = ConfigDict(extra="allow", title="Signature")
    keyid: str = Field(description="Hex SHA-256 of the signer's raw Ed25519 public key (a hint).")
    sig: str = Field(description="Base64 Ed25519 signature of PAE(payloadType, payload).")


class EnvelopeDocument(BaseModel):
    """The DSSE JSON envelope carrying a manifest (MIP-1 §6.2)."""

    model_config = ConfigDict(extra="allow", title="Envelope")
    payload: str = Field(description="Base64 of the exact manifest bytes.")
    payloadType: str = Field(  # noqa: N815  (the DSSE field name)
        description="application/vnd.memcube.manifest.v1+json"
    )
    signatures: list[SignatureDocument] = Field(max_length=16)


class RecordDocument(BaseModel):
    """One plaintext memory record, msgpack-encoded in a plaintext blob (MIP-1 §7.1)."""

    model_config = ConfigDict(extra="allow", title="MemoryRecord")
    id: str = Field(min_length=1, max_length=256)
    text: str
    tags: list[str]
    metadata: dict[str, Any]
    created: str = Field(description="RFC 3339")
    updated: str = Field(description="RFC 3339")
    version: int = Field(ge=1)


_MODELS: dict[str, type[BaseModel]] = {
    "manifest.schema.json": Manifest,
    "envelope.schema.json": EnvelopeDocument,
    "record.schema.json": RecordDocument,
    "model-fingerprint.schema.json": ModelFingerprint,
}


def schema_documents() -> dict[str, dict[str, Any]]:
    """File name -> JSON Schema, for every MIP document."""
    documents = {}
    for filename, model in _MODELS.items():
        schema = model.model_json_schema(mode="validation")
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"https://memstore.dev/schemas/mip-{MIP_VERSION}/{filename}"
        documents[filename] = schema
    return documents


def render(schema: dict[str, Any]) -> str:
    """The committed text of a schema file."""
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    """Write every schema into the directory given as the only argument."""
    if len(argv) != 1:
        sys.stderr.write("usage: python -m mip.schemas DIRECTORY\n")
        return 2
    directory = Path(argv[0])
    directory.mkdir(parents=True, exist_ok=True)
    for filename, schema in schema_documents().items():
        (directory / filename).write_text(render(schema), "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
