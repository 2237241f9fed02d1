"""Tokens, scopes, keys, audit, search and operations endpoints, both configurations."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from mip.keys import SigningKey
from registry_server.db.models import ApiToken, utcnow
from registry_server.services.auth import hash_token
from tests.registry.conftest import Registry
from tests.registry.cube_helpers import (
    error_code,
    manifest_bytes,
    publish_body,
    record_blob,
    unique,
    upload,
)


def _update_token(registry: Registry, token: str, **values: object) -> None:
    """Change a stored token's row directly (what no API allows: expiry, wider scopes)."""
    with registry.database() as engine, engine.begin() as connection:
        connection.execute(
            update(ApiToken)
            .where(ApiToken.token_hash == hash_token(token))  # type: ignore[arg-type]
            .values(**values)
        )


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
    _update_token(registry, expiring, expires_at=utcnow() - timedelta(seconds=1))
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
        upload(client, record_blob("audited blob"))
        payload = manifest_bytes(f"{namespace}/c", "1.0.0", [record_blob("audited blob")])
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
        # `tags` is no MIP field (search terms are `keywords`): an unknown field is not searched.
        assert names("tagonly" + marker) == []
        hit = client.get("/v1/search", params={"q": f"astro {namespace}"}).json()["results"][0]
        assert hit["latest_version"] == "1.0.0"
        assert hit["updated_at"].endswith("Z")
        assert error_code(client.get("/v1/search", params={"q": "x", "limit": 0})) == (
            "invalid_request"
        )


def test_health_metrics_and_unknown_routes(registry: Registry) -> None:
    with registry.client() as client:
        health = client.get("/healthz")
        assert health.json() == {"status": "ok", "database": "ok", "storage": "ok"}
        metrics = client.get("/metrics")
        assert metrics.status_code == 200
        samples = {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(metrics.text)
            for sample in family.samples
        }
        healthz = (("method", "GET"), ("route", "/healthz"), ("status", "200"))
        assert samples[("memstore_http_requests_total", healthz)] >= 1
        buckets = [
            key for key in samples if key[0] == "memstore_http_request_duration_seconds_bucket"
        ]
        assert buckets, sorted({name for name, _ in samples})
        assert error_code(client.get("/v1/no-such-thing")) == "not_found"
        assert error_code(client.delete("/v1/search")) == "method_not_allowed"
        # Allow lists every method of the resource (RFC 9110), not one route's.
        for path, allowed in (
            ("/v1/search", "GET"),
            (f"/v1/blobs/sha256:{'0' * 64}", "GET, HEAD, PUT"),
            ("/v1/uploads/abc", "DELETE, GET, PATCH, PUT"),
            ("/v1/tokens", "GET, POST"),
            ("/v1/namespaces/x/keys", "GET, POST"),
        ):
            refused = client.request("OPTIONS", path)
            assert refused.status_code == 405, path
            assert refused.headers["allow"] == allowed, path


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


def _token_events(registry: Registry, prefix: str) -> list[tuple[str, str]]:
    """(action, actor) of the audit events about the token with ``prefix``."""
    from sqlmodel import Session, select

    from registry_server.db.models import AuditEvent

    with registry.database() as engine, Session(engine) as session:
        rows = session.exec(select(AuditEvent).where(AuditEvent.subject == prefix))
        return [(event.action, event.token_prefix) for event in rows]


def _one_account_two_namespaces(registry: Registry, prefix: str) -> tuple[str, str, str]:
    """A new account owning two new namespaces: the first's name, and a token for each."""
    first, second = unique(prefix), unique(prefix)
    account = unique("acct")
    return first, registry.create_token(first, account), registry.create_token(second, account)


