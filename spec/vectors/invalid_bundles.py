"""The invalid bundles of ``spec/vectors/invalid/``: every rejection MIP-1 requires, one
bundle each, with the MIP error code and the exact message a reader MUST raise for it.
"""

import base64
import json
import stat
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgpack
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from raw_zip import (
    ZipEntry,
    local_header_size,
    zip_bytes,
)
from vector_documents import (
    MAX_MANIFEST_BYTES,
    MAX_SAFETENSORS_HEADER_BYTES,
    SOURCES,
    TOKEN_IDS,
    activation_blob,
    activation_metadata,
    activation_part,
    adapter_blob,
    digest,
    encode_manifest,
    envelope_json,
    key_id,
    kv_tensors,
    manifest,
    parameter_part,
    plaintext_part,
    records_blob,
    safetensors_bytes,
    sha256,
)


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
