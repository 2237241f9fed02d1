"""Manifest models and codec (MIP-1 §2, §5): round trips, unknown fields, every rejection."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from mip import MIP_VERSION
from mip.errors import ManifestError, UnsupportedVersionError
from mip.limits import MAX_CARD_README_CHARS, MAX_CARD_URL_CHARS, Limits
from mip.manifest import decode_manifest, encode_manifest, manifest_digest, manifest_from_document
from mip.models import (
    ActivationPart,
    ModelFingerprint,
    OtherPart,
    ParameterPart,
    PlaintextPart,
    from_document,
)
from tests.support import TINY_FINGERPRINT, raises_exactly

VECTORS = Path(__file__).resolve().parents[2] / "spec" / "vectors"
DIGEST = "sha256:" + "ab" * 32
FINGERPRINT: dict[str, Any] = dict(TINY_FINGERPRINT)


def document(**changes: Any) -> dict[str, Any]:
    """A manifest document with one part of each kind."""
    base: dict[str, Any] = {
        "mip_version": MIP_VERSION,
        "name": "acme/facts",
        "version": "1.2.3-rc.1+build.5",
        "created": "2026-01-01T00:00:00Z",
        "parts": [
            {"kind": "plaintext", "name": "memories", "digest": DIGEST, "size": 10, "count": 1},
            {
                "kind": "activation",
                "name": "kv",
                "digest": "sha256:" + "cd" * 32,
                "size": 100,
                "model": FINGERPRINT,
                "dtype": "F16",
                "num_layers": 2,
                "num_kv_heads": 2,
                "head_dim": 4,
                "num_tokens": 3,
                "token_ids_sha256": "3" * 64,
                "sources": [{"id": "m1", "version": 1}],
            },
            {
                "kind": "parameter",
                "name": "lora",
                "digest": "sha256:" + "ef" * 32,
                "size": 50,
                "base_model": FINGERPRINT,
                "adapter_config": {"peft_type": "LORA", "r": 8, "x-extra": [1]},
            },
        ],
    }
    return base | changes


def encode(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def test_decode_gives_typed_parts() -> None:
    manifest = decode_manifest(encode(document()))
    assert [type(p) for p in manifest.parts] == [PlaintextPart, ActivationPart, ParameterPart]
    assert manifest.parts[0].media_type == "application/vnd.memcube.plaintext.v1+msgpack"


def test_unknown_fields_survive_a_round_trip_at_every_level() -> None:
    # MIP-1 §2: "Unknown fields, at every level of the manifest, MUST be preserved by any tool
    # that rewrites a manifest, and MUST otherwise be ignored."
    doc = document(
        x_top={"nested": [1, 2]},
        authors=[{"name": "A", "x_author": True}],
        governance={"access": {"read": ["*"], "x_access": 1}, "x_gov": "g"},
        provenance={"tool": "t", "x_prov": None},
    )
    doc["parts"][0]["x_part"] = "p"
    doc["parts"][1]["model"] = FINGERPRINT | {"x_model": {"a": 1}}
    doc["parts"][1]["sources"][0]["x_ref"] = 2
    doc["parts"][2]["x_lora"] = [True]
    doc["parts"].append(
        {
            "kind": "hologram",
            "name": "future",
            "media_type": "application/x-hologram",
            "digest": DIGEST,
            "size": 10,
            "x_future": {},
        }
    )
    manifest = decode_manifest(encode(doc))
    assert isinstance(manifest.parts[3], OtherPart)
    again = json.loads(encode_manifest(manifest))
    assert again["x_top"] == {"nested": [1, 2]}
    assert again["authors"][0]["x_author"] is True
    assert again["governance"]["x_gov"] == "g"
    assert again["governance"]["access"]["x_access"] == 1
    assert again["parts"][0]["x_part"] == "p"
    assert again["parts"][1]["model"]["x_model"] == {"a": 1}
    assert again["parts"][1]["sources"][0]["x_ref"] == 2
    assert again["parts"][2]["x_lora"] == [True]
    assert again["parts"][2]["adapter_config"]["x-extra"] == [1]
    assert again["parts"][3] == doc["parts"][3] | {"kind": "hologram"}
    # Re-encoding is stable: decode(encode(m)) encodes to the same bytes.
    assert encode_manifest(decode_manifest(encode_manifest(manifest))) == encode_manifest(manifest)


def test_newer_minor_version_is_read() -> None:
    # MIP-1 §2: "A reader MUST accept a higher minor version of its major."
    manifest = decode_manifest(encode(document(mip_version="1.9")))
    assert manifest.mip_version == "1.9"


@pytest.mark.parametrize("version", ["2.0", "0.9", "10.0"])
def test_unknown_major_version_is_refused(version: str) -> None:
    # MIP-1 §2: "A reader MUST refuse a manifest whose major version it does not implement
    # (error unsupported_mip_version), before validating anything else."
    with raises_exactly(
        UnsupportedVersionError,
        f"unsupported MIP version {version}: this tool reads MIP 1.x; upgrade memstore",
    ):
        decode_manifest(encode(document(mip_version=version)))


def test_major_version_is_checked_before_anything_else() -> None:
    garbage = {"mip_version": "2.1", "name": 5, "parts": "none", "future": True}
    with pytest.raises(UnsupportedVersionError) as caught:
        decode_manifest(encode(garbage))
    assert caught.value.code == "unsupported_mip_version"


@pytest.mark.parametrize("version", ["1", "v1.0", "².0", "١.0", "1.0 ", 1.0, None])
def test_malformed_mip_version(version: object) -> None:
    with raises_exactly(
        ManifestError, "invalid manifest: 'mip_version' must be a string like '1.0'"
    ):
        decode_manifest(encode(document(mip_version=version)))


def test_digest_is_of_the_exact_bytes() -> None:
    # MIP-1 §5.1: "Readers MUST NOT re-encode: the signed bytes (§6) are the manifest."
    data = encode(document())
    spaced = json.dumps(document(), indent=1).encode()
    assert decode_manifest(data) == decode_manifest(spaced)
    assert manifest_digest(data) != manifest_digest(spaced)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xff", "invalid manifest: not UTF-8 JSON ('utf-8' codec can't decode byte 0xff in position 0: invalid start byte)"),
        (b"{", "invalid manifest: not UTF-8 JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))"),
        (b"[]", "invalid manifest: expected a JSON object"),
        (b'{"name": 1, "name": 2}', "invalid manifest: duplicate JSON keys: name"),
        (b"[" * 100_000, "invalid manifest: not UTF-8 JSON (maximum recursion depth exceeded while decoding a JSON array from a unicode string)"),
        (b'{"n": ' + b"9" * 5000 + b"}", "invalid manifest: not UTF-8 JSON (Exceeds the limit (4300 digits) for integer string conversion: value has 5000 digits; use sys.set_int_max_str_digits() to increase the limit)"),
    ],
    ids=["not-utf8", "not-json", "not-object", "duplicate-keys", "deep-nesting", "huge-integer"],
)  # fmt: skip
def test_undecodable_manifests(data: bytes, message: str) -> None:
    # MIP-1 §5.1: "Readers MUST refuse duplicate keys."
    with raises_exactly(ManifestError, message):
        decode_manifest(data)


@pytest.mark.parametrize("where", ["description", "keywords", "parts", "unknown"])
def test_an_unpaired_surrogate_anywhere_is_refused(where: str) -> None:
    # Valid JSON, but no UTF-8 writer can encode "\ud800": the canonical bytes, a database.
    doc = copy.deepcopy(document())
    if where == "description":
        doc["description"] = "\ud800"
    elif where == "keywords":
        doc["keywords"] = ["ok", "x\udfff"]
    elif where == "parts":
        doc["parts"][0]["name"] = "a\ud800"
    else:
        doc["extension"] = {"\ud800": 1}
    data = json.dumps(doc).encode()  # ASCII, with \\ud800 escapes
    with raises_exactly(
        ManifestError,
        (
            "invalid manifest: a string holds an unpaired surrogate (\\ud800-\\udfff): "
            "text must be valid Unicode"
        ),
    ):
        decode_manifest(data)


def with_part(index: int, **changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(document())
    doc["parts"][index].update(changes)
    return doc


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (document(name="acme"), "name: invalid cube name 'acme': expected 'namespace/name'"),
        (document(name="acme/fаcts"), "name: invalid cube name 'fаcts': only ASCII letters, digits, '-', '_' and '.' are allowed"),
        (document(version="1.2"), "version: invalid version '1.2': expected SemVer MAJOR.MINOR.PATCH like 1.2.3"),
        (document(created="2026-01-01T00:00:00"), "created: created must carry a time zone (RFC 3339, e.g. 2026-01-01T00:00:00Z)"),
        (document(dependencies={"acme/base": ">>1"}), "dependencies: invalid version specifier '>>1': '>1' is not a version"),
        (document(dependencies={"base": ">=1"}), "dependencies: invalid cube name 'base': expected 'namespace/name'"),
        (with_part(0, digest="sha256:AB"), "parts[0].digest: invalid digest 'sha256:AB': expected 'sha256:' followed by 64 lower-case hex digits"),
        (with_part(0, size=-1), "parts[0].size: Expected `int` >= 0"),
        (with_part(0, name="../x"), "parts[0].name: Expected `str` matching regex '^[A-Za-z0-9][A-Za-z0-9._-]*$'"),
        (with_part(1, name="memories"), "part names must be unique; repeated: memories"),
        (with_part(1, digest=DIGEST), "blob sha256:abababababababababababababababababababababababababababababababab is declared with two different sizes"),
        (with_part(2, adapter_config={"peft_type": "IA3", "r": 8}), "parts[2].adapter_config: adapter_config.peft_type must be 'LORA'"),
        (with_part(2, adapter_config={"peft_type": "LORA", "r": 0}), "parts[2].adapter_config: adapter_config.r must be a positive integer"),
        (with_part(2, adapter_config={"peft_type": "LORA", "r": True}), "parts[2].adapter_config: adapter_config.r must be a positive integer"),
        # Issue 15: msgspec's patterns are searched, and "$" matches before a final newline.
        (with_part(0, name="memories\n"), "parts[0].name: Expected `str` matching regex '[A-Za-z0-9][A-Za-z0-9._-]*'"),
        (with_part(1, token_ids_sha256="3" * 64 + "\n"), "parts[1].token_ids_sha256: Expected `str` matching regex '[0-9a-f]{64}'"),
        (with_part(1, model=FINGERPRINT | {"tokenizer_sha256": "2" * 64 + "\n"}), "parts[1].model.tokenizer_sha256: Expected `str` matching regex '[0-9a-f]{64}'"),
        (with_part(2, base_model=FINGERPRINT | {"config_sha256": "1" * 64 + "\n"}), "parts[2].base_model.config_sha256: Expected `str` matching regex '[0-9a-f]{64}'"),
        # Parts that would install to one path (a.msgpack the file, a.msgpack/ the adapter).
        (with_part(2, name="memories.msgpack"), "part names 'memories' and 'memories.msgpack' would install to the same path: names must differ after case folding and without a .msgpack, .safetensors or .bin suffix"),
        (with_part(2, name="KV"), "part names 'kv' and 'KV' would install to the same path: names must differ after case folding and without a .msgpack, .safetensors or .bin suffix"),
        ({k: v for k, v in document().items() if k != "parts"}, "parts: required field is missing"),
    ],
    ids=["name-no-slash", "name-confusable", "version", "created-naive", "specifier", "dependency-name", "digest", "size", "part-name-path", "part-names-repeat", "two-sizes", "peft-type", "lora-rank", "lora-rank-bool", "part-name-newline", "token-ids-sha-newline", "tokenizer-sha-newline", "config-sha-newline", "installed-name-clash", "case-clash", "no-parts"],
)  # fmt: skip
def test_schema_violations_are_named(doc: dict[str, Any], message: str) -> None:
    with raises_exactly(ManifestError, f"invalid manifest: {message}"):
        decode_manifest(encode(doc))


def test_the_first_schema_problem_is_reported() -> None:
    # Validation stops at the first problem (msgspec): one clear line, not a list.
    doc = document(version="x", created="never")
    del doc["name"]
    with raises_exactly(
        ManifestError, "invalid manifest: created: Invalid RFC3339 encoded datetime"
    ):
        decode_manifest(encode(doc))
    doc["created"] = "2026-01-01T00:00:00Z"
    with raises_exactly(ManifestError, "invalid manifest: name: required field is missing"):
        decode_manifest(encode(doc))
    doc["name"] = "acme/facts"
    with raises_exactly(
        ManifestError,
        (
            "invalid manifest: version: invalid version 'x': expected SemVer MAJOR.MINOR.PATCH like 1.2.3"
        ),
    ):
        decode_manifest(encode(doc))


@pytest.mark.parametrize(
    ("where", "value", "message"),
    [
        ((1, "model"), FINGERPRINT | {"num_layers": 0}, "parts[1].model.num_layers: Expected `int` >= 1"),
        ((1, "sources"), [{"id": "m1"}], "parts[1].sources[0].version: required field is missing"),
        ((1, "dtype"), "F12", "parts[1].dtype: Invalid enum value 'F12'"),
        ((2, "adapter_config"), [], "parts[2].adapter_config: Expected `object`, got `array`"),
        ((0, "size"), "10", "parts[0].size: Expected `int`, got `str`"),
    ],
    ids=["nested-model", "nested-list", "literal", "object", "no-coercion"],
)  # fmt: skip
def test_nested_problems_name_their_path(where: tuple[int, str], value: Any, message: str) -> None:
    index, field = where
    with raises_exactly(ManifestError, f"invalid manifest: {message}"):
        decode_manifest(encode(with_part(index, **{field: value})))


def test_a_part_that_is_not_an_object_is_named() -> None:
    doc = document()
    doc["parts"][1] = "kv"
    with raises_exactly(ManifestError, "invalid manifest: parts[1]: Expected `object`, got `str`"):
        decode_manifest(encode(doc))


def test_limits_are_settings() -> None:
    data = encode(document())
    with raises_exactly(
        ManifestError,
        f"manifest is {len(data)} bytes, over the {len(data) - 1}-byte limit",
    ):
        decode_manifest(data, Limits(max_manifest_bytes=len(data) - 1))
    with raises_exactly(ManifestError, "invalid manifest: 3 parts, limit 2"):
        decode_manifest(data, Limits(max_parts=2))
    with raises_exactly(
        ManifestError,
        "invalid manifest: part 'kv' declares 100 bytes, over the 99-byte limit",
    ):
        decode_manifest(data, Limits(max_blob_bytes=99))


def test_manifest_from_document_rejects_non_objects() -> None:
    with pytest.raises(ManifestError):
        manifest_from_document(["not", "a", "manifest"])


def test_fingerprint_digest_ignores_names_but_not_identity() -> None:
    base = from_document(FINGERPRINT, ModelFingerprint)
    renamed = from_document(
        FINGERPRINT | {"model_id": "mirror/model", "revision": "r2"}, ModelFingerprint
    )
    other = from_document(FINGERPRINT | {"num_layers": 3}, ModelFingerprint)
    extended = from_document(FINGERPRINT | {"weights_sha256": "4" * 64}, ModelFingerprint)
    assert base.digest == renamed.digest
    assert base.digest != other.digest
    # An extension field is part of the identity, like any field (MIP-1 §7.2).
    assert base.digest != extended.digest


CARD_README = "# Facts\n\nWhat this cube knows, with a [link](https://example.org) and ünïcödé."


def test_card_round_trips_through_the_exact_bytes() -> None:
    card = {"readme": CARD_README, "homepage": "https://example.org/facts", "repository": "http://git.example.org/facts"}  # fmt: skip
    manifest = decode_manifest(encode(document(card=card)))
    assert manifest.card is not None
    assert (manifest.card.readme, manifest.card.homepage) == (CARD_README, card["homepage"])
    assert json.loads(encode_manifest(manifest))["card"] == card
    # Optional, and left out of the canonical bytes when absent.
    assert "card" not in json.loads(encode_manifest(decode_manifest(encode(document()))))


def test_card_readme_may_be_exactly_the_limit() -> None:
    readme = "é" * MAX_CARD_README_CHARS  # characters, not bytes, count
    assert decode_manifest(encode(document(card={"readme": readme}))).card.readme == readme  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("card", "message"),
    [
        ({"readme": "x" * (MAX_CARD_README_CHARS + 1)}, f"card.readme: Expected `str` of length <= {MAX_CARD_README_CHARS}"),
        ({"readme": 7}, "card.readme: Expected `str`, got `int`"),
        ({"homepage": "ftp://example.org"}, "card.homepage: Expected `str` matching regex '^https?://\\\\S+$'"),
        ({"homepage": "javascript:alert(1)"}, "card.homepage: Expected `str` matching regex '^https?://\\\\S+$'"),
        ({"homepage": "HTTPS://example.org"}, "card.homepage: Expected `str` matching regex '^https?://\\\\S+$'"),
        ({"homepage": "https://example.org\n"}, "card.homepage: must not contain spaces, control characters or backslashes"),
        ({"repository": "https://example.org\\@evil.example"}, "card.repository: must not contain spaces, control characters or backslashes"),
        ({"repository": "https://example.org@evil.example/"}, "card.repository: must not carry a user name or password"),
        ({"homepage": "https://example.org:99999/"}, "card.homepage: is not a valid URL (Port out of range 0-65535)"),
        ({"homepage": "https:///path"}, "card.homepage: must name a host"),
        ({"homepage": "https://" + "a" * MAX_CARD_URL_CHARS}, f"card.homepage: Expected `str` of length <= {MAX_CARD_URL_CHARS}"),
        ("README", "card: Expected `object | null`, got `str`"),
    ],
    ids=["readme-too-long", "readme-not-text", "ftp", "javascript", "upper-case-scheme", "trailing-newline", "backslash", "userinfo", "port", "no-host", "url-too-long", "not-object"],
)  # fmt: skip
def test_bad_cards_are_refused_by_field(card: Any, message: str) -> None:
    with raises_exactly(ManifestError, f"invalid manifest: {message}"):
        decode_manifest(encode(document(card=card)))


@pytest.mark.parametrize("version", ["01.0", "1.00", "1.0\n", "+1.0", "1.0.0", "١.0"])
def test_mip_version_is_major_dot_minor_without_leading_zeros(version: str) -> None:
    with pytest.raises(ManifestError, match=r"'mip_version' must be a string like '1\.0'"):
        decode_manifest(encode(document(mip_version=version)))


@pytest.mark.parametrize("duplicated", [False, True], ids=["distinct", "one-repeat"])
def test_a_one_mebibyte_object_of_keys_decodes_in_linear_time(duplicated: bool) -> None:
    """MIP-1 §5.1, §9: the duplicate-key check is linear (issue 15: quadratic took minutes).

    ~85,000 keys in 1 MiB: a linear check takes milliseconds, the quadratic one (``list.count``
    per key) minutes, so the bound below separates them even on a loaded machine.
    """
    import time

    doc = document()
    keys = {f"k{index:06x}": 0 for index in range(85_000)}
    data = json.dumps({**doc, "x": keys}, separators=(",", ":")).encode()
    if duplicated:
        data = data[:-2] + b',"k000000":1}}'
    assert len(data) <= Limits().max_manifest_bytes
    start = time.perf_counter()
    if duplicated:
        with pytest.raises(ManifestError, match="duplicate JSON keys: k000000"):
            decode_manifest(data)
    else:
        assert decode_manifest(data).name == doc["name"]
    assert time.perf_counter() - start < 5.0
