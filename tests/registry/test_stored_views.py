"""Pages read the manifest view stored at publish: no page view decodes a manifest (issue #15).

Both configurations, against real server processes: the proof is that a version's pages still
render after its stored envelope is made undecodable behind the server's back.
"""

from __future__ import annotations

from sqlalchemy import text

from mip.keys import SigningKey
from tests.registry.conftest import Registry
from tests.registry.cube_helpers import (
    envelope_document,
    manifest_bytes,
    publish_body,
    record_blob,
    unique,
    upload,
)


def _publish(registry: Registry, namespace: str, name: str, key: SigningKey) -> None:
    with registry.client(registry.create_token(namespace)) as client:
        for version, blob in (
            ("1.0.0", record_blob("first notes")),
            ("1.1.0", record_blob("second notes")),
        ):
            upload(client, blob)
            payload = manifest_bytes(
                name, version, [blob], description="Stored view probe", keywords=["probe"]
            )
            response = client.post("/v1/versions", json=publish_body(payload, key))
            assert response.status_code == 201, response.text


def _break_envelopes(registry: Registry, name: str) -> None:
    with registry.database() as engine, engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE cube_version SET envelope = :junk WHERE cube_id = "
                "(SELECT id FROM cube WHERE name = :name)"
            ),
            {"junk": b"not an envelope", "name": name},
        )


def test_pages_render_from_the_view_stored_at_publish(registry: Registry) -> None:
    namespace = unique("view")
    name = f"{namespace}/probe"
    _publish(registry, namespace, name, SigningKey.generate())
    _break_envelopes(registry, name)
    with registry.client() as client:
        for path in (
            f"/cubes/{name}",
            f"/cubes/{name}/versions/1.0.0",
            f"/cubes/{name}/diff?from=1.0.0&to=1.1.0",
        ):
            page = client.get(path, headers={"accept": "text/html"})
            assert page.status_code == 200, (path, page.text[:500])
        cube_page = client.get(f"/cubes/{name}").text
        assert "Stored view probe" in cube_page
        assert "Signed by a key registered for" in cube_page


def test_a_missing_view_is_derived_once_and_stored(registry: Registry) -> None:
    namespace = unique("view")
    name = f"{namespace}/probe"
    _publish(registry, namespace, name, SigningKey.generate())
    # The stored views of the cube's versions.
    views = (
        "FROM version_view WHERE version_id IN (SELECT v.id FROM cube_version v "
        "JOIN cube c ON c.id = v.cube_id WHERE c.name = :name)"
    )
    with registry.database() as engine:
        with engine.begin() as connection:
            deleted = connection.execute(text(f"DELETE {views}"), {"name": name}).rowcount
        assert deleted == 2
        with registry.client() as client:
            assert client.get(f"/cubes/{name}/versions/1.0.0").status_code == 200
        with engine.connect() as connection:
            stored = connection.execute(
                text(f"SELECT count(*) {views}"), {"name": name}
            ).scalar_one()
        assert stored == 1  # the version viewed; the other waits for its first view


def test_a_signer_registered_after_publish_shows_as_verified(registry: Registry) -> None:
    namespace = unique("view")
    name = f"{namespace}/cosigned"
    author, cosigner = SigningKey.generate(), SigningKey.generate()
    token = registry.create_token(namespace)
    with registry.client(token) as client:
        upload(client, record_blob("cosigned notes"))
        payload = manifest_bytes(name, "1.0.0", [record_blob("cosigned notes")])
        body = {
            "envelope": envelope_document(payload, author, cosigner),
            "public_key_pem": author.public_key.to_pem().decode(),
        }
        assert client.post("/v1/versions", json=body).status_code == 201
        before = client.get(f"/cubes/{name}").text
        assert before.count('class="sig-ok"') == 1
        assert "(key not registered)" in before
        added = client.post(
            f"/v1/namespaces/{namespace}/keys",
            json={"public_key_pem": cosigner.public_key.to_pem().decode()},
        )
        assert added.status_code == 201, added.text
        after = client.get(f"/cubes/{name}").text
        assert after.count('class="sig-ok"') == 2
        assert "(key not registered)" not in after
