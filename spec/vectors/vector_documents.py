"""What the vectors are made of: the published test keys, DSSE envelopes, payload blobs
(records, a KV snapshot, a LoRA adapter) and manifest documents, built by hand from MIP-1's text
(none of it from ``mip``). Used by ``generate.py`` and ``invalid_bundles.py`` beside it.
"""

import base64
import hashlib
import json
import struct
from typing import Any

import msgpack
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

PAYLOAD_TYPE = "application/vnd.memcube.manifest.v1+json"
PLAINTEXT_MEDIA_TYPE = "application/vnd.memcube.plaintext.v1+msgpack"
ACTIVATION_MEDIA_TYPE = "application/vnd.memcube.activation.v1+safetensors"
PARAMETER_MEDIA_TYPE = "application/vnd.memcube.parameter.v1+safetensors"
CREATED = "2026-01-01T00:00:00Z"
#: TEST ONLY. These seeds are public: anything they sign proves nothing.
TEST_KEY_SEED = hashlib.sha256(b"memstore test key 1").digest()
OTHER_KEY_SEED = hashlib.sha256(b"memstore test key 2").digest()
MAX_MANIFEST_BYTES = 1 << 20
MAX_SAFETENSORS_HEADER_BYTES = 16 << 20


# --- keys, DSSE -----------------------------------------------------------------------------


def private_key(seed: bytes) -> Ed25519PrivateKey:
    """The Ed25519 key of a 32-byte seed."""
    return Ed25519PrivateKey.from_private_bytes(seed)


def key_id(key: Ed25519PrivateKey) -> str:
    """MIP-1 key id: hex SHA-256 of the raw 32-byte public key."""
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


def envelope_json(payload: bytes, keys: list[Ed25519PrivateKey]) -> bytes:
    """A DSSE JSON envelope over ``payload`` signed by ``keys`` (the layout mip.dsse writes)."""
    document = {
        "payload": base64.b64encode(payload).decode(),
        "payloadType": PAYLOAD_TYPE,
        "signatures": [
            {
                "keyid": key_id(k),
                "sig": base64.b64encode(k.sign(pae(PAYLOAD_TYPE, payload))).decode(),
            }
            for k in keys
        ],
    }
    return json.dumps(document, indent=2, sort_keys=True).encode() + b"\n"


