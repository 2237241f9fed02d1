"""Helpers for transparency log tests: verify what a registry serves, and audit its database."""

from __future__ import annotations

import base64
from typing import Any

import httpx
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from mip.transparency.checkpoint import Checkpoint
from mip.transparency.client import verify_checkpoint, verify_extends
from mip.transparency.entries import decode_entry
from mip.transparency.merkle import root_of
from mip.transparency.note import NoteVerifier, parse_verifier_key
from mip.transparency.prover import stored_hash_count
from registry_server.db.log_models import LogEntryRecord, LogHash, LogHead
from registry_server.db.models import Cube, CubeVersion


def b64(values: list[str]) -> list[bytes]:
    return [base64.b64decode(value) for value in values]


def pinned_key(client: httpx.Client) -> NoteVerifier:
    """The log's verifier key, as a client pins it on first use."""
    answer = client.get("/v1/log")
    assert answer.status_code == 200, answer.text
    return parse_verifier_key(answer.json()["verifier_key"])


def checkpoint(client: httpx.Client, key: NoteVerifier) -> Checkpoint:
    """The current checkpoint, verified."""
    answer = client.get("/v1/log/checkpoint")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "text/plain; charset=utf-8"
    return verify_checkpoint(answer.content, key)


def check_extends(
    client: httpx.Client, key: NoteVerifier, old: Checkpoint, new: Checkpoint
) -> None:
    """Fetch the consistency proof from ``old`` to ``new`` and check it."""
    answer = client.get("/v1/log/consistency", params={"first": old.size, "second": new.size})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert verify_checkpoint(body["checkpoint"].encode(), key) == new
    verify_extends(old, new, b64(body["proof"]))


def error_code(answer: httpx.Response) -> str:
    code: str = answer.json()["error"]["code"]
    return code


def audit_database(engine: Engine) -> list[bytes]:
    """Check the log tables against the catalog: contiguous entries whose root is the head's,
    every stored hash present, exactly one publish entry per version with its digest."""
    with Session(engine) as session:
        head = session.exec(select(LogHead)).one()
        entries = [
            row.entry
            for row in session.exec(select(LogEntryRecord).order_by(col(LogEntryRecord.idx)))
        ]
        indexes = list(session.exec(select(LogEntryRecord.idx).order_by(col(LogEntryRecord.idx))))
        hashes = len(list(session.exec(select(LogHash.idx))))
        assert indexes == list(range(head.size)), "the log has a gap or an entry past its head"
        assert hashes == stored_hash_count(head.size)
        assert root_of(entries) == head.root_hash, "the stored root is not the entries' root"
        publishes: dict[tuple[str | None, str | None], list[Any]] = {}
        for data in entries:
            entry = decode_entry(data)
            if entry.event == "publish":
                publishes.setdefault((entry.name, entry.version), []).append(entry)
        versions = session.exec(select(CubeVersion, Cube).where(CubeVersion.cube_id == Cube.id))
        for row, cube in versions:
            logged = publishes.get((cube.normalized_name, row.version), [])
            assert len(logged) == 1, f"{cube.name} {row.version} has {len(logged)} publish entries"
            assert logged[0].manifest_digest == row.manifest_digest
        assert sum(len(found) for found in publishes.values()) == len(
            list(session.exec(select(CubeVersion.id)))
        ), "a publish entry without its version"
    return entries
