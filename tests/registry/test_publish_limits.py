"""What install refuses is refused at publish too (MIP-1 §9), on both storage backends.

The registry decodes a version's stored plaintext parts and applies the record rules an install
applies: a memory over the 100,000-character limit is refused with ``invalid_records`` before the
version exists, instead of being served and failing on every install after a full download.
"""

from __future__ import annotations

import msgpack
import pytest

from mip.keys import SigningKey
from mip.records import MAX_TEXT_CHARS
from tests.registry.conftest import Registry
from tests.registry.cube_helpers import error_code, manifest_bytes, publish_body, unique, upload


def _record(text: str, record_id: str = "m1", tags: list[str] | None = None) -> bytes:
    stamp = "2026-01-01T00:00:00Z"
    return msgpack.packb(
        {
            "id": record_id,
            "text": text,
            "tags": tags or [],
            "metadata": {},
            "created": stamp,
            "updated": stamp,
            "version": 1,
        },
        use_bin_type=True,
    )


@pytest.mark.parametrize(
    ("blob", "problem"),
    [
        (_record("x" * (MAX_TEXT_CHARS + 1)), "over the 100,000-character limit"),
        (_record("ok", tags=[str(i) for i in range(257)]), "257 tags, over the limit of 256"),
        (_record("ok", record_id=" padded"), "no leading or trailing space"),
        (_record("   "), "'text' must not be empty"),
    ],
)
def test_a_record_install_would_refuse_is_refused_at_publish(
    registry: Registry, blob: bytes, problem: str
) -> None:
    namespace = unique("limits")
    key = SigningKey.generate()
    with registry.client(registry.create_token(namespace)) as client:
        upload(client, blob)
        payload = manifest_bytes(f"{namespace}/big", "1.0.0", [blob])
        refused = client.post("/v1/versions", json=publish_body(payload, key))
        assert refused.status_code == 400, refused.text
        assert error_code(refused) == "invalid_records"
        message = refused.json()["error"]["message"]
        assert "part 'part-0': record 0:" in message
        assert problem in message
        assert client.get(f"/v1/cubes/{namespace}/big").status_code == 404
        # At the limit is fine.
        good = _record("x" * MAX_TEXT_CHARS)
        upload(client, good)
        payload = manifest_bytes(f"{namespace}/big", "1.0.0", [good])
        assert client.post("/v1/versions", json=publish_body(payload, key)).status_code == 201