def test_tokens_are_listed_and_revoked_by_id_within_the_caller_s_scope(
    registry: Registry,
) -> None:
    # sibling_token: the same account's, for its other namespace.
    namespace, token, sibling_token = _one_account_two_namespaces(registry, "toklist")
    stranger = registry.create_token(unique("toklist"))  # another account
    with registry.client(token) as client:
        narrow = client.post(
            "/v1/tokens",
            json={"namespaces": [namespace], "actions": ["publish"], "description": "ci"},
        ).json()["token"]
        listed = client.get("/v1/tokens")
        assert listed.status_code == 200
        tokens = listed.json()["tokens"]
        # Newest first; the sibling namespace's token is outside this token's scope.
        assert [t["prefix"] for t in tokens] == [narrow[:12], token[:12]]
        assert [t["current"] for t in tokens] == [False, True]
        assert tokens[0]["description"] == "ci"
        assert tokens[0]["namespaces"] == [namespace]
        assert tokens[0]["actions"] == ["publish"]
        assert tokens[0]["revoked"] is False
        assert "token" not in tokens[0]
        assert "token_hash" not in tokens[0]
        narrow_id = tokens[0]["id"]

        assert client.delete(f"/v1/tokens/{narrow_id}").status_code == 204
        assert client.delete(f"/v1/tokens/{narrow_id}").status_code == 204  # idempotent
        assert [t["revoked"] for t in client.get("/v1/tokens").json()["tokens"]] == [True, False]
    with registry.client(narrow) as revoked:
        refused = revoked.get("/v1/whoami")
        assert refused.status_code == 401
        assert error_code(refused) == "unauthorized"
    assert _token_events(registry, narrow[:12]).count(("token.revoke", token[:12])) == 1

    with registry.client(sibling_token) as client:
        sibling_ids = {t["id"] for t in client.get("/v1/tokens").json()["tokens"]}
    with registry.client(stranger) as client:
        stranger_ids = {t["id"] for t in client.get("/v1/tokens").json()["tokens"]}
    with registry.client(token) as client:
        # Outside the caller's reach, or no token at all: one answer that reveals nothing.
        # Ids no database column holds (SQLite raised OverflowError) are no different.
        for token_id in [*sibling_ids, *stranger_ids, 10**9, 0, -1, 2**31, 2**40, 2**63, 10**23]:
            answer = client.delete(f"/v1/tokens/{token_id}")
            assert answer.status_code == 404
            assert error_code(answer) == "token_not_found"
            assert "memos token list" in answer.json()["error"]["message"]
        bad_id = client.delete("/v1/tokens/abc")
        assert bad_id.status_code == 400
        assert error_code(bad_id) == "invalid_request"
    for other in (sibling_token, stranger):  # untouched
        with registry.client(other) as client:
            assert client.get("/v1/whoami").status_code == 200


def test_a_token_s_repeated_scopes_are_stored_once(registry: Registry) -> None:
    namespace = unique("tokdup")
    with registry.client(registry.create_token(namespace)) as client:
        created = client.post(
            "/v1/tokens",
            json={
                "namespaces": [namespace, namespace.upper(), namespace],
                "actions": ["yank", "publish", "yank", "publish"],
            },
        )
        assert created.status_code == 201, created.text
        assert created.json()["namespaces"] == [namespace]
        assert created.json()["actions"] == ["publish", "yank"]
        listed = client.get("/v1/tokens").json()["tokens"][0]
        assert listed["prefix"] == created.json()["token"][:12]
        assert (listed["namespaces"], listed["actions"]) == ([namespace], ["publish", "yank"])


def test_a_missing_body_names_the_fields_to_send(registry: Registry) -> None:
    namespace = unique("nobody")
    with registry.client(registry.create_token(namespace)) as client:
        for path, fields in (
            (f"/v1/cubes/{namespace}/c/versions/1.0.0/yank", "reason"),
            ("/v1/tokens", "namespaces, actions"),
            ("/v1/uploads", "digest, size"),
        ):
            response = client.post(path)
            assert response.status_code == 400
            assert error_code(response) == "invalid_request"
            assert response.json()["error"]["message"] == (
                f"invalid request: the JSON body is missing: send an object with {fields}"
            )


def test_listing_and_revoking_tokens_needs_the_tokens_action(registry: Registry) -> None:
    namespace = unique("tokact")
    with registry.client(registry.create_token(namespace)) as client:
        publish_only = client.post(
            "/v1/tokens", json={"namespaces": [namespace], "actions": ["publish"]}
        ).json()["token"]
        own_id = client.get("/v1/tokens").json()["tokens"][1]["id"]
    with registry.client(publish_only) as client:
        for answer in (client.get("/v1/tokens"), client.delete(f"/v1/tokens/{own_id}")):
            assert answer.status_code == 403
            assert error_code(answer) == "forbidden"
            assert "'tokens' action" in answer.json()["error"]["message"]
        # Any token may still revoke itself.
        assert client.delete("/v1/tokens/current").status_code == 204
    with registry.client() as anonymous:
        assert error_code(anonymous.get("/v1/tokens")) == "unauthorized"


def test_an_account_wide_token_sees_and_revokes_every_token_of_its_account(
    registry: Registry,
) -> None:
    _, token, other = _one_account_two_namespaces(registry, "tokwide")
    with registry.client(token) as client:
        wide = client.post("/v1/tokens", json={"namespaces": ["*"], "actions": ["tokens"]})
        assert error_code(wide) == "forbidden"  # a namespace-scoped token cannot grant '*'
    _update_token(registry, token, namespaces=["*"])
    with registry.client(token) as client:
        listed = client.get("/v1/tokens").json()["tokens"]
        assert {t["prefix"] for t in listed} == {token[:12], other[:12]}
        other_id = next(t["id"] for t in listed if t["prefix"] == other[:12])
        assert client.delete(f"/v1/tokens/{other_id}").status_code == 204
    with registry.client(other) as client:
        assert client.get("/v1/whoami").status_code == 401