def encode_manifest(document: dict[str, Any]) -> bytes:
    """MIP-1 §5.1 writer encoding: sorted keys, compact separators, UTF-8."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha256(data: bytes) -> str:
    """Hex SHA-256."""
    return hashlib.sha256(data).hexdigest()


def digest(data: bytes) -> str:
    """``sha256:<hex>``."""
    return "sha256:" + sha256(data)


# --- payloads -------------------------------------------------------------------------------


def records_blob() -> bytes:
    """Three plaintext memory records as a msgpack stream."""
    texts = [
        ("notes.jsonl:1", "The Memory Interchange Protocol signs manifests with DSSE.", ["mip"]),
        ("notes.jsonl:2", "Blobs are named by the SHA-256 of their bytes.", ["mip", "blobs"]),
        ("guide.md", "# Guide\n\nMemCubes hold plaintext, activation and parameter memory.\n", []),
    ]
    packer = msgpack.Packer(use_bin_type=True)
    return b"".join(
        packer.pack(
            {
                "id": memory_id,
                "text": text,
                "tags": tags,
                "metadata": {"source": memory_id.split(":")[0]},
                "created": CREATED,
                "updated": CREATED,
                "version": 1,
            }
        )
        for memory_id, text, tags in texts
    )


def safetensors_bytes(
    tensors: list[tuple[str, str, list[int], bytes]],
    metadata: dict[str, str],
    offsets: list[tuple[int, int]] | None = None,
    header_length: int | None = None,
    data_suffix: bytes = b"",
) -> bytes:
    """A safetensors file written by hand, so a test can give it any header it likes."""
    header: dict[str, Any] = {"__metadata__": metadata}
    position = 0
    for index, (name, dtype, shape, data) in enumerate(tensors):
        span = offsets[index] if offsets else (position, position + len(data))
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": list(span)}
        position += len(data)
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)  # safetensors pads the header to 8 bytes
    length = len(encoded) if header_length is None else header_length
    return struct.pack("<Q", length) + encoded + b"".join(t[3] for t in tensors) + data_suffix


MODEL = {
    "model_id": "memstore-test/tiny-llama",
    "revision": "0123456789abcdef0123456789abcdef01234567",
    "architecture": "LlamaForCausalLM",
    "config_sha256": sha256(b"memstore test model config"),
    "tokenizer_sha256": sha256(b"memstore test tokenizer"),
    "dtype": "float16",
    "num_layers": 2,
    "num_attention_heads": 4,
    "num_kv_heads": 2,
    "head_dim": 4,
    "hidden_size": 16,
    "vocab_size": 32000,
    "max_position_embeddings": 128,
}
TOKEN_IDS = [1, 450, 18527, 29889]
SOURCES = [{"id": "notes.jsonl:1", "version": 1}, {"id": "notes.jsonl:2", "version": 1}]


def activation_metadata(**changes: Any) -> dict[str, Any]:
    """The ActivationPart fields a KV snapshot describes itself with (MIP-1 §7.2)."""
    token_bytes = struct.pack(f"<{len(TOKEN_IDS)}q", *TOKEN_IDS)
    return {
        "model": MODEL,
        "dtype": "F16",
        "num_layers": 2,
        "num_kv_heads": 2,
        "head_dim": 4,
        "num_tokens": len(TOKEN_IDS),
        "token_ids_sha256": sha256(token_bytes),
        "sources": SOURCES,
    } | changes


def kv_tensors(
    dtype: str = "F16", num_tokens: int = 4, token_ids: list[int] = TOKEN_IDS
) -> list[tuple[str, str, list[int], bytes]]:
    """``layers.{i}.key/value`` [kv_heads, tokens, head_dim] and ``token_ids`` I64[tokens]."""
    width = {"F16": 2, "F32": 4}[dtype]
    shape = [2, num_tokens, 4]
    count = 2 * num_tokens * 4
    tensors = []
    for layer in range(2):
        for which_index, which in enumerate(("key", "value")):
            # Deterministic bytes; their values do not matter to the format.
            seed = bytes([layer * 2 + which_index + 1]) * (count * width)
            tensors.append((f"layers.{layer}.{which}", dtype, shape, seed))
    tensors.append(
        ("token_ids", "I64", [len(token_ids)], struct.pack(f"<{len(token_ids)}q", *token_ids))
    )
    return tensors


def activation_blob(**changes: Any) -> bytes:
    """A valid self-describing KV snapshot."""
    meta = json.dumps(activation_metadata(), sort_keys=True, separators=(",", ":"))
    return safetensors_bytes(kv_tensors(**changes), {"memcube.activation": meta})


ADAPTER_CONFIG = {
    "base_model_name_or_path": "memstore-test/tiny-llama",
    "bias": "none",
    "lora_alpha": 4,
    "lora_dropout": 0.0,
    "peft_type": "LORA",
    "r": 2,
    "target_modules": ["q_proj", "v_proj"],
    "task_type": "CAUSAL_LM",
}


def adapter_blob() -> bytes:
    """A LoRA adapter (rank 2) on layer 0's q/v projections, self-describing."""
    tensors = []
    for module, out_features in (("q_proj", 16), ("v_proj", 8)):
        prefix = f"base_model.model.model.layers.0.self_attn.{module}"
        tensors.append((f"{prefix}.lora_A.weight", "F32", [2, 16], b"\x00\x00\x80\x3f" * 32))
        tensors.append(
            (f"{prefix}.lora_B.weight", "F32", [out_features, 2], b"\x00" * (out_features * 8))
        )
    meta = json.dumps(
        {"base_model": MODEL, "sources": SOURCES}, sort_keys=True, separators=(",", ":")
    )
    return safetensors_bytes(tensors, {"format": "pt", "memcube.parameter": meta})


# --- manifests ------------------------------------------------------------------------------


def part_entry(kind: str, name: str, media_type: str, blob: bytes, **fields: Any) -> dict[str, Any]:
    """The manifest entry of a part holding ``blob``: what every kind declares, then ``fields``."""
    return {
        "kind": kind,
        "name": name,
        "media_type": media_type,
        "digest": digest(blob),
        "size": len(blob),
        **fields,
    }


def plaintext_part(blob: bytes, count: int = 3, size: int | None = None) -> dict[str, Any]:
    """The manifest entry of the plaintext part."""
    entry = part_entry("plaintext", "memories", PLAINTEXT_MEDIA_TYPE, blob, count=count)
    if size is not None:
        entry["size"] = size
    return entry


def activation_part(blob: bytes, **changes: Any) -> dict[str, Any]:
    """The manifest entry of the activation part."""
    metadata = activation_metadata(**changes)
    return part_entry("activation", "kv-intro", ACTIVATION_MEDIA_TYPE, blob, **metadata)


def parameter_part(blob: bytes, **changes: Any) -> dict[str, Any]:
    """The manifest entry of the parameter part."""
    return part_entry(
        "parameter",
        "lora-facts",
        PARAMETER_MEDIA_TYPE,
        blob,
        base_model=MODEL,
        adapter_config=ADAPTER_CONFIG | changes,
        sources=SOURCES,
    )


def manifest(parts: list[dict[str, Any]], **changes: Any) -> dict[str, Any]:
    """A manifest using every top-level field of MIP-1 §5."""
    return {
        "mip_version": "1.0",
        "name": "memstore-test/mip-vectors",
        "version": "1.0.0",
        "description": "Golden test vectors of MIP v1.",
        "license": "CC0-1.0",
        "keywords": ["test", "vectors"],
        "authors": [{"name": "MemStore authors", "email": "dev@memstore.invalid"}],
        "created": CREATED,
        "dependencies": {"memstore-test/base": ">=1.0,<2"},
        "governance": {
            "access": {"read": ["*"], "write": ["owner"]},
            "ttl_seconds": 31536000,
            "sensitivity": "internal",
        },
        "provenance": {"tool": "spec/vectors/generate.py"},
        "parts": parts,
    } | changes
