"""Helpers for registry tests: unique names, manifests, envelopes, uploads, error codes."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from mip.dsse import Envelope, sign
from mip.errors import MIPError
from mip.keys import SigningKey
from mip.records import encode_record, read_records


def unique(prefix: str) -> str:
    """A name no other test uses (the server is shared by a session's tests)."""
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def blob_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def record_blob(text: str | bytes) -> bytes:
    """A plaintext blob of one valid record holding ``text`` (the registry checks payloads at
    publish, as a client does: MIP-1 §7.1)."""
    if isinstance(text, bytes):
        text = text.hex()
    record = {
        "id": hashlib.sha256(text.encode()).hexdigest()[:16],
        "text": text,
        "tags": [],
        "metadata": {},
        "created": "2026-01-01T00:00:00Z",
        "updated": "2026-01-01T00:00:00Z",
        "version": 1,
    }
    return encode_record(record)


def _record_count(data: bytes) -> int:
    """How many records ``data`` holds (1 for bytes that are not a record stream)."""
    try:
        return len(read_records(data))
    except MIPError:
        return 1


def manifest_bytes(
    name: str,
    version: str,
    blobs: list[bytes],
    *,
    description: str = "",
    keywords: list[str] | None = None,
    dependencies: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> bytes:
    """Canonical manifest bytes of a cube whose plaintext parts are ``blobs``."""
    document: dict[str, Any] = {
        "mip_version": "1.0",
        "name": name,
        "version": version,
        "created": datetime(2026, 1, 1, tzinfo=UTC).isoformat().replace("+00:00", "Z"),
        "description": description,
        "keywords": keywords or [],
        "dependencies": dependencies or {},
        "parts": [
            {
                "name": f"part-{index}",
                "kind": "plaintext",
                "media_type": "application/vnd.memcube.plaintext.v1+msgpack",
                "digest": blob_digest(data),
                "size": len(data),
                "count": _record_count(data),
            }
            for index, data in enumerate(blobs)
        ],
        **(extra or {}),
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def envelope_document(payload: bytes, *keys: SigningKey) -> dict[str, Any]:
    """The JSON object of a DSSE envelope over ``payload`` signed by ``keys``."""
    envelope: Envelope = sign(payload, keys)
    document: dict[str, Any] = json.loads(envelope.to_json())
    return document


def publish_body(payload: bytes, key: SigningKey, *, send_key: bool = True) -> dict[str, Any]:
    """A ``POST /v1/versions`` body."""
    return {
        "envelope": envelope_document(payload, key),
        "public_key_pem": key.public_key.to_pem().decode() if send_key else None,
    }


def upload(client: httpx.Client, data: bytes) -> str:
    """Upload ``data`` as a blob; return its digest."""
    digest = blob_digest(data)
    response = client.put(f"/v1/blobs/{digest}", content=data)
    assert response.status_code in (200, 201), response.text
    return digest


def error_code(response: httpx.Response) -> str:
    """The stable code of an error response (and check its shape)."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message"}, body
    assert body["error"]["message"], body
    return str(body["error"]["code"])
