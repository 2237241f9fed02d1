"""Deciding whether a cube's signature is acceptable: trusted keys, namespace pins, first use.

The rules (docs/install.md, "Trust"):

1. An unsigned envelope is refused unless the user passed ``--allow-unsigned``.
2. A namespace pinned (in ``$MEMOS_HOME/trust/pins.json`` or in the lockfile being synced) accepts
   only its pinned keys. A signature by any other key is refused loudly, naming both keys.
3. An unpinned namespace accepts a key the user trusts, or, on first use, a key the registry
   lists for that namespace; the namespace is then pinned to that key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import msgspec

from memos_client.errors import TrustError
from memos_client.trust.store import NamespacePin
from mip.dsse import Envelope, verify
from mip.errors import SignatureError
from mip.keys import PublicKey

#: Fetches the public keys a registry lists for a namespace (None when there is no registry).
KeySource = Callable[[str], Mapping[str, PublicKey]]


class SignerCheck(msgspec.Struct, frozen=True):
    """The outcome: the key ids that verified, and a new pin to record (first use)."""

    key_ids: tuple[str, ...]
    new_pin: NamespacePin | None = None


def _short(key_id: str) -> str:
    return key_id[:16]


def check_signers(
    envelope: Envelope,
    cube: str,
    *,
    trusted: Mapping[str, PublicKey],
    pins: Mapping[str, NamespacePin],
    lock_pins: Mapping[str, tuple[str, ...]] | None = None,
    registry_keys: KeySource | None = None,
    allow_unsigned: bool = False,
) -> SignerCheck:
    """Apply the trust rules to the envelope of ``cube`` (``ns/name version`` for messages)."""
    namespace = cube.partition("/")[0]
    if not envelope.signatures:
        if allow_unsigned:
            return SignerCheck(())
        raise TrustError(
            f"{cube} is unsigned; refusing it. Install unsigned cubes only from sources you "
            "trust, with --allow-unsigned"
        )
    signed_by = ", ".join(_short(key_id) for key_id in envelope.key_ids) or "unknown"
    locked = (lock_pins or {}).get(namespace)
    pin = pins.get(namespace)
    if locked is not None or pin is not None:
        allowed: dict[str, PublicKey] = {}
        if pin is not None:
            allowed.update(pin.public_keys())
        if locked is not None:
            # The lockfile narrows what is accepted; its keys must also be known to be usable.
            known = {**trusted, **allowed}
            if registry_keys is not None and not set(locked) <= set(known):
                known.update(registry_keys(namespace))
            allowed = {key_id: known[key_id] for key_id in locked if key_id in known}
        try:
            return SignerCheck(tuple(verify(envelope, allowed)))
        except SignatureError:
            expected = ", ".join(_short(k) for k in (locked or tuple(allowed))) or "none"
            where = (
                "the lockfile"
                if locked is not None
                else "first use"
                if pin and pin.source == "first-use"
                else "`memos trust add`"
            )
            raise TrustError(
                f"SIGNING KEY CHANGED for namespace {namespace!r}: {cube} is signed by {signed_by}, "
                f"but the namespace is pinned to {expected} (from {where}). Refusing to install. "
                f"If the publisher really rotated keys, check the new key out of band, then run "
                f"`memos trust add NEW.pub --namespace {namespace}`"
            ) from None
    try:
        return SignerCheck(tuple(verify(envelope, trusted)))
    except SignatureError:
        pass
    if registry_keys is not None:
        listed = registry_keys(namespace)
        try:
            key_ids = tuple(verify(envelope, listed))
        except SignatureError:
            key_ids = ()
        if key_ids:
            pin = NamespacePin(
                namespace,
                {key_id: listed[key_id].to_pem().decode() for key_id in key_ids},
                "first-use",
            )
            return SignerCheck(key_ids, pin)
        raise TrustError(
            f"{cube} is signed by {signed_by}, which is neither trusted nor a key the registry "
            f"lists for namespace {namespace!r}; refusing it"
        )
    raise TrustError(
        f"{cube} is signed by {signed_by}, which you do not trust; if you trust its publisher, "
        f"run `memos trust add KEY.pub --namespace {namespace}` with their public key"
    )
