"""Key endorsements and key-set growth (MIP-1 §6.4), one test per rule."""

from __future__ import annotations

import pytest

from mip.dsse import sign
from mip.errors import EnvelopeError, SignatureError
from mip.key_statements import (
    ServedKey,
    check_endorsement,
    endorsement_payload,
    grow_key_set,
    sign_endorsement,
)
from mip.keys import SigningKey

WHEN = "2026-12-07T00:00:00+00:00"
K1, K2, K3 = (SigningKey.generate() for _ in range(3))


def _endorse(key: SigningKey, by: SigningKey, namespace: str = "alice") -> bytes:
    return sign_endorsement(namespace, key.public_key, [by], WHEN).to_json()


def test_an_endorsement_verifies_under_its_signer_only() -> None:
    data = _endorse(K2, K1)
    assert check_endorsement(data, "alice", K2.public_key, {K1.public_key.key_id: K1.public_key})
    with pytest.raises(SignatureError):
        check_endorsement(data, "alice", K2.public_key, {K3.public_key.key_id: K3.public_key})


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (_endorse(K2, K1, "bob"), "is for namespace 'bob', not 'alice'"),
        (_endorse(K3, K1), "names key"),
        (sign(b"{}", [K1], "application/vnd.mip.key-endorsement.v1+json").to_json(), "not a"),
        (sign(endorsement_payload("alice", K2.public_key, WHEN), [K1]).to_json(), "payloadType"),
    ],
)
def test_anything_but_an_endorsement_of_this_key_for_this_namespace_is_refused(
    data: bytes, problem: str
) -> None:
    with pytest.raises(EnvelopeError, match=problem):
        check_endorsement(data, "alice", K2.public_key, {K1.public_key.key_id: K1.public_key})


def test_the_set_follows_a_chain_of_rotations_and_skips_unendorsed_keys() -> None:
    pinned = {K1.public_key.key_id: K1.public_key}
    served = [
        ServedKey(K1.public_key),
        ServedKey(K3.public_key, _endorse(K3, K2), added_at="2"),  # endorsed by K2, listed first
        ServedKey(K2.public_key, _endorse(K2, K1), added_at="1"),
        ServedKey(SigningKey.generate().public_key, None, added_at="3"),
    ]
    change = grow_key_set("alice", pinned, served)
    assert set(change.added) == {K2.public_key.key_id, K3.public_key.key_id}
    assert len(change.unendorsed) == 1
    assert set(change.active) == {K1.public_key.key_id, K2.public_key.key_id, K3.public_key.key_id}


def test_a_revoked_key_leaves_and_endorses_only_what_came_before_its_revocation() -> None:
    pinned = {K1.public_key.key_id: K1.public_key}
    revoked_k1 = ServedKey(K1.public_key, None, "2026-01-02", "stolen", "2026-01-01")
    before = ServedKey(K2.public_key, _endorse(K2, K1), added_at="2026-01-01T12")
    after = ServedKey(K3.public_key, _endorse(K3, K1), added_at="2026-01-03")
    change = grow_key_set("alice", pinned, [revoked_k1, before, after])
    assert change.revoked == {K1.public_key.key_id: ("2026-01-02", "stolen")}
    assert set(change.active) == {K2.public_key.key_id}
    assert change.unendorsed == (K3.public_key.key_id,)
