"""The log key and the log's life cycle: created on first start, kept across restarts, a server
with another key refuses to start, an existing registry's history is logged at upgrade, and an
append that fails takes its event down with it."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
from sqlalchemy import delete
from sqlmodel import Session, select

from mip.keys import SigningKey
from mip.transparency.note import NoteVerifier
from registry_server.db.log_models import LogEntryRecord, LogHash, LogHead
from registry_server.db.models import CubeVersion
from registry_server.db.session import create_db_engine
from registry_server.services.auth import commit_bootstrap_token
from tests.registry.conftest import base_env
from tests.registry.cube_helpers import error_code, manifest_bytes, publish_body
from tests.registry.log_helpers import audit_database, checkpoint, pinned_key
from tests.registry.test_server_cli_settings import _one_error_line, _run
from tests.support import free_port, start_registry_process


def _token(data_dir: Path, namespace: str) -> str:
    engine = create_db_engine(f"sqlite:///{data_dir / 'registry.db'}", 1)
    token = commit_bootstrap_token(engine, namespace, None, 1)
    engine.dispose()
    return token


def test_the_key_is_created_once_and_a_server_with_another_key_refuses(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    server = start_registry_process(base_env(), data_dir)
    try:
        key_file = data_dir / "log-key.pem"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        key = SigningKey.from_pem(key_file.read_bytes())
        with httpx.Client(base_url=server.url) as client:
            served = pinned_key(client)
            info = client.get("/v1/log").json()
        assert served.public_key.raw == key.public_key.raw
        assert served == NoteVerifier.for_key(f"memstore/log/{key.key_id[:16]}", key.public_key)
        assert info["public_key_pem"] == key.public_key.to_pem().decode()
    finally:
        server.stop()
    # A restart keeps the key: same log.
    server = start_registry_process(base_env(), data_dir)
    with httpx.Client(base_url=server.url) as client:
        assert pinned_key(client) == served
    server.stop()
    # Another key, or another origin, for the same database: refused before serving.
    other = tmp_path / "other-key.pem"
    other.write_bytes(SigningKey.generate().to_pem())
    other.chmod(0o600)
    port = str(free_port())
    refused = _run(
        "serve", "--port", port, "--data-dir", str(data_dir), MEMSTORE_LOG_KEY_FILE=str(other)
    )
    _one_error_line(refused, 1, "MEMSTORE_LOG_KEY_FILE", str(served.verifier_key()))
    renamed = _run(
        "serve", "--port", port, "--data-dir", str(data_dir), MEMSTORE_LOG_ORIGIN="example.com/log"
    )
    _one_error_line(renamed, 1, "MEMSTORE_LOG_ORIGIN")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key")
    broken = _run(
        "serve", "--port", port, "--data-dir", str(data_dir), MEMSTORE_LOG_KEY_FILE=str(garbage)
    )
    _one_error_line(broken, 2, "is not an Ed25519 private key", "restore the registry's log key")
    spaced = _run("serve", "--port", port, "--data-dir", str(data_dir), MEMSTORE_LOG_ORIGIN="a b")
    _one_error_line(spaced, 2, "MEMSTORE_LOG_ORIGIN: a log origin has no spaces")


def test_an_existing_registry_is_logged_at_upgrade(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    server = start_registry_process(base_env(), data_dir)
    token = _token(data_dir, "old")
    key = SigningKey.generate()
    with httpx.Client(base_url=server.url, headers={"authorization": f"Bearer {token}"}) as client:
        for version in ("1.0.0", "1.1.0", "2.0.0"):
            payload = manifest_bytes("old/cube", version, [])
            assert client.post("/v1/versions", json=publish_body(payload, key)).status_code == 201
        assert (
            client.post("/v1/cubes/old/cube/versions/1.1.0/yank", json={"reason": "x"}).status_code
            == 200
        )
    server.stop()
    # The registry as it was before it had a log: the same catalog, no log rows.
    engine = create_db_engine(f"sqlite:///{data_dir / 'registry.db'}", 1)
    with Session(engine) as session:
        for table in (LogEntryRecord, LogHash, LogHead):
            session.exec(delete(table))  # type: ignore[call-overload]
        session.commit()
    server = start_registry_process(base_env(), data_dir)
    try:
        with httpx.Client(base_url=server.url) as client:
            head = checkpoint(client, pinned_key(client))
            entries = client.get("/v1/log/entries").json()["entries"]
        events = [item["entry"].split("\n")[1] for item in entries]
        assert head.size == 5
        assert events == ["event key-register", *["event publish"] * 3, "event yank"]
        audit_database(engine)
    finally:
        server.stop()
        engine.dispose()


def test_an_append_that_fails_takes_its_event_with_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    server = start_registry_process(base_env(), data_dir)
    token = _token(data_dir, "broken")
    engine = create_db_engine(f"sqlite:///{data_dir / 'registry.db'}", 1)
    try:
        with httpx.Client(
            base_url=server.url, headers={"authorization": f"Bearer {token}"}
        ) as client:
            key = SigningKey.generate()
            payload = manifest_bytes("broken/cube", "1.0.0", [])
            assert client.post("/v1/versions", json=publish_body(payload, key)).status_code == 201
            with Session(engine) as session:  # the log's head row vanishes (damage, a bad restore)
                session.exec(delete(LogHead))  # type: ignore[call-overload]
                session.commit()
            answer = client.post(
                "/v1/versions", json=publish_body(manifest_bytes("broken/cube", "2.0.0", []), key)
            )
            assert (answer.status_code, error_code(answer)) == (503, "log_unavailable")
            yank = client.post("/v1/cubes/broken/cube/versions/1.0.0/yank", json={"reason": "x"})
            assert (yank.status_code, error_code(yank)) == (503, "log_unavailable")
        with Session(engine) as session:
            versions = session.exec(select(CubeVersion)).all()
            assert [(v.version, v.yanked) for v in versions] == [("1.0.0", False)]
    finally:
        server.stop()
        engine.dispose()
