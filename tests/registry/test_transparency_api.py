"""The transparency log over HTTP (spec §12), against real server processes in both
configurations (SQLite + directory, PostgreSQL + S3): what is logged, the proofs a client
verifies, tiles, and every refusal."""

from __future__ import annotations

import base64

import httpx
import pytest

from mip.keys import SigningKey
from mip.manifest import manifest_digest
from mip.transparency.client import verify_checkpoint, verify_logged
from mip.transparency.entries import decode_entry
from mip.transparency.merkle import leaf_hash, verify_inclusion
from mip.transparency.prover import inclusion_proof
from mip.transparency.tiles import Tile, TileHashReader, decode_entry_bundle
from tests.registry.conftest import Registry
from tests.registry.cube_helpers import error_code, manifest_bytes, publish_body, unique
from tests.registry.log_helpers import audit_database, b64, check_extends, checkpoint, pinned_key


def _namespace_events(client: httpx.Client, namespace: str, start: int) -> list[str]:
    events = []
    while True:
        page = client.get("/v1/log/entries", params={"start": start, "limit": 1000}).json()
        for item in page["entries"]:
            entry = decode_entry(item["entry"].encode())
            assert base64.b64decode(item["leaf_hash"]) == leaf_hash(item["entry"].encode())
            if entry.namespace == namespace:
                events.append(f"{entry.event} {entry.name or ''} {entry.version or ''}".strip())
        if not page["entries"]:
            return events
        start = page["entries"][-1]["index"] + 1


def test_every_event_is_logged_once_and_proven(registry: Registry) -> None:
    namespace = unique("log")
    token = registry.create_token(namespace)
    key, second = SigningKey.generate(), SigningKey.generate()
    name = f"{namespace}/Notes_Cube"
    with registry.client(token) as client:
        log_key = pinned_key(client)
        before = checkpoint(client, log_key)
        first = manifest_bytes(name, "1.0.0", [])
        assert client.post("/v1/versions", json=publish_body(first, key)).status_code == 201
        # An identical re-publish changes nothing, so logs nothing.
        assert client.post("/v1/versions", json=publish_body(first, key)).status_code == 200
        added = client.post(
            f"/v1/namespaces/{namespace}/keys",
            json={"public_key_pem": second.public_key.to_pem().decode()},
        )
        assert added.status_code == 201
        # Registering the same key again is a no-op.
        again = client.post(
            f"/v1/namespaces/{namespace}/keys",
            json={"public_key_pem": second.public_key.to_pem().decode()},
        )
        assert again.status_code == 200
        later = manifest_bytes(name, "1.1.0+build.7", [])
        assert client.post("/v1/versions", json=publish_body(later, second)).status_code == 201
        version_path = f"/v1/cubes/{name}/versions/1.0.0"
        assert client.post(version_path + "/yank", json={"reason": "wrong"}).status_code == 200
        assert client.post(version_path + "/yank", json={"reason": "still"}).status_code == 200
        assert client.post(version_path + "/unyank").status_code == 200
        after = checkpoint(client, log_key)

        normal = name.lower().replace("_", "-")
        assert _namespace_events(client, namespace, before.size) == [
            "key-register",
            f"publish {normal} 1.0.0",
            "key-register",
            f"publish {normal} 1.1.0+build.7",
            f"yank {normal} 1.0.0",
            f"unyank {normal} 1.0.0",
        ]
        check_extends(client, log_key, before, after)

        # Each version's entries are proven by the endpoint a client uses, by the spelling it
        # knows (build metadata ignored, as for the version document).
        for version, event, payload in [
            ("1.0.0", "publish", first),
            ("1.0.0", "yank", first),
            ("1.0.0", "unyank", first),
            ("1.1.0", "publish", later),
        ]:
            answer = client.get(
                f"/v1/log/cubes/{name}/versions/{version}/inclusion", params={"event": event}
            )
            assert answer.status_code == 200, answer.text
            body = answer.json()
            head = verify_checkpoint(body["checkpoint"].encode(), log_key)
            assert head.size == body["tree_size"] >= after.size
            logged = verify_logged(
                body["entry"].encode(),
                body["index"],
                b64(body["proof"]),
                head,
                event,  # type: ignore[arg-type]
                name,
                "1.1.0+build.7" if version == "1.1.0" else version,
                manifest_digest(payload),
            )
            assert logged.key_ids == ((second if payload is later else key).key_id,)
            # The same entry proven against the older tree the client saw.
            older = client.get(
                f"/v1/log/entries/{body['index']}/inclusion",
                params={"tree_size": after.size},
            ).json()
            assert older["entry"] == body["entry"]
            verify_inclusion(
                body["index"], after.size, leaf_hash(body["entry"].encode()),
                b64(older["proof"]), after.root_hash,
            )  # fmt: skip


