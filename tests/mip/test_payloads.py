"""The one payload check (MIP-1 §7) a client and a registry share: ``mip.payloads``."""

from __future__ import annotations

import hashlib
import io
from typing import Any

import pytest

from mip.errors import RecordError, TensorError
from mip.models import ParameterPart, PlaintextPart, from_document
from mip.payloads import check_part_payload
from mip.records import encode_record
from tests.mip.test_records import record
from tests.mip.test_tensors import MODEL, activation_part, adapter_file, kv_file, parameter_part
from tests.support import raises_exactly


def _plaintext(data: bytes, count: int) -> PlaintextPart:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    document = {"name": "notes", "digest": digest, "size": len(data), "count": count}
    return from_document(document, PlaintextPart)


def test_valid_payloads_of_each_kind_pass() -> None:
    records = encode_record(record(id="m0")) + encode_record(record(id="m1"))
    check_part_payload(_plaintext(records, 2), io.BytesIO(records))
    snapshot = kv_file()
    check_part_payload(activation_part(snapshot), io.BytesIO(snapshot))
    adapter = adapter_file()
    check_part_payload(parameter_part(adapter), io.BytesIO(adapter))


@pytest.mark.parametrize(
    ("data", "count", "message"),
    [
        (b"\xc1\xc1 not msgpack", 1, "part 'notes': record 0: malformed msgpack (a byte that starts no msgpack value)"),
        (encode_record(record(id="m0")), 2, "part 'notes' declares 2 records, its blob holds 1"),
    ],
    ids=["garbage", "count"],
)  # fmt: skip
def test_plaintext_payloads_are_refused(data: bytes, count: int, message: str) -> None:
    with raises_exactly(RecordError, message):
        check_part_payload(_plaintext(data, count), io.BytesIO(data))


@pytest.mark.parametrize(
    "config",
    [
        {"target_modules": 7},
        {"target_modules": ["q_proj", 7]},
        {"target_modules": {"q_proj": 1}},
        {"lora_alpha": "16"},
        {"lora_alpha": True},
    ],
    ids=["targets-int", "targets-mixed", "targets-object", "alpha-string", "alpha-bool"],
)
def test_adapter_configs_peft_cannot_load_are_refused(config: dict[str, Any]) -> None:
    """Issue 15: ``target_modules: 7`` was stored, and broke every page and every install."""
    adapter = adapter_file()
    part = parameter_part(adapter)
    broken = from_document(
        {
            "name": part.name,
            "digest": part.digest,
            "size": part.size,
            "base_model": MODEL,
            "adapter_config": part.adapter_config | config,
        },
        ParameterPart,
    )
    with pytest.raises(TensorError, match=r"adapter_config\.(target_modules|lora_alpha) must"):
        check_part_payload(broken, io.BytesIO(adapter))
