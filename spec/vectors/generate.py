"""Generate the MIP v1 golden test vectors (spec/vectors/, see README.md there).

Run from the repository root::

    python3 spec/vectors/generate.py            # rewrites spec/vectors/ in place
    python3 spec/vectors/generate.py OUT_DIR     # writes a fresh copy elsewhere

Everything is deterministic: the keys come from published seeds, Ed25519 signatures are
deterministic, timestamps are fixed and ZIP entries carry the 1980-01-01 date. The test suite
regenerates into a temporary directory and compares every byte with the committed files.

The valid bundles are written by the reference writer (``mip.container.BundleWriter``). The
invalid ones are assembled by the small ZIP writer below, which writes local headers, the central
directory and its end record byte by byte, because ``zipfile`` refuses to write most of them
(duplicate names, links, overlapping entries). Each ``invalid/NAME.memcube`` comes with
``invalid/NAME.error``: one line ``CODE: message``, the MIP error code (MIP-1 §10) and the message
a reader MUST raise for it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import stat
import struct
import sys
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from mip.container import BundleWriter  # noqa: E402  (needs the repository on sys.path)

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


# --- a ZIP writer with no safety rails ------------------------------------------------------


@dataclass
class ZipEntry:
    """One entry to write; every field a reader checks can be set to a bad value."""

    name: str
    data: bytes
    method: int = 0
    uncompressed_size: int | None = None
    mode: int = stat.S_IFREG | 0o644
    #: Write no local header or data: point the central record at another entry's bytes.
    header_at: int | None = None
    stored: bytes | None = field(default=None, repr=False)
    #: General-purpose flags; 0x800 says the name is UTF-8, 0x1 that the entry is encrypted.
    flags: int = 0x800
    #: Declare this size (compressed and uncompressed) whatever the data's length.
    declared_size: int | None = None
    #: Local header only: another method, or other sizes, than the central directory says.
    local_method: int | None = None
    local_size: int | None = None
    #: Declare this CRC-32 (both headers) whatever the data's.
    crc: int | None = None


def zip_bytes(entries: list[ZipEntry], prefix: bytes = b"") -> bytes:
    """Local headers + data, central directory, end record; no ZIP64, no data descriptors."""
    body = bytearray(prefix)
    central = bytearray()
    for entry in entries:
        name = entry.name.encode()
        payload = entry.stored if entry.stored is not None else entry.data
        if entry.method == 8 and entry.stored is None:
            compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
            payload = compressor.compress(entry.data) + compressor.flush()
        crc = zlib.crc32(entry.data) if entry.crc is None else entry.crc
        size = len(entry.data) if entry.uncompressed_size is None else entry.uncompressed_size
        stored_size = len(payload)
        if entry.declared_size is not None:
            size = stored_size = entry.declared_size
        # version 20, flags, method, time 0, date 1980-01-01
        fixed = (20, entry.flags, entry.method, 0, 0x21, crc, stored_size, size, len(name))
        local = list(fixed)
        if entry.local_method is not None:
            local[2] = entry.local_method
        if entry.local_size is not None:
            local[6] = local[7] = entry.local_size
        if entry.header_at is None:
            offset = len(body)
            body += struct.pack("<4s5H3L2H", b"PK\x03\x04", *local, 0) + name + payload
        else:
            offset = entry.header_at
        central += (
            struct.pack(
                "<4s6H3L5HLL",
                b"PK\x01\x02",
                0x031E,  # made by: Unix, version 3.0, so the mode in external_attr counts
                *fixed,
                0,  # extra length
                0,  # comment length
                0,  # disk
                0,  # internal attributes
                entry.mode << 16,
                offset,
            )
            + name
        )
    end = struct.pack(
        "<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(central), len(body), 0
    )
    return bytes(body + central + end)


def local_header_size(name: str) -> int:
    """Bytes of a local header written by :func:`zip_bytes` (no extra field)."""
    return 30 + len(name.encode())


# --- the vectors ----------------------------------------------------------------------------


@dataclass
class Invalid:
    """An invalid bundle and the error it must raise."""

    name: str
    data: bytes
    #: The MIP error code (MIP-1 §10), not an implementation's class name.
    error: str
    message: str


def blob_name(blob: bytes) -> str:
    """The archive entry of a blob."""
    return "blobs/sha256/" + sha256(blob)


def signed_entries(
    document: dict[str, Any],
    blobs: list[bytes],
    keys: list[Ed25519PrivateKey],
    transform: Callable[[bytes], bytes] = lambda b: b,
) -> list[ZipEntry]:
    """Blob entries, then ``manifest.json`` and an envelope signing (transformed) manifest bytes."""
    manifest_bytes = transform(encode_manifest(document))
    entries = [ZipEntry(blob_name(blob), blob) for blob in blobs]
    entries.append(ZipEntry("manifest.json", manifest_bytes))
    entries.append(ZipEntry("envelope.json", envelope_json(manifest_bytes, keys)))
    return entries


def invalid_vectors(test_key: Ed25519PrivateKey, other_key: Ed25519PrivateKey) -> list[Invalid]:
    """Every rejection MIP-1 requires, one bundle each."""
    records = records_blob()
    base = manifest([plaintext_part(records)])
    entries = signed_entries(base, [records], [test_key])
    good = zip_bytes(entries)
    blob_entry = blob_name(records)
    vectors: list[Invalid] = []

    def add(name: str, data: bytes, error: str, message: str) -> None:
        vectors.append(Invalid(name, data, error, message))

    # A byte changed in the blob: same name, different content.
    tampered = bytearray(records)
    tampered[10] ^= 0x01
    changed = [ZipEntry(blob_entry, bytes(tampered)), *entries[1:]]
    add(
        "blob-byte-changed",
        zip_bytes(changed),
        "digest_mismatch",
        f"{blob_entry}: content hashes to {digest(bytes(tampered))}, not its name",
    )

    test_id, other_id = key_id(test_key), key_id(other_key)
    # A byte changed in the manifest (and in the payload the envelope carries): signature breaks.

    def flip(data: bytes) -> bytes:
        return data.replace(b"Golden test vectors", b"Golden test vectorz")

    add(
        "manifest-byte-changed",
        zip_bytes(
            [
                *entries[:1],
                ZipEntry("manifest.json", flip(entries[1].data)),
                ZipEntry(
                    "envelope.json",
                    entries[2].data.replace(
                        json.loads(entries[2].data)["payload"].encode(),
                        base64.b64encode(flip(entries[1].data)),
                    ),
                ),
            ]
        ),
        "bad_signature",
        f"no signature verifies with a trusted key (signed by key ids: {test_id[:16]}); "
        "check the signer's public key",
    )
    add(
        "manifest-differs-from-envelope",
        zip_bytes([*entries[:1], ZipEntry("manifest.json", flip(entries[1].data)), entries[2]]),
        "bundle_payload_mismatch",
        "manifest.json differs from the payload its envelope signs",
    )
    add(
        "wrong-signer",
        zip_bytes(signed_entries(base, [records], [other_key])),
        "bad_signature",
        f"no signature verifies with a trusted key (signed by key ids: {other_id[:16]}); "
        "check the signer's public key",
    )
    add(
        "unsigned",
        zip_bytes(signed_entries(base, [records], [])),
        "bad_signature",
        "the bundle is unsigned: its envelope carries no signature",
    )
    add(
        "truncated",
        good[: len(good) // 2],
        "bundle_not_zip",
        "not a valid .memcube: truncated or not a ZIP archive (File is not a zip file)",
    )
    for name, entry_name in (
        ("entry-dotdot", "blobs/sha256/../../../../tmp/memcube-escape"),
        ("entry-absolute", "/tmp/memcube-escape"),  # noqa: S108  (a hostile name, never opened)
    ):
        add(
            name,
            zip_bytes([ZipEntry(entry_name, b"escaped\n"), *entries]),
            "bundle_entry_name",
            f"entry {entry_name!r} has an unsafe path (absolute or with '..'); refusing the bundle",
        )
    add(
        "entry-unexpected",
        zip_bytes([*entries, ZipEntry("README.txt", b"hello\n")]),
        "bundle_entry_name",
        "unexpected entry 'README.txt': a .memcube holds only manifest.json, envelope.json "
        "and blobs/sha256/<hex>",
    )
    link_target = b"../../../../etc/passwd"
    link_doc = manifest([plaintext_part(link_target, count=0)])
    link_entries = signed_entries(link_doc, [link_target], [test_key])
    link_entries[0].mode = stat.S_IFLNK | 0o777
    add(
        "entry-symlink",
        zip_bytes(link_entries),
        "bundle_entry_type",
        f"entry {blob_name(link_target)!r} is a link or directory; only regular files are allowed",
    )
    add(
        "duplicate-entries",
        zip_bytes([entries[0], *entries]),
        "bundle_duplicate_entry",
        f"duplicate entries: {blob_entry}",
    )
    add(
        "blob-missing",
        zip_bytes(entries[1:]),
        "bundle_blob_missing",
        f"blob of part 'memories' ({digest(records)}) is missing from the bundle",
    )
    stray = b"a blob no part references\n"
    add(
        "blob-undeclared",
        zip_bytes([ZipEntry(blob_name(stray), stray), *entries]),
        "bundle_blob_undeclared",
        f"undeclared entry {blob_name(stray)}: no part of the manifest references it",
    )
    short = manifest([plaintext_part(records, size=len(records) + 1)])
    add(
        "blob-wrong-size",
        zip_bytes(signed_entries(short, [records], [test_key])),
        "size_mismatch",
        f"{blob_entry} holds {len(records)} bytes but the manifest declares {len(records) + 1}",
    )
    bomb = b"\x00" * (64 << 10)
    bomb_doc = manifest([plaintext_part(bomb, count=0, size=16)])
    add(
        "blob-size-bomb",
        zip_bytes(signed_entries(bomb_doc, [bomb], [test_key])),
        "size_mismatch",
        f"{blob_name(bomb)} holds {len(bomb)} bytes but the manifest declares 16 "
        "(refusing a possible decompression bomb)",
    )
    oversized = entries[1].data + b" " * (MAX_MANIFEST_BYTES + 1 - len(entries[1].data))
    add(
        "manifest-oversized",
        zip_bytes([entries[0], ZipEntry("manifest.json", oversized), entries[2]]),
        "bundle_required_entry",
        f"manifest.json is {MAX_MANIFEST_BYTES + 1} bytes, over the {MAX_MANIFEST_BYTES}-byte limit",
    )
    add(
        "manifest-invalid",
        zip_bytes(
            signed_entries(
                manifest([plaintext_part(records)], version="1.0"), [records], [test_key]
            )
        ),
        "invalid_manifest",
        "invalid manifest: version: invalid version '1.0': expected SemVer MAJOR.MINOR.PATCH like 1.2.3",
    )
    add(
        "mip-major-unsupported",
        zip_bytes(
            signed_entries(
                manifest([plaintext_part(records)], mip_version="2.0"), [records], [test_key]
            )
        ),
        "unsupported_mip_version",
        "unsupported MIP version 2.0: this tool reads MIP 1.x; upgrade memstore",
    )
    add(
        "envelope-malformed",
        zip_bytes([*entries[:2], ZipEntry("envelope.json", b'{"payloadType": 7}')]),
        "invalid_envelope",
        "malformed envelope: 'payloadType' must be a string",
    )
    garbage = records + b"\xc1"
    add(
        "records-malformed-msgpack",
        zip_bytes(signed_entries(manifest([plaintext_part(garbage)]), [garbage], [test_key])),
        "invalid_records",
        "part 'memories': record 3: malformed msgpack (a byte that starts no msgpack value)",
    )
    cut = records[:-5]
    add(
        "records-truncated",
        zip_bytes(signed_entries(manifest([plaintext_part(cut)]), [cut], [test_key])),
        "invalid_records",
        "part 'memories': record 2: truncated msgpack data",
    )
    add(
        "records-count-mismatch",
        zip_bytes(
            signed_entries(manifest([plaintext_part(records, count=4)]), [records], [test_key])
        ),
        "invalid_records",
        "part 'memories' declares 4 records, its blob holds 3",
    )
    add(
        "entry-sizes-disagree",
        zip_bytes([ZipEntry(blob_entry, records, uncompressed_size=16), *entries[1:]]),
        "bundle_entry_compressed",
        f"entry {blob_entry!r} stores {len(records)} bytes but declares 16 "
        "(corrupt archive or zip bomb)",
    )
    add(
        "entry-encrypted",
        zip_bytes([ZipEntry(blob_entry, records, flags=0x801), *entries[1:]]),
        "bundle_entry_type",
        f"entry {blob_entry!r} is encrypted",
    )
    # The blob is written last and claims 1 GiB: its data would run past the end of the file.
    add(
        "entry-past-end",
        zip_bytes([*entries[1:], ZipEntry(blob_entry, records, declared_size=1 << 30)]),
        "bundle_layout",
        f"{blob_entry}: archive truncated inside the entry",
    )
    compressible = records * 4
    deflated = signed_entries(
        manifest([plaintext_part(compressible, count=12)]), [compressible], [test_key]
    )
    deflated[0].method = 8
    add(
        "entry-compressed",
        zip_bytes(deflated),
        "bundle_entry_compressed",
        f"entry {blob_name(compressible)!r} is compressed; MIP bundles store entries uncompressed",
    )
    # Overlapping entries: blob A's bytes hold blob B's whole local header and data, so B's data
    # is read twice (the trick behind non-recursive zip bombs).
    inner = b"inner blob bytes"
    inner_name = blob_name(inner)
    outer = (
        struct.pack(
            "<4s5H3L2H",
            b"PK\x03\x04",
            20,
            0x800,
            0,
            0,
            0x21,
            zlib.crc32(inner),
            len(inner),
            len(inner),
            len(inner_name),
            0,
        )
        + inner_name.encode()
        + inner
    )
    overlap_doc = manifest(
        [
            plaintext_part(outer, count=0) | {"name": "outer"},
            plaintext_part(inner, count=0) | {"name": "inner"},
        ]
    )
    overlap_entries = signed_entries(overlap_doc, [outer], [test_key])
    outer_data_at = local_header_size(blob_name(outer))
    overlap_entries.insert(1, ZipEntry(inner_name, inner, header_at=outer_data_at))
    add(
        "entries-overlapping",
        zip_bytes(overlap_entries),
        "bundle_layout",
        f"entry {inner_name!r} overlaps another entry (zip bomb?)",
    )

    # Safetensors headers that break MIP-1 §7.2, in an activation part; the part metadata
    # (in the manifest and in the file's __metadata__) is always the valid one.
    meta = {
        "memcube.activation": json.dumps(
            activation_metadata(), sort_keys=True, separators=(",", ":")
        )
    }
    tensors = kv_tensors()

    def activation_bundle(blob: bytes, **changes: Any) -> bytes:
        document = manifest([activation_part(blob, **changes)])
        return zip_bytes(signed_entries(document, [blob], [test_key]))

    huge = 1 << 40
    add(
        "safetensors-header-oversized",
        activation_bundle(safetensors_bytes(tensors, meta, header_length=huge)),
        "invalid_tensor",
        f"part 'kv-intro': invalid safetensors header: {huge} bytes, over the "
        f"{MAX_SAFETENSORS_HEADER_BYTES}-byte limit",
    )
    spans = []
    position = 0
    for _, _, _, data in tensors:
        spans.append((position, position + len(data)))
        position += len(data)
    holes = [*spans[:-1], (spans[-1][0] + 8, spans[-1][1] + 8)]
    add(
        "safetensors-hole",
        activation_bundle(safetensors_bytes(tensors, meta, offsets=holes, data_suffix=b"\x00" * 8)),
        "invalid_tensor",
        "part 'kv-intro': invalid safetensors header: a hole before tensor 'token_ids'",
    )
    overlaps = [spans[0], spans[0], *spans[2:]]
    add(
        "safetensors-overlap",
        activation_bundle(safetensors_bytes(tensors, meta, offsets=overlaps)),
        "invalid_tensor",
        "part 'kv-intro': invalid safetensors header: tensor 'layers.0.value' overlaps another",
    )
    add(
        "safetensors-dtype-mismatch",
        activation_bundle(safetensors_bytes(kv_tensors(dtype="F32"), meta)),
        "invalid_tensor",
        "activation part 'kv-intro': tensor layers.0.key is F32[2, 4, 4], "
        "the manifest declares F16[2, 4, 4]",
    )
    add(
        "safetensors-shape-mismatch",
        activation_bundle(
            safetensors_bytes(kv_tensors(num_tokens=3, token_ids=TOKEN_IDS[:3]), meta)
        ),
        "invalid_tensor",
        "activation part 'kv-intro': tensor layers.0.key is F16[2, 3, 4], "
        "the manifest declares F16[2, 4, 4]",
    )
    add(
        "safetensors-span-mismatch",
        activation_bundle(
            safetensors_bytes(
                [(n, d, [2, 4, 8] if n == "layers.0.key" else s, b) for n, d, s, b in tensors], meta
            )
        ),
        "invalid_tensor",
        "part 'kv-intro': invalid safetensors header: tensor 'layers.0.key' spans 64 bytes "
        "but F16[2, 4, 8] needs 128",
    )
    add(
        "activation-token-ids-mismatch",
        activation_bundle(safetensors_bytes(kv_tensors(token_ids=[1, 450, 18527, 29890]), meta)),
        "invalid_tensor",
        "activation part 'kv-intro': 'token_ids' do not hash to its token_ids_sha256",
    )
    stale = [{"id": "notes.jsonl:1", "version": 2}, SOURCES[1]]
    add(
        "activation-metadata-mismatch",
        activation_bundle(activation_blob(), sources=stale),
        "invalid_tensor",
        "activation part 'kv-intro': the tensor file's __metadata__ disagrees "
        "with the manifest on sources",
    )
    # MIP-1 §8.2 item 6: the archive is its entries, back to back, and nothing else; the local
    # header agrees with the central directory; no data descriptors; CRC-32 of the small entries.
    manifest_entry = entries[1]
    add(
        "local-header-method",
        zip_bytes(
            [entries[0], ZipEntry("manifest.json", manifest_entry.data, local_method=8), entries[2]]
        ),
        "bundle_layout",
        f"manifest.json: the local header (method 8, CRC {zlib.crc32(manifest_entry.data):08x}) "
        f"disagrees with the central directory (method 0, CRC {zlib.crc32(manifest_entry.data):08x})",
    )
    add(
        "local-header-sizes",
        zip_bytes(
            [entries[0], ZipEntry("manifest.json", manifest_entry.data, local_size=7), entries[2]]
        ),
        "bundle_layout",
        f"manifest.json: the local header declares 7 bytes (7 stored), the central directory "
        f"{len(manifest_entry.data)} ({len(manifest_entry.data)} stored)",
    )
    add(
        "data-descriptor",
        zip_bytes([ZipEntry(blob_entry, records, flags=0x808), *entries[1:]]),
        "bundle_layout",
        f"{blob_entry}: the entry uses a data descriptor; MIP bundles declare sizes upfront",
    )
    add(
        "leading-bytes",
        zip_bytes(entries, prefix=b"MZ a self-extractor stub\n"),
        "bundle_layout",
        "25 bytes before the first entry that belong to no entry",
    )
    add(
        "trailing-bytes",
        good + b"appended after signing",
        "bundle_layout",
        "bytes after the end of the central directory (or an archive comment): a .memcube "
        "ends with its end record",
    )
    add(
        "manifest-crc-mismatch",
        zip_bytes(
            [entries[0], ZipEntry("manifest.json", manifest_entry.data, crc=0x1234), entries[2]]
        ),
        "bundle_layout",
        "manifest.json: its bytes do not match the CRC-32 its headers declare",
    )
    add(
        "entry-directory-mode",
        zip_bytes([ZipEntry(blob_entry, records, mode=stat.S_IFDIR | 0o755), *entries[1:]]),
        "bundle_entry_type",
        f"entry {blob_entry!r} is a link or directory; only regular files are allowed",
    )

    # MIP-1 §2, §5.2, §7: manifests that are JSON but not MIP.
    def signed(document: dict[str, Any], blobs: list[bytes]) -> bytes:
        return zip_bytes(signed_entries(document, blobs, [test_key]))

    add(
        "mip-version-leading-zero",
        signed(manifest([plaintext_part(records)], mip_version="01.0"), [records]),
        "invalid_manifest",
        "invalid manifest: 'mip_version' must be a string like '1.0'",
    )
    no_parts = manifest([])
    del no_parts["parts"]
    add(
        "manifest-without-parts",
        signed(no_parts, []),
        "invalid_manifest",
        "invalid manifest: parts: required field is missing",
    )
    add(
        "part-name-newline",
        signed(manifest([plaintext_part(records) | {"name": "memories\n"}]), [records]),
        "invalid_manifest",
        "invalid manifest: parts[0].name: Expected `str` matching regex "
        "'[A-Za-z0-9][A-Za-z0-9._-]*'",
    )
    adapter = adapter_blob()
    add(
        "part-names-install-to-one-path",
        signed(
            manifest(
                [plaintext_part(records), parameter_part(adapter) | {"name": "memories.msgpack"}]
            ),
            [records, adapter],
        ),
        "invalid_manifest",
        "invalid manifest: part names 'memories' and 'memories.msgpack' would install to the same "
        "path: names must differ after case folding and without a .msgpack, .safetensors or .bin "
        "suffix",
    )

    # MIP-1 §7.1, §7.3: payloads every reader (and a registry at publish) refuses.
    first = msgpack.Unpacker(raw=False)
    first.feed(records)
    one = next(first)
    packed = msgpack.packb(one, use_bin_type=True)
    repeated_key = b"\x88" + packed[1:] + msgpack.packb("text") + msgpack.packb("other text")
    add(
        "record-repeated-key",
        signed(manifest([plaintext_part(repeated_key, count=1)]), [repeated_key]),
        "invalid_records",
        "part 'memories': record 0: malformed msgpack (a map repeats a key)",
    )
    bad_time = msgpack.packb(one | {"created": "2026-01-01"}, use_bin_type=True)
    add(
        "record-time-not-rfc3339",
        signed(manifest([plaintext_part(bad_time, count=1)]), [bad_time]),
        "invalid_records",
        "part 'memories': record 0: 'created' must be an RFC 3339 date-time "
        "(e.g. 2026-01-01T00:00:00Z)",
    )
    add(
        "parameter-target-modules",
        signed(manifest([parameter_part(adapter, target_modules=7)]), [adapter]),
        "invalid_tensor",
        "parameter part 'lora-facts': adapter_config.target_modules must be a string or a list "
        "of strings",
    )

    rank_doc = manifest([parameter_part(adapter, r=4)])
    add(
        "parameter-rank-mismatch",
        zip_bytes(signed_entries(rank_doc, [adapter], [test_key])),
        "invalid_tensor",
        "parameter part 'lora-facts': tensor "
        "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight has rank 2, "
        "adapter_config.r is 4",
    )
    return vectors


def write_valid_bundle(
    path: Path, document: dict[str, Any], blobs: list[bytes], key: Ed25519PrivateKey
) -> None:
    """A valid bundle as the reference writer lays it out."""
    with tempfile.TemporaryDirectory() as scratch, BundleWriter(path) as writer:
        for index, blob in enumerate(blobs):
            blob_path = Path(scratch) / str(index)
            blob_path.write_bytes(blob)
            writer.add_blob_file(blob_path)
        manifest_bytes = encode_manifest(document)
        writer.finish(manifest_bytes, envelope_json(manifest_bytes, [key]))


# --- small-order keys and signatures (MIP-1 §6.1) --------------------------------------------

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
#: The y coordinates of the 8 small-order points (order 1, 2, 4, 8), each used with both x signs.
_SMALL_ORDER = [
    ("order 1: the identity (0, 1)", 1),
    ("order 2: (0, -1)", _P - 1),
    ("order 4: (+-sqrt(-1), 0)", 0),
    ("order 8", int.from_bytes(bytes.fromhex(
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"), "little")),
    ("order 8", int.from_bytes(bytes.fromhex(
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"), "little")),
]  # fmt: skip
#: Non-canonical encodings (y >= p) of small-order y values.
_SMALL_ORDER_NONCANONICAL = [
    ("order 4, y = 0 written as p", _P),
    ("order 1, y = 1 as p + 1", _P + 1),
]


def _point(y: int, sign: int) -> bytes:
    return (y | (sign << 255)).to_bytes(32, "little")


def small_order_vectors(test_key: Ed25519PrivateKey) -> dict[str, Any]:
    """Public keys and signatures a verifier MUST refuse (MIP-1 §6.1, libsodium's rules)."""
    keys = []
    for what, y in _SMALL_ORDER:
        for sign in (0, 1):
            # x = 0 has no negative: the sign bit set on it is not a canonical encoding.
            canonical = not (sign and y in (1, _P - 1))
            keys.append({"what": what, "canonical": canonical, "hex": _point(y, sign).hex()})
    for what, y in _SMALL_ORDER_NONCANONICAL:
        for sign in (0, 1):
            keys.append({"what": what, "canonical": False, "hex": _point(y, sign).hex()})
    keys.append({"what": "not small order, y = p + 2 (not reduced)", "canonical": False,
                 "hex": _point(_P + 2, 0).hex()})  # fmt: skip
    message = b"any message at all"
    public = test_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    good = test_key.sign(message)
    s_plus_l = (int.from_bytes(good[32:], "little") + _L).to_bytes(32, "little")
    signatures = [
        {
            "what": "the universal forgery: identity key, R = identity, S = 0",
            "public_key_hex": _point(1, 0).hex(),
            "signature_hex": (_point(1, 0) + bytes(32)).hex(),
            "valid": False,
            "error": "invalid_key",
        },
        {
            "what": "the test key's own signature",
            "public_key_hex": public.hex(),
            "signature_hex": good.hex(),
            "valid": True,
        },
        {
            "what": "the test key's signature with S + L (not reduced)",
            "public_key_hex": public.hex(),
            "signature_hex": (good[:32] + s_plus_l).hex(),
            "valid": False,
            "error": "bad_signature",
        },
    ]
    for what, y in _SMALL_ORDER:
        signatures.append(
            {
                "what": f"R of small order ({what}), S = 0",
                "public_key_hex": public.hex(),
                "signature_hex": (_point(y, 0) + bytes(32)).hex(),
                "valid": False,
                "error": "bad_signature",
            }
        )
    return {
        "rule": "MIP-1 §6.1: refuse every public key listed (error invalid_key) and every "
        "signature marked valid: false; hex is the 32-byte RFC 8032 encoding",
        "message_utf8": message.decode(),
        "public_keys": [{**key, "error": "invalid_key"} for key in keys],
        "signatures": signatures,
    }


# --- the model fingerprint (MIP-1 §7.2.1), computed from the spec's text ----------------------

FINGERPRINT_FILES: dict[str, Any] = {
    "config.json": {
        "_name_or_path": "/home/someone/models/tiny",
        "architectures": ["LlamaForCausalLM"],
        "hidden_size": 16,
        "initializer_range": 0.02,
        "rms_norm_eps": 1e-05,
        "rope_theta": 10000.0,
        "torch_dtype": "float16",
        "transformers_version": "4.56.1",
        "note": "modèle ✓",
        "vocab_size": 100,
    },
    "tokenizer.json": {"model": {"type": "WordLevel", "vocab": {"[UNK]": 0, "hello": 1}}},
    "special_tokens_map.json": {"unk_token": "[UNK]"},
    "tokenizer_config.json": {
        "chat_template": "{% for m in messages %}{{ m['content'] }}{% endfor %}",
        "model_max_length": 2048,
        "name_or_path": "/home/someone/models/tiny",
        "tokenizer_class": "PreTrainedTokenizerFast",
        "tokenizer_file": "/home/someone/models/tiny/tokenizer.json",
    },
}
FINGERPRINT_VOCAB = b"[UNK]\nhello\n"
#: MIP-1 §7.2.1: the tokenizer files, in this order.
TOKENIZER_FILES = (
    "tokenizer.json", "tokenizer.model", "spiece.model", "vocab.txt", "vocab.json", "merges.txt",
    "added_tokens.json", "special_tokens_map.json",
)  # fmt: skip


def canonical_json(value: Any) -> bytes:
    """MIP-1 §7.2.1 canonical JSON."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def write_fingerprint_vectors(out: Path) -> None:
    """A model directory and the fingerprint hashes MIP-1 §7.2.1 gives for it."""
    model = out / "fingerprint"
    if model.exists():
        shutil.rmtree(model)
    model.mkdir()
    files = {
        name: json.dumps(value, indent=2).encode() + b"\n"
        for name, value in FINGERPRINT_FILES.items()
    }
    files["vocab.txt"] = FINGERPRINT_VOCAB
    for name, data in files.items():
        (model / name).write_bytes(data)
    config = {
        k: v
        for k, v in FINGERPRINT_FILES["config.json"].items()
        if k not in ("_name_or_path", "transformers_version")
    }
    tokenizer = hashlib.sha256()
    for name in TOKENIZER_FILES:
        if name in files:
            tokenizer.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    kept = {
        k: v
        for k, v in FINGERPRINT_FILES["tokenizer_config.json"].items()
        if k not in ("chat_template", "name_or_path", "tokenizer_file")
    }
    tokenizer.update(b"tokenizer_config.json\0" + hashlib.sha256(canonical_json(kept)).digest())
    template = FINGERPRINT_FILES["tokenizer_config.json"]["chat_template"]
    expected = {
        "canonical_config_json": canonical_json(config).decode(),
        "config_sha256": sha256(canonical_json(config)),
        "tokenizer_sha256": tokenizer.hexdigest(),
        "chat_template_sha256": sha256(canonical_json(template)),
    }
    (out / "fingerprint.json").write_text(json.dumps(expected, indent=2, ensure_ascii=False) + "\n")


def generate(out: Path) -> None:
    """Write every vector under ``out``."""
    test_key, other_key = private_key(TEST_KEY_SEED), private_key(OTHER_KEY_SEED)
    out.mkdir(parents=True, exist_ok=True)
    (out / "test-key.pem").write_bytes(
        test_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    for name, key in (("test-key.pub", test_key), ("other-key.pub", other_key)):
        (out / name).write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    keys = {
        "warning": "TEST ONLY: these seeds are public; never trust anything they sign.",
        "test-key": {
            "seed": 'sha256("memstore test key 1")',
            "seed_hex": TEST_KEY_SEED.hex(),
            "keyid": key_id(test_key),
        },
        "other-key": {
            "seed": 'sha256("memstore test key 2")',
            "seed_hex": OTHER_KEY_SEED.hex(),
            "keyid": key_id(other_key),
        },
    }
    (out / "keys.json").write_text(json.dumps(keys, indent=2) + "\n")
    write_fingerprint_vectors(out)
    (out / "small-order.json").write_text(
        json.dumps(small_order_vectors(test_key), indent=2) + "\n"
    )

    records = records_blob()
    document = manifest([plaintext_part(records)])
    manifest_bytes = encode_manifest(document)
    (out / "records.msgpack").write_bytes(records)
    (out / "manifest.json").write_bytes(manifest_bytes)
    (out / "manifest.digest").write_text(digest(manifest_bytes) + "\n")
    (out / "envelope.json").write_bytes(envelope_json(manifest_bytes, [test_key]))
    pae_vectors = [
        {
            "payloadType": "http://example.com/HelloWorld",
            "payload_utf8": "hello world",
            "pae_utf8": pae("http://example.com/HelloWorld", b"hello world").decode(),
        },
        {
            "payloadType": PAYLOAD_TYPE,
            "payload_file": "manifest.json",
            "pae_sha256": sha256(pae(PAYLOAD_TYPE, manifest_bytes)),
        },
    ]
    (out / "pae.json").write_text(json.dumps(pae_vectors, indent=2) + "\n")
    write_valid_bundle(out / "valid.memcube", document, [records], test_key)

    activation, adapter = activation_blob(), adapter_blob()
    (out / "activation.safetensors").write_bytes(activation)
    (out / "adapter_model.safetensors").write_bytes(adapter)
    (out / "adapter_config.json").write_text(
        json.dumps(ADAPTER_CONFIG, indent=2, sort_keys=True) + "\n"
    )
    all_kinds = manifest(
        [plaintext_part(records), activation_part(activation), parameter_part(adapter)]
    )
    write_valid_bundle(
        out / "valid-all-kinds.memcube", all_kinds, [records, activation, adapter], test_key
    )

    invalid = out / "invalid"
    if invalid.exists():
        shutil.rmtree(invalid)
    invalid.mkdir()
    for vector in invalid_vectors(test_key, other_key):
        (invalid / f"{vector.name}.memcube").write_bytes(vector.data)
        (invalid / f"{vector.name}.error").write_text(f"{vector.error}: {vector.message}\n")


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent)
