"""Pages render every value the registry stores (issue #15): odd types, huge and odd text, gaps.

Each cube here is published through the HTTP API with a manifest built by hand, holding values
``memos pack`` never writes but MIP-1 allows (free-form ``adapter_config``, the longest strings the
schema admits, control and bidirectional characters, missing optional fields, unknown fields and
part kinds, records whose metadata holds binary and extension values, undecodable blobs). Every
page and API answer that shows such a cube must succeed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from mip.dsse import sign
from mip.keys import SigningKey
from registry_server.app import create_app
from registry_server.settings import load_settings
from tests.support import fresh_postgres_database
from tests.web.odd_seeding import (
    REFUSED_AT_PUBLISH,
    TARGET_MODULES,
    odd_cubes,
    stored_before_payload_checks,
)
from tests.web.seeding import create_token, publish_manifest

HTML = {"accept": "text/html,application/xhtml+xml"}


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def odd_client(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    """An in-process registry holding every odd cube (yanked ones too)."""
    with ExitStack() as stack:
        database_url = ""
        if request.param == "postgres":
            database_url = stack.enter_context(fresh_postgres_database("memstore_odd"))
        root = tmp_path_factory.mktemp("odd")
        settings = load_settings(
            data_dir=root / "data", database_url=database_url, download_flush_seconds=3600
        )
        settings.data_dir.mkdir(parents=True)
        token = create_token(settings.resolved_database_url(), "odd")
        key = SigningKey.generate()
        with TestClient(create_app(settings)) as client:
            with stored_before_payload_checks():
                for _, document, blobs in odd_cubes():
                    publish_manifest(client, token, key, document, blobs)
            answer = client.post(
                "/v1/cubes/odd/records/versions/2.0.0/yank",
                json={"reason": "r" * 1000},
                headers={"authorization": f"Bearer {token}"},
            )
            assert answer.status_code == 200, answer.text
            yield client


def _urls() -> list[str]:
    urls = ["/", "/namespaces/odd", "/search?q=odd", "/search?kind=x-" + "k" * 62]
    for cube in ("lora-types", "long-everything", "bare", "records", "garbage"):
        base = f"/cubes/odd/{cube}"
        # (Not /v1/cubes/NS/NAME: a document built at publish; on PostgreSQL it is read through
        # an asyncio pool that TestClient's event loop leaves open, see conftest.py.)
        urls += [base, base + "/diff", "/search?q=" + cube]
    versions = {"lora-types": [f"1.0.{i}" for i in range(len(TARGET_MODULES))]}
    versions |= {"records": ["1.0.0", "2.0.0"], "garbage": ["1.0.0", "1.1.0"], "bare": ["0.0.1"]}
    for cube, numbers in versions.items():
        for number in numbers:
            urls += [f"/cubes/odd/{cube}/versions/{number}", f"/v1/cubes/odd/{cube}/versions/{number}"]  # fmt: skip
        urls.append(f"/cubes/odd/{cube}/diff?from={numbers[-1]}&to={numbers[0]}")
    return urls


@pytest.mark.parametrize("url", _urls())
def test_every_page_of_an_odd_cube_renders(odd_client: TestClient, url: str) -> None:
    response = odd_client.get(url, headers=HTML if not url.startswith("/v1/") else {})
    assert response.status_code == 200, response.text[-2000:]


def _soup(client: TestClient, url: str) -> BeautifulSoup:
    response = client.get(url, headers=HTML)
    assert response.status_code == 200, response.text[-2000:]
    return BeautifulSoup(response.text, "html.parser")


def test_odd_target_modules_are_shown_as_text(odd_client: TestClient) -> None:
    shown = {}
    for index in range(len(TARGET_MODULES)):
        soup = _soup(odd_client, f"/cubes/odd/lora-types/versions/1.0.{index}")
        (row,) = soup.select("table.parts tbody tr")
        shown[index] = " ".join(row.select("td")[-1].get_text(" ").split())
    assert shown[0].startswith(f"LoRA adapter, rank {2**53:,}, targets 7 Model")
    assert "targets all-linear Model" in shown[4]
    # Not a list of names: shown as the JSON the manifest holds.
    assert 'targets [1, null, {"x": []}, "q_proj", [2, [3]]] Model' in shown[6]
    assert 'targets {"nested": {"deep": [1, 2]}, "q_proj": 1} Model' in shown[5]
    # Long values are cut, with what was left out said.
    assert "… and 2,980 more" in shown[7]
    assert len(shown[8]) < 1_000
    assert "targets" not in shown[9]


def test_record_metadata_of_any_type_is_shown(odd_client: TestClient) -> None:
    soup = _soup(odd_client, "/cubes/odd/records/diff?from=1.0.0&to=2.0.0")
    text = " ".join(soup.get_text(" ").split())
    assert '"bin": "<2 bytes>"' in text
    assert '"<9 bytes>": 1' in text


def test_what_no_client_can_use_is_refused_at_publish(tmp_path: Path) -> None:
    """The registry runs the client's payload check (mip.payloads) at publish (issue #15)."""
    settings = load_settings(data_dir=tmp_path / "data", download_flush_seconds=3600)
    settings.data_dir.mkdir(parents=True)
    token = create_token(settings.resolved_database_url(), "odd")
    key = SigningKey.generate()
    headers = {"authorization": f"Bearer {token}"}
    refused = set()
    with TestClient(create_app(settings)) as client:
        for _, document, blobs in odd_cubes():
            for data in blobs:
                digest = "sha256:" + hashlib.sha256(data).hexdigest()
                assert client.put(f"/v1/blobs/{digest}", content=data, headers=headers).is_success
            payload = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
            body = {
                "envelope": json.loads(sign(payload, [key]).to_json()),
                "public_key_pem": key.public_key.to_pem().decode(),
            }
            answer = client.post("/v1/versions", json=body, headers=headers)
            expected = REFUSED_AT_PUBLISH.get(document["name"])
            if expected is None:
                assert answer.status_code == 201, answer.text
                continue
            assert answer.status_code == 400, answer.text
            assert answer.json()["error"]["code"] == expected
            refused.add(document["name"])
            version = f"/v1/cubes/{document['name']}/versions/{document['version']}"
            assert client.get(version).status_code == 404
    assert refused == set(REFUSED_AT_PUBLISH)
