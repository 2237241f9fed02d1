"""Publishing, resolving, fetching and yanking versions (spec §4-§6), both configurations."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import pytest

from mip.dsse import parse_envelope, verify
from mip.keys import SigningKey
from mip.manifest import manifest_digest
from registry_server.errors import NameConflictError
from tests.registry.conftest import Registry
from tests.registry.cube_helpers import (
    blob_digest,
    envelope_document,
    error_code,
    manifest_bytes,
    publish_body,
    record_blob,
    unique,
    upload,
)

ROOT = Path(__file__).resolve().parents[2]


def _setup(registry: Registry) -> tuple[str, httpx.Client, SigningKey]:
    namespace = unique("pub")
    client = registry.client(registry.create_token(namespace))
    return namespace, client, SigningKey.generate()


def test_publish_list_fetch_yank_resolve(registry: Registry) -> None:
    namespace, client, key = _setup(registry)
    name = f"{namespace}/cooking"
    shared = record_blob("shared notes blob")
    with client:
        upload(client, shared)
        bodies = {}
        for version, extra_blob, deps in (
            ("1.0.0", record_blob("v1"), {}),
            ("1.1.0", record_blob("v1.1"), {f"{namespace}/spices": ">=1,<2"}),
            ("2.0.0-rc.1", record_blob("rc"), {}),
        ):
            upload(client, extra_blob)
            payload = manifest_bytes(
                name, version, [shared, extra_blob], description="French cooking", dependencies=deps
            )
            bodies[version] = (payload, publish_body(payload, key))
            response = client.post("/v1/versions", json=bodies[version][1])
            assert response.status_code == 201, response.text
            assert response.json() == {
                "name": name,
                "version": version,
                "manifest_digest": manifest_digest(payload),
                "created": True,
            }
        # Identical re-publish: success, nothing changes.
        again = client.post("/v1/versions", json=bodies["1.0.0"][1])
        assert again.status_code == 200
        assert again.json()["created"] is False
        # Different content for an existing version: refused.
        changed = manifest_bytes(name, "1.0.0", [shared], description="changed")
        refused = client.post("/v1/versions", json=publish_body(changed, key, send_key=False))
        assert refused.status_code == 409
        assert error_code(refused) == "version_exists"
        # The same version with build metadata is the same version.
        build = manifest_bytes(name, "1.0.0+build.7", [shared])
        assert error_code(client.post("/v1/versions", json=publish_body(build, key))) == (
            "version_exists"
        )

        # The resolver's view, in one response.
        index = client.get(f"/v1/cubes/{namespace}/cooking")
        assert index.status_code == 200
        document = index.json()
        assert [v["version"] for v in document["versions"]] == ["1.0.0", "1.1.0", "2.0.0-rc.1"]
        assert document["latest_version"] == "1.1.0"
        assert document["versions"][1]["dependencies"] == {f"{namespace}/spices": ">=1,<2"}
        assert document["versions"][0]["manifest_digest"] == manifest_digest(bodies["1.0.0"][0])
        assert all(v["yanked"] is False for v in document["versions"])
        # Normalised lookup and conditional GET.
        assert client.get(f"/v1/cubes/{namespace.upper()}/Cooking").json()["name"] == name
        cached = client.get(
            f"/v1/cubes/{namespace}/cooking", headers={"if-none-match": index.headers["etag"]}
        )
        assert cached.status_code == 304

        # The envelope comes back exactly and verifies.
        fetched = client.get(f"/v1/cubes/{namespace}/cooking/versions/1.1.0/envelope")
        assert fetched.status_code == 200
        envelope = parse_envelope(fetched.content)
        assert envelope.payload == bodies["1.1.0"][0]
        assert verify(envelope, {key.key_id: key.public_key}) == [key.key_id]
        assert fetched.headers["memstore-manifest-digest"] == manifest_digest(bodies["1.1.0"][0])
        details = client.get(f"/v1/cubes/{namespace}/cooking/versions/1.1.0").json()
        assert [part["digest"] for part in details["parts"]] == [
            blob_digest(shared),
            blob_digest(record_blob("v1.1")),
        ]

        # Yank 1.1.0: the latest falls back; ranges skip it; an exact pin still gets it.
        yanked = client.post(
            f"/v1/cubes/{namespace}/cooking/versions/1.1.0/yank", json={"reason": "wrong units"}
        )
        assert yanked.status_code == 200
        assert yanked.json()["yanked"] is True
        document = client.get(f"/v1/cubes/{namespace}/cooking").json()
        assert document["latest_version"] == "1.0.0"
        assert document["versions"][1]["yank_reason"] == "wrong units"
        resolve = f"/v1/cubes/{namespace}/cooking/resolve"
        assert client.get(resolve, params={"spec": ">=1.0"}).json()["version"] == "1.0.0"
        assert client.get(resolve, params={"spec": "==1.1.0"}).json()["version"] == "1.1.0"
        assert client.get(resolve, params={"spec": ">=2.0.0-rc.1"}).json()["version"] == (
            "2.0.0-rc.1"
        )
        none = client.get(resolve, params={"spec": ">1.0.0,<2"})
        assert error_code(none) == "no_matching_version"
        assert error_code(client.get(resolve, params={"spec": "~=banana"})) == "invalid_specifier"
        # The yanked envelope is still served (exact pins keep working).
        assert (
            client.get(f"/v1/cubes/{namespace}/cooking/versions/1.1.0/envelope").status_code == 200
        )
        unyanked = client.post(f"/v1/cubes/{namespace}/cooking/versions/1.1.0/unyank")
        assert unyanked.json()["yanked"] is False
        assert client.get(resolve, params={"spec": ">1.0.0,<2"}).json()["version"] == "1.1.0"
        assert (
            error_code(
                client.post(
                    f"/v1/cubes/{namespace}/cooking/versions/1.1.0/yank", json={"reason": ""}
                )
            )
            == "invalid_request"
        )
        assert error_code(client.get(f"/v1/cubes/{namespace}/cooking/versions/9.9.9")) == (
            "version_not_found"
        )
        assert error_code(client.get(f"/v1/cubes/{namespace}/nothing")) == "cube_not_found"
        for bad in (
            f"/v1/cubes/{namespace}/-dash",
            f"/v1/cubes/{namespace}/-dash/versions/1.0.0/envelope",
        ):
            invalid = client.get(bad)
            assert invalid.status_code == 400
            assert error_code(invalid) == "invalid_name"
        assert error_code(client.get(f"/v1/cubes/{namespace}/cooking/versions/x.y")) == (
            "invalid_version"
        )


def test_blob_missing_and_size_mismatch(registry: Registry) -> None:
    namespace, client, key = _setup(registry)
    with client:
        present = record_blob("present")
        upload(client, present)
        payload = manifest_bytes(
            f"{namespace}/c", "1.0.0", [present, b"never uploaded", b"nor this"]
        )
        missing = client.post("/v1/versions", json=publish_body(payload, key))
        assert missing.status_code == 400
        assert error_code(missing) == "blob_missing"
        message = missing.json()["error"]["message"]
        assert blob_digest(b"never uploaded") in message
        assert blob_digest(b"nor this") in message  # every missing blob, not just the first
        document = json.loads(manifest_bytes(f"{namespace}/c", "1.0.0", [present]))
        document["parts"][0]["size"] = 999
        wrong = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
        mismatch = client.post("/v1/versions", json=publish_body(wrong, key))
        assert error_code(mismatch) == "size_mismatch"
        # Nothing was created by the failed attempts.
        assert error_code(client.get(f"/v1/cubes/{namespace}/c")) == "cube_not_found"
        assert client.get(f"/v1/namespaces/{namespace}/keys").json()["keys"] == []


def test_malformed_envelopes_and_manifests(registry: Registry) -> None:
    namespace, client, key = _setup(registry)
    with client:
        assert error_code(client.post("/v1/versions", content=b"{not json")) == "invalid_request"
        assert error_code(client.post("/v1/versions", json={"envelope": "x"})) == "invalid_request"
        bad_b64 = {"payload": "%%%", "payloadType": "x", "signatures": []}
        assert error_code(client.post("/v1/versions", json={"envelope": bad_b64})) == (
            "invalid_envelope"
        )
        not_json = envelope_document(b"this is no manifest", key)
        assert error_code(client.post("/v1/versions", json={"envelope": not_json})) == (
            "invalid_manifest"
        )
        future = manifest_bytes(f"{namespace}/c", "1.0.0", [], extra={"mip_version": "2.0"})
        assert error_code(client.post("/v1/versions", json=publish_body(future, key))) == (
            "unsupported_mip_version"
        )
        no_parts_field = json.loads(manifest_bytes(f"{namespace}/c", "1.0.0", []))
        no_parts_field["version"] = "one"
        broken = json.dumps(no_parts_field).encode()
        response = client.post("/v1/versions", json=publish_body(broken, key))
        assert error_code(response) == "invalid_manifest"
        assert "version" in response.json()["error"]["message"]
        bad_name = manifest_bytes("no-slash", "1.0.0", [])
        assert error_code(client.post("/v1/versions", json=publish_body(bad_name, key))) == (
            "invalid_manifest"
        )
        wrong_type = envelope_document(manifest_bytes(f"{namespace}/c", "1.0.0", []), key)
        wrong_type["payloadType"] = "text/plain"
        response = client.post(
            "/v1/versions",
            json={"envelope": wrong_type, "public_key_pem": key.public_key.to_pem().decode()},
        )
        assert error_code(response) == "bad_signature"
        pem = client.post(
            "/v1/versions",
            json={
                "envelope": envelope_document(manifest_bytes(f"{namespace}/c", "1.0.0", []), key),
                "public_key_pem": "not a key",
            },
        )
        assert error_code(pem) == "invalid_key"


def test_signing_keys_first_publish_and_explicit_add(registry: Registry) -> None:
    namespace, client, key = _setup(registry)
    other = SigningKey.generate()
    with client:
        payload = manifest_bytes(f"{namespace}/c", "1.0.0", [])
        # No key registered and none sent.
        response = client.post("/v1/versions", json=publish_body(payload, key, send_key=False))
        assert response.status_code == 403
        assert error_code(response) == "unregistered_key"
        # A key sent that did not make the signature.
        mismatched = {
            "envelope": envelope_document(payload, key),
            "public_key_pem": other.public_key.to_pem().decode(),
        }
        assert error_code(client.post("/v1/versions", json=mismatched)) == "bad_signature"
        # The first publish registers the publisher's key.
        assert client.post("/v1/versions", json=publish_body(payload, key)).status_code == 201
        keys = client.get(f"/v1/namespaces/{namespace}/keys").json()["keys"]
        assert [k["key_id"] for k in keys] == [key.key_id]
        # Later: a different key is refused even if sent along...
        second = manifest_bytes(f"{namespace}/c", "1.1.0", [])
        refused = client.post("/v1/versions", json=publish_body(second, other))
        assert refused.status_code == 403
        assert error_code(refused) == "unregistered_key"
        # ... a forged signature under the registered key id is a bad signature...
        forged = envelope_document(second, other)
        forged["signatures"][0]["keyid"] = key.key_id
        assert error_code(client.post("/v1/versions", json={"envelope": forged})) == (
            "bad_signature"
        )
        tampered = envelope_document(second, key)
        tampered["payload"] = base64.b64encode(second.replace(b"1.1.0", b"1.2.0")).decode()
        assert error_code(client.post("/v1/versions", json={"envelope": tampered})) == (
            "bad_signature"
        )
        # ... until the key is added explicitly.
        added = client.post(
            f"/v1/namespaces/{namespace}/keys",
            json={"public_key_pem": other.public_key.to_pem().decode()},
        )
        assert added.status_code == 201
        assert (
            client.post(
                f"/v1/namespaces/{namespace}/keys",
                json={"public_key_pem": other.public_key.to_pem().decode()},
            ).status_code
            == 200
        )
        assert client.post("/v1/versions", json=publish_body(second, other)).status_code == 201
        assert (
            error_code(
                client.post(f"/v1/namespaces/{namespace}/keys", json={"public_key_pem": "junk"})
            )
            == "invalid_key"
        )


def test_confusable_and_respelled_names_are_refused(registry: Registry) -> None:
    namespace, client, key = _setup(registry)
    with client:
        original = manifest_bytes(f"{namespace}/my-cube", "1.0.0", [])
        assert client.post("/v1/versions", json=publish_body(original, key)).status_code == 201
        for variant in ("My-Cube", "my_cube", "my.cube", "rny-cube", "rny_Cube"):
            payload = manifest_bytes(f"{namespace}/{variant}", "2.0.0", [])
            response = client.post("/v1/versions", json=publish_body(payload, key))
            assert response.status_code == 409, variant
            assert error_code(response) == "name_conflict"
            assert f"{namespace}/my-cube" in response.json()["error"]["message"]
        lookalike = manifest_bytes(f"{namespace}/rnycube", "1.0.0", [])
        assert error_code(client.post("/v1/versions", json=publish_body(lookalike, key))) == (
            "name_conflict"
        )
        upper_namespace = manifest_bytes(f"{namespace.upper()}/other", "1.0.0", [])
        assert error_code(client.post("/v1/versions", json=publish_body(upper_namespace, key))) == (
            "name_conflict"
        )
        non_ascii = manifest_bytes(f"{namespace}/сube", "1.0.0", [])  # Cyrillic 'с'
        assert error_code(client.post("/v1/versions", json=publish_body(non_ascii, key))) == (
            "invalid_manifest"
        )
        distinct = manifest_bytes(f"{namespace}/my-cube-two", "1.0.0", [])
        assert client.post("/v1/versions", json=publish_body(distinct, key)).status_code == 201


def test_confusable_namespaces_are_refused(registry: Registry) -> None:
    namespace = unique("ol")
    registry.create_token(namespace)
    for variant in ("0" + namespace[1:], "o1" + namespace[2:], "O_" + namespace[1:]):
        with pytest.raises(NameConflictError):
            registry.create_token(variant, account=unique("acct"))


def test_download_counts_follow_envelope_fetches(registry: Registry) -> None:
    from tests.support import wait_until

    namespace, client, key = _setup(registry)
    with client:
        payload = manifest_bytes(f"{namespace}/counted", "1.0.0", [])
        client.post("/v1/versions", json=publish_body(payload, key))
        for _ in range(3):
            client.get(f"/v1/cubes/{namespace}/counted/versions/1.0.0/envelope")
        wait_until(
            lambda: client.get(f"/v1/cubes/{namespace}/counted").json()["downloads"] == 3,
            10,
            "download counts to be flushed",
        )
        assert client.get(f"/v1/cubes/{namespace}/counted/versions/1.0.0").json()["downloads"] == 3


def test_oversized_publish_bodies_are_refused(registry: Registry) -> None:
    namespace, client, key = _setup(registry)
    padding = "x" * (5 << 20)
    with client:
        declared = client.post("/v1/versions", json={"envelope": {}, "public_key_pem": padding})
        assert declared.status_code == 413
        assert error_code(declared) == "request_too_large"
        body = json.dumps({"envelope": {}, "public_key_pem": padding}).encode()
        chunked = client.post(
            "/v1/versions",
            content=iter([body[i : i + 65536] for i in range(0, len(body), 65536)]),
            headers={"content-type": "application/json"},
        )
        assert chunked.status_code == 413
        assert error_code(chunked) == "request_too_large"
        # The registry still answers normally afterwards.
        payload = manifest_bytes(f"{namespace}/after", "1.0.0", [])
        assert client.post("/v1/versions", json=publish_body(payload, key)).status_code == 201


def test_a_cube_depending_on_itself_is_refused(registry: Registry) -> None:
    namespace, client, key = _setup(registry)
    name = f"{namespace}/self_loop"
    with client:
        upload(client, record_blob("loop notes"))
        # The class, not one input: its own name under every spelling that normalizes to it.
        spellings = (name, f"{namespace}/self-loop", f"{namespace.upper()}/Self.Loop")
        for spelling in spellings:
            payload = manifest_bytes(
                name, "1.0.0", [record_blob("loop notes")], dependencies={spelling: "<1.0.0"}
            )
            response = client.post("/v1/versions", json=publish_body(payload, key))
            assert response.status_code == 400, response.text
            assert error_code(response) == "self_dependency"
            assert "cannot depend on itself" in response.json()["error"]["message"]
        # Nothing was published, and a dependency on another cube is fine.
        assert client.get(f"/v1/cubes/{name}").status_code == 404
        payload = manifest_bytes(
            name, "1.0.0", [record_blob("loop notes")], dependencies={f"{namespace}/other": ">=1"}
        )
        assert client.post("/v1/versions", json=publish_body(payload, key)).status_code == 201


def test_the_scope_is_checked_before_the_manifest_is_decoded(registry: Registry) -> None:
    """A token without the manifest's namespace gets 403 without the manifest being validated."""
    mine = unique("mine")
    theirs = unique("theirs")
    registry.create_token(theirs)
    key = SigningKey.generate()
    # Invalid in every other way: the decoder would refuse it (400), were it ever reached.
    invalid = json.dumps(
        {
            "name": f"{theirs}/x",
            "parts": "not a list",
            "mip_version": "9.9",
            **{f"k{index}": index for index in range(20_000)},
        }
    ).encode()
    no_name = json.dumps({"parts": [], "mip_version": "1.0"}).encode()
    with registry.client(registry.create_token(mine)) as client:
        response = client.post("/v1/versions", json=publish_body(invalid, key))
        assert response.status_code == 403, response.text
        assert error_code(response) == "forbidden"
        response = client.post("/v1/versions", json=publish_body(no_name, key))
        assert response.status_code == 400, response.text
        assert error_code(response) == "invalid_manifest"
        assert "'name'" in response.json()["error"]["message"]
        # With the scope, the same manifest is decoded and refused for what it is.
        own = invalid.replace(theirs.encode(), mine.encode())
        response = client.post("/v1/versions", json=publish_body(own, key))
        assert response.status_code == 400, response.text
        assert error_code(response) in {"invalid_manifest", "unsupported_mip_version"}
        # A token without the publish action is refused before anything else.
        limited = client.post("/v1/tokens", json={"namespaces": [mine], "actions": ["keys"]})
        assert limited.status_code == 201, limited.text
    with registry.client(limited.json()["token"]) as client:
        response = client.post("/v1/versions", json=publish_body(own, key))
        assert response.status_code == 403, response.text
        assert "'publish'" in response.json()["error"]["message"]


