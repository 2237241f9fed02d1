"""JSON Schemas of the MIP v1 documents, generated from the models (MIP-1 §5, §6, §7).

``python -m mip.schemas DIR`` writes them; a test fails when the committed files in ``schemas/``
drift from the code.
"""

from __future__ import annotations

import inspect
import json
import sys
from typing import Annotated, Any

import msgspec

from mip import MIP_VERSION
from mip.models import (
    ActivationPart,
    Manifest,
    ModelFingerprint,
    OtherPart,
    ParameterPart,
    PlaintextPart,
)


class SignatureDocument(msgspec.Struct, kw_only=True):
    """One DSSE signature as it appears in JSON."""

    keyid: Annotated[
        str,
        msgspec.Meta(description="Hex SHA-256 of the signer's raw Ed25519 public key (a hint)."),
    ]
    sig: Annotated[
        str, msgspec.Meta(description="Base64 Ed25519 signature of PAE(payloadType, payload).")
    ]


class EnvelopeDocument(msgspec.Struct, kw_only=True):
    """The DSSE JSON envelope carrying a manifest (MIP-1 §6.2)."""

    payload: Annotated[str, msgspec.Meta(description="Base64 of the exact manifest bytes.")]
    payloadType: Annotated[  # noqa: N815  (the DSSE field name)
        str, msgspec.Meta(description="application/vnd.memcube.manifest.v1+json")
    ]
    signatures: Annotated[list[SignatureDocument], msgspec.Meta(max_length=16)]


class RecordDocument(msgspec.Struct, kw_only=True):
    """One plaintext memory record, msgpack-encoded in a plaintext blob (MIP-1 §7.1)."""

    id: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    text: str
    tags: list[str]
    metadata: dict[str, Any]
    created: Annotated[str, msgspec.Meta(description="RFC 3339")]
    updated: Annotated[str, msgspec.Meta(description="RFC 3339")]
    version: Annotated[int, msgspec.Meta(ge=1)]


#: File name -> (the model, the schema's title, models only reachable through a hand-made ref).
_DOCUMENTS: dict[str, tuple[type[msgspec.Struct], str, tuple[type[msgspec.Struct], ...]]] = {
    "manifest.schema.json": (
        Manifest,
        "Manifest",
        (PlaintextPart, ActivationPart, ParameterPart, OtherPart),
    ),
    "envelope.schema.json": (EnvelopeDocument, "Envelope", ()),
    "record.schema.json": (RecordDocument, "MemoryRecord", ()),
    "model-fingerprint.schema.json": (ModelFingerprint, "ModelFingerprint", ()),
}


def _schema(
    model: type[msgspec.Struct], title: str, parts: tuple[type[msgspec.Struct], ...]
) -> Any:
    _, definitions = msgspec.json.schema_components((model, *parts), ref_template="#/$defs/{name}")
    for definition in definitions.values():
        # Every MIP document tolerates unknown fields (MIP-1 §2): say so, as JSON Schema's
        # default already does; and indent docstrings as text, not as code.
        definition.setdefault("additionalProperties", True)
        if "description" in definition:
            definition["description"] = inspect.cleandoc(definition["description"])
    schema: dict[str, Any] = definitions.pop(model.__name__)
    schema["title"] = title
    if parts:
        # Manifest.parts is decoded by kind, not by msgspec's type (mip.models): say it here.
        # OtherPart's "not enum" of the known kinds makes exactly one alternative match.
        refs = [{"$ref": f"#/$defs/{part.__name__}"} for part in parts]
        schema["properties"]["parts"]["items"] = {"oneOf": refs}
    if definitions:
        schema["$defs"] = definitions
    return schema


def schema_documents() -> dict[str, dict[str, Any]]:
    """File name -> JSON Schema, for every MIP document."""
    documents = {}
    for filename, (model, title, parts) in _DOCUMENTS.items():
        schema = _schema(model, title, parts)
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"https://memstore.dev/schemas/mip-{MIP_VERSION}/{filename}"
        documents[filename] = schema
    return documents


def render(schema: dict[str, Any]) -> str:
    """The committed text of a schema file."""
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    """Write every schema into the directory given as the only argument."""
    import argparse
    from pathlib import Path

    parser = argparse.ArgumentParser(prog="python -m mip.schemas", description=main.__doc__)
    parser.add_argument("directory", type=Path, help="Where to write the *.schema.json files.")
    try:
        directory = parser.parse_args(argv).directory
    except SystemExit as exc:  # --help, or a usage error (an option is not a directory)
        return int(exc.code or 0)
    directory.mkdir(parents=True, exist_ok=True)
    for filename, schema in schema_documents().items():
        (directory / filename).write_text(render(schema), "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
