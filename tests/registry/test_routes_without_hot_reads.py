"""The documented FastAPI routes for the hot reads answer like the ASGI fast path does."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient

from mip.keys import SigningKey
from registry_server.api.hot_reads import HotReadMiddleware
from registry_server.app import create_app
from registry_server.db.session import create_db_engine, init_schema
from registry_server.services.auth import commit_bootstrap_token
from registry_server.settings import Settings
from tests.registry.cube_helpers import manifest_bytes, publish_body


def test_fallback_routes_serve_the_same_documents(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    engine = create_db_engine(settings.resolved_database_url(), 1)
    init_schema(engine)
    token = commit_bootstrap_token(engine, "plain", None, 1)
    engine.dispose()
    app = create_app(settings)
    app.user_middleware = [m for m in app.user_middleware if m.cls is not HotReadMiddleware]
    key = SigningKey.generate()
    with TestClient(app, headers={"authorization": f"Bearer {token}"}) as client:
        payload = manifest_bytes("plain/cube", "1.0.0", [])
        assert client.post("/v1/versions", json=publish_body(payload, key)).status_code == 201
        document = client.get("/v1/cubes/plain/cube")
        assert document.status_code == 200
        assert [v["version"] for v in document.json()["versions"]] == ["1.0.0"]
        cached = client.get(
            "/v1/cubes/plain/cube", headers={"if-none-match": document.headers["etag"]}
        )
        assert cached.status_code == 304
        envelope = client.get("/v1/cubes/plain/cube/versions/1.0.0/envelope")
        assert envelope.headers["content-type"] == "application/vnd.dsse.envelope.v1+json"
        assert json.loads(envelope.content)["payloadType"].endswith("manifest.v1+json")
        layer: object = app.middleware_stack
        while layer is not None:  # the requests above really went through FastAPI's routes
            assert not isinstance(layer, HotReadMiddleware)
            layer = getattr(layer, "app", None)
        missing = client.get("/v1/cubes/plain/nothing")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "cube_not_found"
