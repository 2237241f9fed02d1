"""Pages render every value the registry stores (issue #15): odd types, huge and odd text, gaps.

Each cube here is published through the HTTP API with a manifest built by hand, holding values
``memos pack`` never writes but MIP-1 allows (free-form ``adapter_config``, the longest strings the
schema admits, control and bidirectional characters, missing optional fields, unknown fields and
part kinds, records whose metadata holds binary and extension values, undecodable blobs). Every
page and API answer that shows such a cube must succeed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import Any

import msgpack
import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from mip import MIP_VERSION
from mip.keys import SigningKey
from registry_server.app import create_app
from registry_server.settings import load_settings
from tests.support import fresh_postgres_database
from tests.web.seeding import create_token, fingerprint, publish_manifest

HTML = {"accept": "text/html,application/xhtml+xml"}
WEIRD_TEXT = "\x00 \u202egnp.exe\u202c zero\u200bwidth Z\u0336a\u0336l\u0336g\u0336o\u0336 🧠 記憶 \x07 \u0085 \ufeff"
LONG_WORD = "w" * 10_000

#: Values of ``adapter_config.target_modules`` a LoRA part may carry: PEFT writes a list or a
#: string, anything else is still valid JSON in a free-form object.
TARGET_MODULES: list[Any] = [
    7,
    None,
    True,
    1.5e308,
    "all-linear",
    {"q_proj": 1, "nested": {"deep": [1, 2]}},
    [1, None, {"x": []}, "q_proj", [2, [3]]],
    ["m" * 60] * 3_000,
    "x" * 20_000,
    [],
]


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _manifest(
    name: str, version: str, parts: list[dict[str, Any]], **fields: Any
) -> dict[str, Any]:
    return {
        "mip_version": MIP_VERSION,
        "name": name,
        "version": version,
        "created": "2026-01-02T03:04:05Z",
        "parts": parts,
        **fields,
    }


def _lora_part(blob: bytes, config: dict[str, Any], name: str = "style-lora") -> dict[str, Any]:
    return {
        "kind": "parameter",
        "name": name,
        "digest": _digest(blob),
        "size": len(blob),
        "base_model": fingerprint("odd/model"),
        "adapter_config": config,
    }


def _plaintext_part(blob: bytes, count: int, name: str = "memories") -> dict[str, Any]:
    return {"kind": "plaintext", "name": name, "digest": _digest(blob), "size": len(blob), "count": count}  # fmt: skip


def _records(*records: dict[str, Any]) -> bytes:
    packer = msgpack.Packer(use_bin_type=True, datetime=True)
    out = b""
    for record in records:
        base = {"tags": [], "metadata": {}, "created": "2026-01-01T00:00:00Z"}
        out += packer.pack(base | {"updated": "2026-01-01T00:00:00Z", "version": 1} | record)
    return out


def odd_cubes() -> list[tuple[str, dict[str, Any], list[bytes]]]:
    """``(namespace, manifest document, blobs)`` of every odd version, in publishing order."""
    lora = b"not really safetensors: the registry stores what it is given"
    cubes: list[tuple[str, dict[str, Any], list[bytes]]] = []
    for index, modules in enumerate(TARGET_MODULES):
        config = {"peft_type": "LORA", "r": 2**53 if index == 0 else 4, "target_modules": modules}
        config |= {"lora_alpha": float("nan"), "extra": {"a": [None] * 50}}
        cubes.append(("odd", _manifest("odd/lora-types", f"1.0.{index}", [_lora_part(lora, config)]), [lora]))  # fmt: skip
    long_name = "p" + "-x" * 63  # 128 characters, one "word"
    model = fingerprint("org/" + "m" * 496) | {"revision": "r" * 200, "architecture": "A" * 200, "dtype": "d" * 32}  # fmt: skip
    notes = _records({"id": "a" * 256, "text": LONG_WORD, "tags": ["t" * 300] * 200})
    cubes.append(
        (
            "odd",
            _manifest(
                "odd/long-everything",
                "1.0.0-" + "a" * 60 + "+" + "b" * 50,
                [
                    _plaintext_part(notes, 1, long_name),
                    _lora_part(lora, {"peft_type": "LORA", "r": 1}, "q" * 128)
                    | {"base_model": model},
                    {
                        "kind": "x-" + "k" * 62,
                        "name": "other",
                        "media_type": "m" * 200,
                        "digest": _digest(lora),
                        "size": len(lora),
                        "surprise": [1, {"2": 3}],
                    },
                ],
                description=(WEIRD_TEXT + LONG_WORD)[:10_000],
                license="L" * 200,
                keywords=["k" * 64] * 50,
                authors=[{"name": "N" * 200, "email": "e" * 300}] * 100,
                dependencies={
                    f"nobody/dep-{i}-{'d' * 80}": ">=1.0.0-" + "z" * 80 for i in range(100)
                },
                governance={
                    "access": {"read": ["r" * 500] * 200, "write": []},
                    "ttl_seconds": 2**62,
                    "expires_at": "9999-12-31T23:59:59Z",
                    "sensitivity": "restricted",
                    "unknown": WEIRD_TEXT,
                },
                provenance={"tool": "T" * 200, "source": "S" * 2000},
                card={
                    "readme": WEIRD_TEXT + "\n\n" + LONG_WORD,
                    "homepage": "https://x.example/" + "h" * 1900,
                },
                tags=[7, None, "x" * 1000],
                unknown_top={"deep": [[[[]]]]},
            ),
            [notes, lora],
        )
    )
    cubes.append(("odd", _manifest("odd/bare", "0.0.1", []), []))
    cubes.append(("odd", _manifest("odd/bare", "0.0.2", [], description=""), []))
    first = _records(
        {
            "id": "m1",
            "text": WEIRD_TEXT,
            "metadata": {"bin": b"\x00\xff", "nested": {"k": [1, 2.5, None, True]}},
        },
        {
            "id": "m2",
            "text": "plain",
            "metadata": {
                b"bytes-key": 1,
                "when": datetime(2026, 1, 1, tzinfo=UTC),
                "ext": msgpack.ExtType(42, b"xx"),
            },
        },
        {"id": "m3", "text": "gone soon", "tags": ["x"] * 1000},
    )
    second = _records(
        {
            "id": "m1",
            "text": WEIRD_TEXT + " changed",
            "metadata": {"bin": b"\x01", "huge": "v" * 100_000},
        },
        {
            "id": "m2",
            "text": "plain",
            "metadata": {b"bytes-key": 2, "ext": msgpack.Timestamp(1, 5)},
        },
        {"id": "m4", "text": LONG_WORD * 10, "metadata": {"n": float("inf")}},
    )
    cubes.append(("odd", _manifest("odd/records", "1.0.0", [_plaintext_part(first, 3)]), [first]))
    cubes.append(("odd", _manifest("odd/records", "2.0.0", [_plaintext_part(second, 3)]), [second]))
    garbage = b"\xc1\xc1 not msgpack at all"
    truncated = _records({"id": "ok", "text": "fine"}) + b"\x85\xa2id"
    cubes.append(("odd", _manifest("odd/garbage", "1.0.0", [_plaintext_part(garbage, 3)]), [garbage]))  # fmt: skip
    cubes.append(("odd", _manifest("odd/garbage", "1.1.0", [_plaintext_part(truncated, 2)]), [truncated]))  # fmt: skip
    return cubes


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
