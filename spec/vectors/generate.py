"""Generate the MIP v1 golden test vectors (spec/vectors/, see README.md there).

Run from the repository root::

    python3 spec/vectors/generate.py            # rewrites spec/vectors/ in place
    python3 spec/vectors/generate.py OUT_DIR     # writes a fresh copy elsewhere

Everything is deterministic: the keys come from published seeds, Ed25519 signatures are
deterministic, timestamps are fixed and ZIP entries carry the 1980-01-01 date. The test suite
regenerates into a temporary directory and compares every byte with the committed files.

The valid bundles are written by the reference writer (``mip.container.BundleWriter``). The
invalid ones (``invalid_bundles.py``) are assembled by the small ZIP writer ``raw_zip.py``, which
writes local headers, the central directory and its end record byte by byte, because ``zipfile``
refuses to write most of them (duplicate names, links, overlapping entries). Each
``invalid/NAME.memcube`` comes with ``invalid/NAME.error``: one line ``CODE: message``, the MIP
error code (MIP-1 §10) and the message a reader MUST raise for it. What the vectors are made of
(keys, envelopes, payloads, manifests) is ``vector_documents.py``; all three sit beside this script.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import vector_documents as documents  # noqa: E402  (beside this script)
from invalid_bundles import invalid_vectors  # noqa: E402  (beside this script)

from mip.container import BundleWriter  # noqa: E402  (needs the repository on sys.path)


def write_valid_bundle(
    path: Path, document: dict[str, Any], blobs: list[bytes], key: Ed25519PrivateKey
) -> None:
    """A valid bundle as the reference writer lays it out."""
    with tempfile.TemporaryDirectory() as scratch, BundleWriter(path) as writer:
        for index, blob in enumerate(blobs):
            blob_path = Path(scratch) / str(index)
            blob_path.write_bytes(blob)
            writer.add_blob_file(blob_path)
        manifest_bytes = documents.encode_manifest(document)
        writer.finish(manifest_bytes, documents.envelope_json(manifest_bytes, [key]))


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
        "config_sha256": documents.sha256(canonical_json(config)),
        "tokenizer_sha256": tokenizer.hexdigest(),
        "chat_template_sha256": documents.sha256(canonical_json(template)),
    }
    (out / "fingerprint.json").write_text(json.dumps(expected, indent=2, ensure_ascii=False) + "\n")


def generate(out: Path) -> None:
    """Write every vector under ``out``."""
    test_key, other_key = (
        documents.private_key(documents.TEST_KEY_SEED),
        documents.private_key(documents.OTHER_KEY_SEED),
    )
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
            "seed_hex": documents.TEST_KEY_SEED.hex(),
            "keyid": documents.key_id(test_key),
        },
        "other-key": {
            "seed": 'sha256("memstore test key 2")',
            "seed_hex": documents.OTHER_KEY_SEED.hex(),
            "keyid": documents.key_id(other_key),
        },
    }
    (out / "keys.json").write_text(json.dumps(keys, indent=2) + "\n")
    write_fingerprint_vectors(out)
    (out / "small-order.json").write_text(
        json.dumps(small_order_vectors(test_key), indent=2) + "\n"
    )

    records = documents.records_blob()
    document = documents.manifest([documents.plaintext_part(records)])
    manifest_bytes = documents.encode_manifest(document)
    (out / "records.msgpack").write_bytes(records)
    (out / "manifest.json").write_bytes(manifest_bytes)
    (out / "manifest.digest").write_text(documents.digest(manifest_bytes) + "\n")
    (out / "envelope.json").write_bytes(documents.envelope_json(manifest_bytes, [test_key]))
    pae_vectors = [
        {
            "payloadType": "http://example.com/HelloWorld",
            "payload_utf8": "hello world",
            "pae_utf8": documents.pae("http://example.com/HelloWorld", b"hello world").decode(),
        },
        {
            "payloadType": documents.PAYLOAD_TYPE,
            "payload_file": "manifest.json",
            "pae_sha256": documents.sha256(documents.pae(documents.PAYLOAD_TYPE, manifest_bytes)),
        },
    ]
    (out / "pae.json").write_text(json.dumps(pae_vectors, indent=2) + "\n")
    write_valid_bundle(out / "valid.memcube", document, [records], test_key)

    activation, adapter = documents.activation_blob(), documents.adapter_blob()
    (out / "activation.safetensors").write_bytes(activation)
    (out / "adapter_model.safetensors").write_bytes(adapter)
    (out / "adapter_config.json").write_text(
        json.dumps(documents.ADAPTER_CONFIG, indent=2, sort_keys=True) + "\n"
    )
    all_kinds = documents.manifest(
        [
            documents.plaintext_part(records),
            documents.activation_part(activation),
            documents.parameter_part(adapter),
        ]
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
