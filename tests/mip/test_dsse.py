"""DSSE envelopes (MIP-1 §6): PAE, signing, verification, and interoperability.

"Our envelopes verify with an independent DSSE verifier": securesystemslib's ``dsse.Envelope``
checks what mip signs, and mip checks what securesystemslib signs.
"""

from __future__ import annotations

import base64
import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from securesystemslib.dsse import Envelope as SslibEnvelope
from securesystemslib.exceptions import VerificationError
from securesystemslib.signer import CryptoSigner, SSlibKey  # type: ignore[attr-defined]

from mip.dsse import (
    MANIFEST_PAYLOAD_TYPE,
    Envelope,
    Signature,
    pae,
    parse_envelope,
    sign,
    verify,
)
from mip.errors import EnvelopeError, SignatureError
from mip.keys import PublicKey, SigningKey
from mip.limits import Limits
from tests.support import raises_exactly

ALICE = SigningKey.from_seed(bytes(range(32)))
BOB = SigningKey.from_seed(bytes(range(1, 33)))
PAYLOAD = b'{"mip_version":"1.0","name":"ns/cube"}'


def trust(*keys: SigningKey) -> dict[str, PublicKey]:
    return {key.key_id: key.public_key for key in keys}


def sslib_key(key: SigningKey) -> SSlibKey:
    # Our key id, so both sides name the key the same way.
    return SSlibKey.from_crypto(key.public_key.key, keyid=key.key_id)


def test_pae_matches_the_dsse_spec_vector() -> None:
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


@given(st.text(max_size=40), st.binary(max_size=200))
def test_pae_agrees_with_securesystemslib(payload_type: str, payload: bytes) -> None:
    # DSSE: lengths are byte counts of the UTF-8 payload type and of the payload.
    assert pae(payload_type, payload) == SslibEnvelope(payload, payload_type, {}).pae()


def test_our_envelope_verifies_with_securesystemslib() -> None:
    ours = sign(PAYLOAD, [ALICE, BOB]).to_json()
    theirs = SslibEnvelope.from_dict(json.loads(ours))
    assert theirs.payload == PAYLOAD
    assert theirs.payload_type == MANIFEST_PAYLOAD_TYPE
    accepted = theirs.verify([sslib_key(ALICE), sslib_key(BOB)], 2)
    assert set(accepted) == {ALICE.key_id, BOB.key_id}


def test_securesystemslib_rejects_our_envelope_when_tampered() -> None:
    document = json.loads(sign(PAYLOAD, [ALICE]).to_json())
    document["payload"] = base64.b64encode(PAYLOAD + b" ").decode()
    with pytest.raises(VerificationError):
        SslibEnvelope.from_dict(document).verify([sslib_key(ALICE)], 1)


def test_securesystemslib_envelope_verifies_with_ours() -> None:
    theirs = SslibEnvelope(PAYLOAD, MANIFEST_PAYLOAD_TYPE, {})
    for key in (ALICE, BOB):
        theirs.sign(CryptoSigner(key.key, sslib_key(key)))
    envelope = parse_envelope(json.dumps(theirs.to_dict()).encode())
    assert envelope.payload == PAYLOAD
    assert verify(envelope, trust(ALICE, BOB)) == [ALICE.key_id, BOB.key_id]
    assert verify(envelope, trust(BOB)) == [BOB.key_id]


def test_several_signatures_any_trusted_one_suffices() -> None:
    envelope = sign(PAYLOAD, [ALICE]).with_signature(BOB)
    assert envelope.key_ids == [ALICE.key_id, BOB.key_id]
    assert verify(envelope, trust(BOB)) == [BOB.key_id]
    assert verify(parse_envelope(envelope.to_json()), trust(ALICE, BOB)) == [
        ALICE.key_id,
        BOB.key_id,
    ]


def test_keyid_is_only_a_hint() -> None:
    # DSSE: a signature whose keyid names no trusted key still verifies under a trusted key.
    signed = sign(PAYLOAD, [ALICE])
    relabelled = Envelope(
        signed.payload_type, signed.payload, (Signature("unknown", signed.signatures[0].sig),)
    )
    assert verify(relabelled, trust(ALICE)) == [ALICE.key_id]


def test_unsigned_envelope_is_refused() -> None:
    envelope = sign(PAYLOAD, [])
    assert envelope.signatures == ()
    with raises_exactly(
        SignatureError, "the bundle is unsigned: its envelope carries no signature"
    ):
        verify(parse_envelope(envelope.to_json()), trust(ALICE))


def test_signature_by_an_untrusted_key_is_refused() -> None:
    with raises_exactly(
        SignatureError,
        (
            f"no signature verifies with a trusted key (signed by key ids: {BOB.key_id[:16]}); "
            "check the signer's public key"
        ),
    ):
        verify(sign(PAYLOAD, [BOB]), trust(ALICE))


