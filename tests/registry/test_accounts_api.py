"""Tokens, scopes, keys, audit, search and operations endpoints, both configurations."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from mip.keys import SigningKey
from registry_server.db.models import ApiToken, utcnow
from registry_server.services.auth import hash_token
from tests.registry.conftest import Registry
from tests.registry.cube_helpers import error_code, manifest_bytes, publish_body, unique, upload


def _expire(registry: Registry, token: str) -> None:
    engine = registry.engine()
    try:
        with engine.begin() as connection:
            connection.execute(
                update(ApiToken)
                .where(ApiToken.token_hash == hash_token(token))  # type: ignore[arg-type]
                .values(expires_at=utcnow() - timedelta(seconds=1))
            )
    finally:
        engine.dispose()


def test_token_errors(registry: Registry) -> None:
    namespace, elsewhere = unique("tok"), unique("tok")
    token = registry.create_token(namespace)
    other_token = registry.create_token(elsewhere)
    key = SigningKey.generate()
    payload = manifest_bytes(f"{namespace}/c", "1.0.0", [])
    with registry.client() as anonymous:
        response = anonymous.post("/v1/versions", json=publish_body(payload, key))
        assert response.status_code == 401
        assert error_code(response) == "unauthorized"
    with registry.client("mst_" + "x" * 43) as unknown:
        assert error_code(unknown.post("/v1/versions", json=publish_body(payload, key))) == (
            "unauthorized"
        )
    with registry.client("Basic abc") as malformed:
        assert malformed.get("/v1/whoami").status_code == 401
    # A token of another namespace.
    with registry.client(other_token) as other:
        response = other.post("/v1/versions", json=publish_body(payload, key))
        assert response.status_code == 403
        assert error_code(response) == "forbidden"
    # A namespace that does not exist.
    with registry.client(token) as client:
        ghost = manifest_bytes(f"{unique('ghost')}/c", "1.0.0", [])
        assert error_code(client.post("/v1/versions", json=publish_body(ghost, key))) == (
            "namespace_not_found"
        )
    # An expired token.
    expiring = registry.create_token(namespace)
    _expire(registry, expiring)
    with registry.client(expiring) as expired:
        response = expired.post("/v1/versions", json=publish_body(payload, key))
        assert response.status_code == 401
        assert error_code(response) == "token_expired"


def test_scoped_tokens_and_whoami(registry: Registry) -> None:
    namespace = unique("scope")
    token = registry.create_token(namespace)
    key = SigningKey.generate()
    with registry.client(token) as client:
        me = client.get("/v1/whoami").json()
        assert me["namespaces"] == [namespace]
        assert sorted(me["actions"]) == ["keys", "publish", "tokens", "yank"]
        assert me["token_prefix"] == token[:12]
        created = client.post(
            "/v1/tokens",
            json={"namespaces": [namespace], "actions": ["publish"], "expires_in_days": 1},
        )
        assert created.status_code == 201
        narrow = created.json()["token"]
        assert narrow.startswith("mst_")
        wider = client.post("/v1/tokens", json={"namespaces": ["*"], "actions": ["publish"]})
        assert error_code(wider) == "forbidden"
        unknown_action = client.post(
            "/v1/tokens", json={"namespaces": [namespace], "actions": ["delete-everything"]}
        )
        assert error_code(unknown_action) == "invalid_request"
        foreign = client.post(
            "/v1/tokens", json={"namespaces": [unique("nope")], "actions": ["publish"]}
        )
        assert error_code(foreign) == "namespace_not_found"
    with registry.client(narrow) as client:
        payload = manifest_bytes(f"{namespace}/c", "1.0.0", [])
        assert client.post("/v1/versions", json=publish_body(payload, key)).status_code == 201
        # The publish-only token may not yank, add keys or make tokens.
        yank = client.post(f"/v1/cubes/{namespace}/c/versions/1.0.0/yank", json={"reason": "x"})
        assert yank.status_code == 403
        assert error_code(yank) == "forbidden"
        assert "yank" in yank.json()["error"]["message"]
        other = SigningKey.generate().public_key.to_pem().decode()
        keys = client.post(f"/v1/namespaces/{namespace}/keys", json={"public_key_pem": other})
        assert error_code(keys) == "forbidden"
        tokens = client.post("/v1/tokens", json={"namespaces": [namespace], "actions": ["publish"]})
        assert error_code(tokens) == "forbidden"


def test_audit_log_records_every_write(registry: Registry) -> None:
    namespace = unique("audit")
    key = SigningKey.generate()
    with registry.client(registry.create_token(namespace)) as client:
        upload(client, b"audited blob")
        payload = manifest_bytes(f"{namespace}/c", "1.0.0", [b"audited blob"])
        client.post("/v1/versions", json=publish_body(payload, key))
        client.post(f"/v1/cubes/{namespace}/c/versions/1.0.0/yank", json={"reason": "oops"})
        client.post(f"/v1/cubes/{namespace}/c/versions/1.0.0/unyank")
        events = client.get(f"/v1/namespaces/{namespace}/audit").json()["events"]
        actions = [event["action"] for event in reversed(events)]
        assert actions == [
            "namespace.create",
            "token.create",
            "key.add",
            "version.publish",
            "version.yank",
            "version.unyank",
        ]
        assert events[1]["detail"] == {"reason": "oops"}
        assert events[2]["subject"] == f"{namespace}/c@1.0.0"
    with registry.client(registry.create_token(unique("audit"))) as outsider:
        assert error_code(outsider.get(f"/v1/namespaces/{namespace}/audit")) == "forbidden"


def test_search(registry: Registry) -> None:
    namespace = unique("search")
    key = SigningKey.generate()
    marker = unique("zq")
    with registry.client(registry.create_token(namespace)) as client:
        cubes = {
            "french-cooking": ("Classic French recipes and techniques", ["food", marker]),
            "astro-notes": (f"Notes on astronomy {marker}", ["space"]),
            "tagged": ("Something else", []),
        }
        for name, (description, keywords) in cubes.items():
            extra = {"tags": ["tagonly" + marker]} if name == "tagged" else None
            payload = manifest_bytes(
                f"{namespace}/{name}",
                "1.0.0",
                [],
                description=description,
                keywords=keywords,
                extra=extra,
            )
            assert client.post("/v1/versions", json=publish_body(payload, key)).status_code == 201

        def names(query: str) -> list[str]:
            response = client.get("/v1/search", params={"q": query})
            assert response.status_code == 200, response.text
            return [hit["name"] for hit in response.json()["results"]]

        assert set(names(marker)) == {f"{namespace}/french-cooking", f"{namespace}/astro-notes"}
        assert names(f"recipes {marker}") == [f"{namespace}/french-cooking"]
        assert names(f"{namespace} astro") == [f"{namespace}/astro-notes"]  # name words
        assert names(f"cook {namespace}") == [f"{namespace}/french-cooking"]  # prefix
        assert names("tagonly" + marker) == [f"{namespace}/tagged"]
        hit = client.get("/v1/search", params={"q": f"astro {namespace}"}).json()["results"][0]
        assert hit["latest_version"] == "1.0.0"
        assert hit["updated_at"].endswith("Z")
        assert error_code(client.get("/v1/search", params={"q": "  ?! "})) == "invalid_query"
        assert error_code(client.get("/v1/search", params={"q": "x", "limit": 0})) == (
            "invalid_request"
        )


def test_health_metrics_and_unknown_routes(registry: Registry) -> None:
    with registry.client() as client:
        health = client.get("/healthz")
        assert health.json() == {"status": "ok", "database": "ok", "storage": "ok"}
        metrics = client.get("/metrics")
        assert metrics.status_code == 200
        assert 'memstore_http_requests_total{method="GET",route="/healthz",status="200"}' in (
            metrics.text
        )
        assert "memstore_http_request_duration_seconds_bucket" in metrics.text
        assert error_code(client.get("/v1/no-such-thing")) == "not_found"
        assert error_code(client.delete("/v1/search")) == "method_not_allowed"


def test_a_token_can_revoke_itself(registry: Registry) -> None:
    namespace = unique("revoke")
    token = registry.create_token(namespace)
    with registry.client(token) as client:
        assert client.get("/v1/whoami").status_code == 200
        assert client.delete("/v1/tokens/current").status_code == 204
        after = client.get("/v1/whoami")
        assert after.status_code == 401
        assert error_code(after) == "unauthorized"
    with registry.client(registry.create_token(namespace)) as other:
        events = other.get(f"/v1/namespaces/{namespace}/audit").json()["events"]
        assert "token.revoke" not in [e["action"] for e in events]  # not namespace-scoped
