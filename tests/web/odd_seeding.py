"""Odd-but-valid versions (issue #15): values ``memos pack`` never writes but MIP-1 allows.

Used by ``test_odd_values.py`` (every page renders them) and the browser tests (they fit a phone).
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import msgpack
import pytest

from mip import MIP_VERSION
from registry_server.services import publish
from tests.web.seeding import fingerprint

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


#: The odd cubes a registry now refuses at publish (MIP-1 §7 payload checks, issue #15), with the
#: error code: their pages are still tested, on versions stored as a registry stored them before
#: it checked payloads (:func:`stored_before_payload_checks`).
REFUSED_AT_PUBLISH = {"odd/lora-types": "invalid_tensor", "odd/garbage": "invalid_records"}


@contextmanager
def stored_before_payload_checks() -> Iterator[None]:
    """Publish as a registry did before it checked payloads, to seed versions it now refuses."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(publish, "check_manifest_payloads", lambda *args, **kwargs: None)
        yield


def lora_safetensors(rank: int) -> bytes:
    """A minimal valid PEFT LoRA weights file of rank ``rank`` (one A/B pair, F32 zeros)."""
    names = ("base_model.model.q.lora_A.weight", "base_model.model.q.lora_B.weight")
    shapes = ([rank, 2], [2, rank])
    header: dict[str, Any] = {}
    offset = 0
    for name, shape in zip(names, shapes, strict=True):
        size = shape[0] * shape[1] * 4
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    return struct.pack("<Q", len(encoded)) + encoded + bytes(offset)


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
    valid_lora = lora_safetensors(1)
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
                    _lora_part(valid_lora, {"peft_type": "LORA", "r": 1}, "q" * 128)
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
            [notes, valid_lora, lora],
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
        {"id": "m3", "text": "gone soon", "tags": ["x"] * 256},  # the most MIP-1 §7.1 allows
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