def test_changed_payload_is_refused() -> None:
    signed = sign(PAYLOAD, [ALICE])
    changed = Envelope(signed.payload_type, PAYLOAD.replace(b"cube", b"cubf"), signed.signatures)
    with pytest.raises(SignatureError):
        verify(changed, trust(ALICE))


def test_payload_type_is_signed_and_checked() -> None:
    other = sign(PAYLOAD, [ALICE], payload_type="application/json")
    with raises_exactly(
        SignatureError,
        (
            "envelope payloadType is 'application/json', expected "
            "'application/vnd.memcube.manifest.v1+json'"
        ),
    ):
        verify(other, trust(ALICE))
    # Relabelling the type breaks the signature: PAE covers it.
    relabelled = Envelope(MANIFEST_PAYLOAD_TYPE, other.payload, other.signatures)
    with pytest.raises(SignatureError):
        verify(relabelled, trust(ALICE))


def test_writers_use_standard_padded_base64() -> None:
    # MIP-1 §6.2: "Writers MUST use standard base64 with padding; readers MUST also accept
    # URL-safe and unpadded base64."
    document = json.loads(sign(b"\xfb\xff\xfe?!", [ALICE]).to_json())
    for text in (document["payload"], document["signatures"][0]["sig"]):
        assert base64.b64decode(text, validate=True)
        assert len(text) % 4 == 0
        assert "-" not in text
        assert "_" not in text
    assert document["payload"].endswith("=")


def test_url_safe_unpadded_base64_is_accepted() -> None:
    signed = sign(b"\xfb\xff\xfe?", [ALICE])
    document = json.loads(signed.to_json())
    document["payload"] = base64.urlsafe_b64encode(signed.payload).decode().rstrip("=")
    document["signatures"][0]["sig"] = (
        base64.urlsafe_b64encode(signed.signatures[0].sig).decode().rstrip("=")
    )
    parsed = parse_envelope(json.dumps(document).encode())
    assert parsed.payload == signed.payload
    assert verify(parsed, trust(ALICE)) == [ALICE.key_id]


GOOD = json.loads(sign(PAYLOAD, [ALICE]).to_json())


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xff", "malformed envelope: not UTF-8 JSON ('utf-8' codec can't decode byte 0xff in position 0: invalid start byte)"),
        (b"[]", "malformed envelope: expected a JSON object"),
        (b'{"payloadType": 1}', "malformed envelope: 'payloadType' must be a string"),
        (json.dumps(GOOD | {"payload": "!!"}).encode(), "malformed envelope: 'payload' is not valid base64"),
        (json.dumps(GOOD | {"payload": 5}).encode(), "malformed envelope: 'payload' must be a base64 string"),
        (json.dumps(GOOD | {"signatures": {}}).encode(), "malformed envelope: 'signatures' must be a list"),
        (json.dumps(GOOD | {"signatures": ["x"]}).encode(), "malformed envelope: signature 0 must be an object"),
        (json.dumps(GOOD | {"signatures": [{"keyid": "k"}]}).encode(), "malformed envelope: 'sig' must be a base64 string"),
        (b'{"payloadType": "a", "payloadType": "b"}', "malformed envelope: duplicate JSON keys"),
        (b"[" * 100_000, "malformed envelope: not UTF-8 JSON (maximum recursion depth exceeded while decoding a JSON array from a unicode string)"),
    ],
    ids=["not-utf8", "not-object", "type", "payload-b64", "payload-type", "signatures", "signature-item", "sig", "duplicate-keys", "deep-nesting"],
)  # fmt: skip
def test_malformed_envelopes(data: bytes, message: str) -> None:
    with raises_exactly(EnvelopeError, message):
        parse_envelope(data)


def test_envelope_limits() -> None:
    data = sign(PAYLOAD, [ALICE, BOB]).to_json()
    with raises_exactly(EnvelopeError, f"envelope is {len(data)} bytes, over the 100-byte limit"):
        parse_envelope(data, Limits(max_envelope_bytes=100))
    with raises_exactly(EnvelopeError, "malformed envelope: 2 signatures, limit 1"):
        parse_envelope(data, Limits(max_signatures=1))


@given(st.binary(max_size=300))
def test_parse_envelope_raises_only_envelope_errors(data: bytes) -> None:
    with contextlib.suppress(EnvelopeError):
        parse_envelope(data)


signatures = st.builds(
    Signature, st.text(alphabet="0123456789abcdef", max_size=64), st.binary(min_size=1, max_size=64)
)


@given(st.text(max_size=60), st.binary(max_size=300), st.lists(signatures, max_size=16).map(tuple))
def test_envelope_json_round_trip(
    payload_type: str, payload: bytes, sigs: tuple[Signature, ...]
) -> None:
    envelope = Envelope(payload_type, payload, sigs)
    assert parse_envelope(envelope.to_json()) == envelope
