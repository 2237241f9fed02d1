"""Key sets on both storage backends (SQLite + local, PostgreSQL + S3): endorsement, revocation.

MIP-1 §6.4 and MIP-1-registry §2: an endorsed key is served with its endorsement, a revoked key
with its time and reason; a revoked key signs nothing any more.
"""

from __future__ import annotations

from mip.key_statements import check_endorsement, sign_endorsement
from mip.keys import SigningKey
from tests.registry.conftest import Registry
from tests.registry.cube_helpers import (
    error_code,
    manifest_bytes,
    publish_body,
    unique,
    upload,
)


def _record_blob() -> bytes:
    """One valid plaintext record (MIP-1 §7.1): the registry checks payloads at publish."""
    import msgpack

    stamp = "2026-01-01T00:00:00Z"
    record = {"id": "m1", "text": "a fact", "tags": [], "metadata": {}}
    return msgpack.packb(
        {**record, "created": stamp, "updated": stamp, "version": 1}, use_bin_type=True
    )


def test_endorse_serve_revoke_and_refuse_the_revoked_key(registry: Registry) -> None:
    namespace = unique("keys")
    with registry.client(registry.create_token(namespace)) as client:
        first, second = SigningKey.generate(), SigningKey.generate()
        blob = _record_blob()
        upload(client, blob)
        payload = manifest_bytes(f"{namespace}/c", "1.0.0", [blob])
        assert client.post("/v1/versions", json=publish_body(payload, first)).status_code == 201
        endorsement = sign_endorsement(
            namespace, second.public_key, [first], "2026-12-07T00:00:00Z"
        )
        added = client.post(
            f"/v1/namespaces/{namespace}/keys",
            json={
                "public_key_pem": second.public_key.to_pem().decode(),
                "endorsement": endorsement.to_json().decode(),
            },
        )
        assert added.status_code == 201, added.text
        served = client.get(f"/v1/namespaces/{namespace}/keys").json()["keys"]
        assert [k["key_id"] for k in served] == [first.public_key.key_id, second.public_key.key_id]
        assert served[0]["endorsement"] is None
        endorsers = {first.public_key.key_id: first.public_key}
        check_endorsement(
            served[1]["endorsement"].encode(), namespace, second.public_key, endorsers
        )
        revoked = client.post(
            f"/v1/namespaces/{namespace}/keys/{first.public_key.key_id}/revoke",
            json={"reason": "laptop stolen"},
        )
        assert revoked.status_code == 200, revoked.text
        assert revoked.json()["revocation_reason"] == "laptop stolen"
        served = client.get(f"/v1/namespaces/{namespace}/keys").json()["keys"]
        assert served[0]["revoked_at"] is not None
        assert served[1]["revoked_at"] is None
        # The revoked key publishes nothing any more; the endorsed one does.
        later = manifest_bytes(f"{namespace}/c", "1.1.0", [blob])
        refused = client.post("/v1/versions", json=publish_body(later, first, send_key=False))
        assert refused.status_code == 403
        assert error_code(refused) == "unregistered_key"
        assert "was revoked" in refused.json()["error"]["message"]
        accepted = client.post("/v1/versions", json=publish_body(later, second, send_key=False))
        assert accepted.status_code == 201, accepted.text
        audit = client.get(f"/v1/namespaces/{namespace}/audit").json()
        actions = [event["action"] for event in audit["events"]]
        assert {"key.add", "key.endorse", "key.revoke"} <= set(actions)