def _small_order_pem(raw: bytes) -> str:
    der = bytes.fromhex("302a300506032b6570032100") + raw
    return (
        "-----BEGIN PUBLIC KEY-----\n"
        + base64.b64encode(der).decode()
        + "\n-----END PUBLIC KEY-----\n"
    )


def test_small_order_keys_are_never_registered(registry: Registry) -> None:
    """The identity key with ``01 00..00 || 00..00`` "signs" anything (MIP-1 §6.1)."""
    namespace, client, _ = _setup(registry)
    identity = b"\x01" + bytes(31)
    forged_signature = base64.b64encode(identity + bytes(32)).decode()
    with client:
        payload = manifest_bytes(f"{namespace}/forged", "1.0.0", [])
        # First publish: the registry would register the sent key, then "verify" the forgery.
        forged = {
            "envelope": {
                "payload": base64.b64encode(payload).decode(),
                "payloadType": "application/vnd.memcube.manifest.v1+json",
                "signatures": [{"keyid": "00" * 32, "sig": forged_signature}],
            },
            "public_key_pem": _small_order_pem(identity),
        }
        response = client.post("/v1/versions", json=forged)
        assert response.status_code == 400, response.text
        assert error_code(response) == "invalid_key"
        assert client.get(f"/v1/cubes/{namespace}/forged").status_code == 404
        # Every vector of spec/vectors/small-order.json: small order, either sign, non-canonical.
        vectors = json.loads((ROOT / "spec/vectors/small-order.json").read_text())
        for vector in vectors["public_keys"]:
            pem = _small_order_pem(bytes.fromhex(vector["hex"]))
            added = client.post(f"/v1/namespaces/{namespace}/keys", json={"public_key_pem": pem})
            assert added.status_code == 400, (vector, added.text)
            assert error_code(added) == "invalid_key"
        assert client.get(f"/v1/namespaces/{namespace}/keys").json()["keys"] == []
