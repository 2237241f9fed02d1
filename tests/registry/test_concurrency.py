"""Two server processes sharing one database and one storage: concurrent publishes stay consistent."""

from __future__ import annotations

import threading
from collections import Counter

from sqlalchemy import text

from mip.keys import SigningKey
from mip.manifest import manifest_digest
from tests.registry.conftest import Registry
from tests.registry.cube_helpers import manifest_bytes, publish_body, record_blob, unique, upload

CLIENTS = 8


def _race(registry: Registry, token: str, bodies: list[dict[str, object]]) -> list[tuple[int, str]]:
    """Send every body at once, alternating between the two server processes."""
    urls = [server.url for server in registry.servers]
    barrier = threading.Barrier(len(bodies))
    results: list[tuple[int, str]] = [(0, "")] * len(bodies)

    def run(index: int) -> None:
        import httpx

        # A generous timeout: on a loaded 2-core machine a publish may queue behind the others.
        with registry.client(token, url=urls[index % len(urls)], timeout=120) as client:
            barrier.wait()
            try:
                response = client.post("/v1/versions", json=bodies[index])
            except httpx.HTTPError as exc:  # reported in the assertion, not lost in a thread
                results[index] = (-1, repr(exc))
                return
            code = response.json().get("error", {}).get("code", "") if response.is_error else ""
            results[index] = (response.status_code, code)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_concurrent_publishes_of_one_version_yield_exactly_one(registry: Registry) -> None:
    registry.with_servers(2)
    namespace = unique("race")
    token = registry.create_token(namespace)
    key = SigningKey.generate()
    name = f"{namespace}/contested"
    blob = record_blob("contested blob")
    with registry.client(token) as client:
        upload(client, blob)

    # Round 1: a new cube, a new namespace key, identical content from every client.
    identical = manifest_bytes(name, "1.0.0", [blob])
    results = _race(registry, token, [publish_body(identical, key)] * CLIENTS)
    assert Counter(status for status, _ in results) == {201: 1, 200: CLIENTS - 1}, results

    # Round 2: every client publishes different content as the same version.
    different = [
        manifest_bytes(name, "2.0.0", [blob], description=f"client {index}")
        for index in range(CLIENTS)
    ]
    results = _race(registry, token, [publish_body(payload, key) for payload in different])
    assert Counter(results) == {(201, ""): 1, (409, "version_exists"): CLIENTS - 1}, results
    winner = different[[status for status, _ in results].index(201)]

    # Round 3: every client publishes its own new version at once; all land in the document.
    distinct = [manifest_bytes(name, f"3.0.{index}", [blob]) for index in range(CLIENTS)]
    results = _race(registry, token, [publish_body(payload, key) for payload in distinct])
    assert Counter(results) == {(201, ""): CLIENTS}, results

    with registry.database() as engine, engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT v.version, v.manifest_digest FROM cube_version v "
                "JOIN cube c ON c.id = v.cube_id WHERE c.normalized_name = :n ORDER BY v.version"
            ),
            {"n": name},
        ).all()
        assert [tuple(row) for row in rows] == [
            ("1.0.0", manifest_digest(identical)),
            ("2.0.0", manifest_digest(winner)),
            *((f"3.0.{i}", manifest_digest(distinct[i])) for i in range(CLIENTS)),
        ]
        assert (
            connection.execute(
                text("SELECT count(*) FROM cube WHERE normalized_name = :n"), {"n": name}
            ).scalar_one()
            == 1
        )
        keys = connection.execute(
            text(
                "SELECT count(*) FROM signing_key k JOIN namespace n ON n.id = k.namespace_id "
                "WHERE n.normalized_name = :n"
            ),
            {"n": namespace},
        ).scalar_one()
        assert keys == 1
        orphans = connection.execute(
            text(
                "SELECT count(*) FROM version_blob b "
                "LEFT JOIN cube_version v ON v.id = b.version_id WHERE v.id IS NULL"
            )
        ).scalar_one()
        assert orphans == 0
        links = connection.execute(
            text(
                "SELECT count(*) FROM version_blob b JOIN cube_version v ON v.id = b.version_id "
                "JOIN cube c ON c.id = v.cube_id WHERE c.normalized_name = :n"
            ),
            {"n": name},
        ).scalar_one()
        assert links == 2 + CLIENTS
        publishes = connection.execute(
            text(
                "SELECT count(*) FROM audit_event WHERE namespace = :n "
                "AND action = 'version.publish'"
            ),
            {"n": namespace},
        ).scalar_one()
        assert publishes == 2 + CLIENTS
    # Both processes serve the same resolver document.
    documents = []
    for server in registry.servers:
        import httpx

        document = httpx.get(f"{server.url}/v1/cubes/{name}").json()
        document.pop("downloads")
        documents.append(document)
    assert documents[0] == documents[1]
    assert [v["version"] for v in documents[0]["versions"]] == [
        "1.0.0",
        "2.0.0",
        *(f"3.0.{i}" for i in range(CLIENTS)),
    ]
    assert documents[0]["latest_version"] == f"3.0.{CLIENTS - 1}"
