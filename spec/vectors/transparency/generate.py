"""Generate spec/vectors/transparency/memstore.json (see README.md beside it).

    python3 spec/vectors/transparency/generate.py            # rewrite in place
    python3 spec/vectors/transparency/generate.py OUT_DIR     # write a fresh copy elsewhere

Deterministic: the log and witness keys come from published seeds, Ed25519 is deterministic,
times are fixed. ``tests/mip/test_transparency_vectors.py`` regenerates and compares bytes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from mip.keys import SigningKey  # noqa: E402  (needs the repository on sys.path)
from mip.transparency.checkpoint import Checkpoint, sign_checkpoint  # noqa: E402
from mip.transparency.cosignature import cosign  # noqa: E402
from mip.transparency.entries import encode_entry, key_event, version_event  # noqa: E402
from mip.transparency.merkle import leaf_hash  # noqa: E402
from mip.transparency.note import NoteVerifier, parse_note  # noqa: E402
from mip.transparency.proof_bundle import make_proof_bundle  # noqa: E402
from mip.transparency.prover import (  # noqa: E402
    consistency_proof,
    hashes_to_store,
    inclusion_proof,
    tree_hash,
)
from mip.transparency.tiles import TILE_HEIGHT, Tile, encode_entry_bundle, tile_data  # noqa: E402

#: TEST ONLY: public seeds, anything they sign proves nothing.
LOG_SEED = hashlib.sha256(b"memstore test log key").digest()
WITNESS_SEED = hashlib.sha256(b"memstore test witness key").digest()
ORIGIN = "registry.example/v1/log"
WITNESS = "witness.example/w1"
SIGNER = hashlib.sha256(b"memstore test key 1").digest()
TIME = datetime(2026, 1, 1, tzinfo=UTC)


class Hashes(list[bytes]):
    """An in-memory hash store (the registry keeps the same layout in its database)."""

    def read_hashes(self, indexes: list[int]) -> list[bytes]:
        return [self[index] for index in indexes]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def build() -> dict[str, object]:
    signer = SigningKey.from_seed(SIGNER).key_id
    other = hashlib.sha256(b"memstore test key 2").hexdigest()
    digest = "sha256:" + hashlib.sha256(b"manifest").hexdigest()
    events = [
        key_event("key-register", "alice", [signer], TIME),
        version_event("publish", "alice/cooking", "1.0.0", digest, [signer], TIME),
        version_event("yank", "alice/cooking", "1.0.0", digest, [signer], TIME),
        version_event("unyank", "alice/cooking", "1.0.0", digest, [signer], TIME),
        key_event("key-rotate", "alice", [other], TIME, statement_digest=digest),
        key_event("key-revoke", "alice", [signer], TIME),
        version_event(
            "publish", "Alice/French_Cooking", "2.0.0-rc.1+build.5", digest, [other, signer], TIME
        ),
    ]
    entries = [encode_entry(event) for event in events]
    store = Hashes()
    roots = []
    for index, entry in enumerate(entries):
        store.extend(hashes_to_store(index, leaf_hash(entry), store))
        roots.append(tree_hash(index + 1, store))
    size = len(entries)
    log_key = SigningKey.from_seed(LOG_SEED)
    verifier = NoteVerifier.for_key(ORIGIN, log_key.public_key)
    head = Checkpoint(ORIGIN, size, roots[-1])
    note = sign_checkpoint(head, log_key)
    witness_key = SigningKey.from_seed(WITNESS_SEED)
    cosigned = sign_checkpoint(
        head, log_key, [cosign(head.body(), WITNESS, witness_key, 1767225600)]
    )
    # Cosignatures come first in what sign_checkpoint writes; a log appends its own last.
    assert len(parse_note(cosigned).signatures) == 2
    bundle = make_proof_bundle(3, inclusion_proof(size, 3, store), note, entries[3])
    level0 = Tile(TILE_HEIGHT, 0, 0, size)
    return {
        "warning": "TEST ONLY: the log and witness seeds are public",
        "log": {
            "origin": ORIGIN,
            "seed_hex": LOG_SEED.hex(),
            "verifier_key": verifier.verifier_key(),
        },
        "witness": {
            "name": WITNESS,
            "seed_hex": WITNESS_SEED.hex(),
            "public_key_b64": b64(witness_key.public_key.raw),
        },
        "entries": [
            {"text": entry.decode(), "leaf_hash_b64": b64(leaf_hash(entry))} for entry in entries
        ],
        "roots_b64": [b64(root) for root in roots],
        "inclusion": [
            {
                "index": index,
                "tree_size": size,
                "proof_b64": [b64(h) for h in inclusion_proof(size, index, store)],
            }
            for index in range(size)
        ],
        "consistency": [
            {
                "old_size": old,
                "new_size": size,
                "proof_b64": [b64(h) for h in consistency_proof(size, old, store)],
            }
            for old in range(1, size + 1)
        ],
        "checkpoint": note.decode(),
        "checkpoint_cosigned": cosigned.decode(),
        "tlog_proof": bundle.encode().decode(),
        "tiles": {
            level0.path(): b64(tile_data(level0, store)),
            Tile(TILE_HEIGHT, -1, 0, size).path(): b64(encode_entry_bundle(entries)),
        },
    }


def main(argv: list[str]) -> int:
    target = Path(argv[0]) if argv else Path(__file__).resolve().parent
    target.mkdir(parents=True, exist_ok=True)
    text = json.dumps(build(), indent=2, ensure_ascii=False) + "\n"
    (target / "memstore.json").write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