def test_log_refusals(registry: Registry) -> None:
    with registry.client() as client:
        size = checkpoint(client, pinned_key(client)).size
        cases = [
            (f"/v1/log/entries/{size}/inclusion", {}, 400, "invalid_tree_size"),
            ("/v1/log/entries/0/inclusion", {"tree_size": size + 1}, 400, "invalid_tree_size"),
            ("/v1/log/entries/-1/inclusion", {}, 400, "invalid_request"),
            ("/v1/log/consistency", {"first": size + 1}, 400, "invalid_tree_size"),
            ("/v1/log/consistency", {"first": 1, "second": size + 1}, 400, "invalid_tree_size"),
            ("/v1/log/consistency", {}, 400, "invalid_request"),
            ("/v1/log/entries", {"limit": 1001}, 400, "invalid_request"),
            ("/v1/log/entries", {"start": 2**63}, 400, "invalid_request"),
            ("/v1/log/entries/0/inclusion", {"tree_size": 10**30}, 400, "invalid_request"),
            ("/v1/log/entries/9223372036854775807/inclusion", {}, 400, "invalid_tree_size"),
            ("/v1/log/tile/0/x999/x999/x999/x999/x999/x999/999", {}, 404, "tile_not_found"),
            ("/v1/log/cubes/nobody/nothing/versions/1.0.0/inclusion", {}, 404, "cube_not_found"),
            ("/v1/log/tile/0/0", {}, 400, "invalid_tile_path"),
            ("/v1/log/tile/0/x000/001", {}, 400, "invalid_tile_path"),
            ("/v1/log/tile/0/000.p/256", {}, 400, "invalid_tile_path"),
            ("/v1/log/tile/9/000", {}, 404, "tile_not_found"),
            ("/v1/log/tile/0/999.p/1", {}, 404, "tile_not_found"),
            ("/v1/log/tile/entries/x999/000", {}, 404, "tile_not_found"),
        ]
        for path, params, status, code in cases:
            answer = client.get(path, params=params)
            assert (answer.status_code, error_code(answer)) == (status, code), (path, answer.text)
    namespace = unique("nolog")
    token = registry.create_token(namespace)
    with registry.client(token) as client:
        payload = manifest_bytes(f"{namespace}/cube", "1.0.0", [])
        assert (
            client.post(
                "/v1/versions", json=publish_body(payload, SigningKey.generate())
            ).status_code
            == 201
        )
        base = f"/v1/log/cubes/{namespace}/cube/versions/1.0.0/inclusion"
        assert error_code(client.get(base, params={"event": "yank"})) == "log_entry_not_found"
        assert error_code(client.get(base, params={"event": "delete"})) == "invalid_request"
        assert error_code(client.get(base.replace("1.0.0", "2.0.0"))) == "version_not_found"


def _grow_to(registry: Registry, size: int) -> None:
    """Add keys until the log has ``size`` entries (key registrations are the cheapest events)."""
    namespace = unique("tiles")
    token = registry.create_token(namespace)
    with registry.client(token) as client:
        current = client.get("/v1/log").json()["tree_size"]
        for _ in range(max(0, size - current)):
            pem = SigningKey.generate().public_key.to_pem().decode()
            answer = client.post(f"/v1/namespaces/{namespace}/keys", json={"public_key_pem": pem})
            assert answer.status_code == 201, answer.text


@pytest.mark.slow
def test_tiles_are_immutable_and_prove_the_log(registry: Registry) -> None:
    _grow_to(registry, 260)
    with registry.client() as client, httpx.Client(timeout=30) as outside:
        log_key = pinned_key(client)
        head = checkpoint(client, log_key)

        def fetch(tile: Tile) -> bytes:
            answer = client.get(f"/v1/log/{tile.path()}")
            if answer.status_code == 302:  # S3: the tile was copied to the bucket
                assert "authorization" not in answer.request.headers
                answer = outside.get(answer.headers["location"])
            else:
                assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
            assert answer.status_code == 200, answer.text
            return answer.content

        full = Tile(8, 0, 0, 256)
        first = fetch(full)  # computed from the database, then copied into the storage
        assert len(first) == 256 * 32
        if registry.kind == "sqlite-local":
            assert (registry.data_dir / "blobs/log/tile/0/000").read_bytes() == first
        else:
            assert client.get(f"/v1/log/{full.path()}").status_code == 302
        assert fetch(full) == first
        partial_width = head.size - 256 if head.size < 512 else 256
        reader = TileHashReader(head.size, head.root_hash, lambda tiles: [fetch(t) for t in tiles])
        for index in (0, 200, head.size - 1):
            proof = inclusion_proof(head.size, index, reader)
            entry = client.get(
                f"/v1/log/entries/{index}/inclusion", params={"tree_size": head.size}
            ).json()
            assert b64(entry["proof"]) == proof
            verify_inclusion(
                index, head.size, leaf_hash(entry["entry"].encode()), proof, head.root_hash
            )
        bundle = decode_entry_bundle(fetch(Tile(8, -1, 0, 256)))
        assert [leaf_hash(e) for e in bundle] == [
            first[i : i + 32] for i in range(0, len(first), 32)
        ]
        if partial_width < 256:
            partial = fetch(Tile(8, 0, 1, partial_width))
            assert len(partial) == partial_width * 32
    with registry.database() as engine:
        audit_database(engine)
