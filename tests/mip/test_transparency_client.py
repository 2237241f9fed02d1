"""The client's checks (MIP-1-registry §12.6): each way a registry can lie has its own code, and
the committed vectors (spec/vectors/transparency/memstore.json) are reproduced byte for byte."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mip.errors import (
    InvalidProofError,
    LogEntryMismatchError,
    LogForkError,
    LogKeyChangedError,
    LogRootMismatchError,
    LogSignatureError,
    ProofLengthError,
    TransparencyError,
    TreeShrankError,
)
from mip.keys import SigningKey
from mip.transparency.checkpoint import Checkpoint, sign_checkpoint
from mip.transparency.client import (
    verify_checkpoint,
    verify_extends,
    verify_logged,
    verify_proof_bundle,
)
from mip.transparency.cosignature import Witness
from mip.transparency.entries import decode_entry
from mip.transparency.merkle import EMPTY_ROOT, leaf_hash, node_hash
from mip.transparency.note import NoteVerifier, parse_verifier_key
from mip.transparency.proof_bundle import parse_proof_bundle
from mip.transparency.tiles import decode_entry_bundle, parse_tile_path

VECTORS = Path(__file__).resolve().parents[2] / "spec/vectors/transparency"
DOC: dict[str, Any] = json.loads((VECTORS / "memstore.json").read_text())
LOG_KEY = SigningKey.from_seed(bytes.fromhex(DOC["log"]["seed_hex"]))
LOG = parse_verifier_key(DOC["log"]["verifier_key"])
ENTRIES = [item["text"].encode() for item in DOC["entries"]]
ROOTS = [base64.b64decode(root) for root in DOC["roots_b64"]]
SIZE = len(ENTRIES)


def proof_of(kind: str, **where: int) -> list[bytes]:
    for item in DOC[kind]:
        if all(item[key] == value for key, value in where.items()):
            return [base64.b64decode(h) for h in item["proof_b64"]]
    raise KeyError(where)


def head(size: int) -> Checkpoint:
    return Checkpoint(DOC["log"]["origin"], size, ROOTS[size - 1] if size else EMPTY_ROOT)


def test_generator_reproduces_the_committed_vectors(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(VECTORS / "generate.py"), str(tmp_path)], check=True)
    assert (tmp_path / "memstore.json").read_bytes() == (VECTORS / "memstore.json").read_bytes()


def test_vectors_hang_together() -> None:
    assert LOG.verifier_key() == DOC["log"]["verifier_key"]
    assert NoteVerifier.for_key(DOC["log"]["origin"], LOG_KEY.public_key) == LOG
    checkpoint = verify_checkpoint(DOC["checkpoint"].encode(), LOG)
    assert checkpoint == head(SIZE)
    witness = Witness(
        DOC["witness"]["name"],
        SigningKey.from_seed(bytes.fromhex(DOC["witness"]["seed_hex"])).public_key,
    )
    assert verify_checkpoint(DOC["checkpoint_cosigned"].encode(), LOG, [witness], 1) == checkpoint
    for index, item in enumerate(DOC["entries"]):
        assert base64.b64decode(item["leaf_hash_b64"]) == leaf_hash(ENTRIES[index])
        entry = decode_entry(ENTRIES[index])
        proof = proof_of("inclusion", index=index)
        if entry.name is not None:
            assert entry.version is not None
            assert entry.manifest_digest is not None
            verify_logged(ENTRIES[index], index, proof, checkpoint, entry.event, entry.name,
                          entry.version, entry.manifest_digest)  # fmt: skip
    for old in range(1, SIZE + 1):
        verify_extends(head(old), checkpoint, proof_of("consistency", old_size=old))
    tiles = {parse_tile_path(path): base64.b64decode(data) for path, data in DOC["tiles"].items()}
    level0 = next(t for t in tiles if t.level == 0)
    assert tiles[level0] == b"".join(leaf_hash(e) for e in ENTRIES)
    bundle = next(data for t, data in tiles.items() if t.level == -1)
    assert decode_entry_bundle(bundle) == ENTRIES
    bundle_cp, entry, _ = verify_proof_bundle(
        DOC["tlog_proof"].encode(), LOG, "unyank", "alice/cooking", "1.0.0",
        decode_entry(ENTRIES[3]).manifest_digest or "",
    )  # fmt: skip
    assert bundle_cp == checkpoint
    assert entry == decode_entry(ENTRIES[3])


def test_each_lie_has_its_own_code() -> None:
    note = DOC["checkpoint"].encode()
    codes: dict[str, type[TransparencyError]] = {}

    def refused(error: type[TransparencyError], check: Any) -> None:
        with pytest.raises(error) as caught:
            check()
        codes[caught.value.code] = error

    # Bad signature: the body changed under the log's signature.
    refused(LogSignatureError, lambda: verify_checkpoint(note.replace(b"\n7\n", b"\n8\n"), LOG))
    # Key changed: a checkpoint signed by another key for the same origin.
    other = SigningKey.from_seed(b"\x05" * 32)
    refused(LogKeyChangedError, lambda: verify_checkpoint(sign_checkpoint(head(SIZE), other), LOG))
    # Tree shrank.
    refused(TreeShrankError, lambda: verify_extends(head(SIZE), head(3), []))
    # Wrong proof length.
    proof = proof_of("consistency", old_size=3)
    refused(ProofLengthError, lambda: verify_extends(head(3), head(SIZE), proof[:-1]))
    # A fork: same size, another root; or a proof that does not join the two heads.
    forked = Checkpoint(head(SIZE).origin, SIZE, node_hash(ROOTS[-1], ROOTS[-1]))
    refused(LogForkError, lambda: verify_extends(head(SIZE), forked, []))
    refused(LogForkError, lambda: verify_extends(head(3), forked, proof))
    # Root mismatch: an inclusion proof into another tree.
    inclusion = proof_of("inclusion", index=1)
    refused(LogRootMismatchError, lambda: verify_logged(ENTRIES[1], 1, inclusion, forked, "publish",
            "alice/cooking", "1.0.0", decode_entry(ENTRIES[1]).manifest_digest or ""))  # fmt: skip
    # The proof is for another entry than the version installed.
    refused(LogEntryMismatchError, lambda: verify_logged(ENTRIES[1], 1, inclusion, head(SIZE),
            "publish", "alice/cooking", "1.0.1", decode_entry(ENTRIES[1]).manifest_digest or ""))  # fmt: skip
    assert set(codes) == {
        "log_bad_signature", "log_key_changed", "log_tree_shrank", "log_proof_length",
        "log_fork", "log_root_mismatch", "log_entry_mismatch",
    }  # fmt: skip


def test_first_use_and_the_empty_log() -> None:
    verify_extends(None, head(SIZE), [])
    verify_extends(head(0), head(SIZE), [])
    with pytest.raises(InvalidProofError):
        verify_extends(head(0), head(SIZE), [ROOTS[0]])
    bogus_empty = Checkpoint(head(0).origin, 0, ROOTS[0])
    with pytest.raises(LogForkError):
        verify_extends(bogus_empty, head(SIZE), [])
    with pytest.raises(LogKeyChangedError):
        verify_extends(Checkpoint("elsewhere", 1, ROOTS[0]), head(SIZE), [])


def test_tlog_proof_round_trip_and_refusals() -> None:
    data = DOC["tlog_proof"].encode()
    bundle = parse_proof_bundle(data)
    assert bundle.encode() == data
    assert bundle.index == 3
    assert bundle.extra == ENTRIES[3]
    digest = decode_entry(ENTRIES[3]).manifest_digest or ""
    for bad in [data.replace(b"tlog-proof@v1", b"tlog-proof@v2"), data.replace(b"index 3", b"index 03"),
                data.replace(b"\n\n", b"\n", 1), b"c2sp.org/tlog-proof@v1\nindex 3\nnot-base64\n\n" + DOC["checkpoint"].encode()]:  # fmt: skip
        with pytest.raises(InvalidProofError):
            verify_proof_bundle(bad, LOG, "unyank", "alice/cooking", "1.0.0", digest)
    no_entry = data.split(b"\n", 2)
    stripped = no_entry[0] + b"\n" + no_entry[2]
    with pytest.raises(InvalidProofError, match="carries no entry"):
        verify_proof_bundle(stripped, LOG, "unyank", "alice/cooking", "1.0.0", digest)
    # The extra bytes are authenticated by the proof: another entry there fails.
    swapped = data.replace(
        b"extra " + base64.b64encode(ENTRIES[3]), b"extra " + base64.b64encode(ENTRIES[2])
    )
    with pytest.raises(LogRootMismatchError):
        verify_proof_bundle(swapped, LOG, "yank", "alice/cooking", "1.0.0", digest)
