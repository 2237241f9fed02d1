"""Deciding whether a cube's signature is acceptable: trusted keys, namespace pins, first use.

The rules (docs/install.md, "Trust"):

1. An unsigned envelope is refused unless the user passed ``--allow-unsigned``.
2. A namespace pinned in ``$MEMOS_HOME/trust/pins.json`` accepts only its pinned keys. A signature
   by any other key is refused loudly, naming both keys. The lockfile being synced can only narrow
   that set, never widen or replace it (a file is not the user).
3. An unpinned namespace the lockfile names accepts only the lockfile's keys, then is pinned to them.
4. Any other unpinned namespace accepts a key the user trusts, or, on first use, a key the registry
   lists for that namespace; the namespace is then pinned to the whole key set the registry
   serves (MIP-1 §6.4), so its cubes signed by its other keys install in any order.
5. Whatever the pins say, a cube signed only by keys the publisher revoked is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import msgspec

from memos_client.errors import TrustError
from memos_client.trust.store import NamespacePin
from mip.dsse import Envelope, verify
from mip.errors import SignatureError
from mip.keys import PublicKey

#: A file's trust for one namespace (a lockfile's ``[trust]``): key id -> the key, or ``None``
#: where the file names only the id (an older lockfile).
LockKeys = Mapping[str, PublicKey | None]

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
    lock_keys: Mapping[str, LockKeys] | None = None,
    registry_keys: KeySource | None = None,
    allow_unsigned: bool = False,
    revoked: Mapping[str, tuple[str, str]] | None = None,
) -> SignerCheck:
    """Apply the trust rules to the envelope of ``cube`` (``ns/name version`` for messages).

    ``revoked`` maps the namespace's revoked key ids to (when, reason) (MIP-1 §6.4).
    """
    namespace = cube.partition("/")[0]
    if not envelope.signatures:
        if allow_unsigned:
            return SignerCheck(())
        raise TrustError(
            f"{cube} is unsigned; refusing it. Install unsigned cubes only from sources you "
            "trust, with --allow-unsigned"
        )
    revoked = revoked or {}
    if envelope.key_ids and all(key_id in revoked for key_id in envelope.key_ids):
        key_id = envelope.key_ids[0]
        when, reason = revoked[key_id]
        raise TrustError(
            f"{cube} is signed only by key {_short(key_id)}, which the publisher of namespace "
            f"{namespace!r} revoked on {when} (reason: {reason or 'none given'}); refusing it. "
            "A revoked key's signatures are no longer trusted: ask the publisher for a version "
            f"signed by an active key (`memos key list {namespace}` shows them)"
        )
    signed_by = ", ".join(_short(key_id) for key_id in envelope.key_ids) or "unknown"
    locked = (lock_keys or {}).get(namespace)
    pin = pins.get(namespace)
    if pin is not None:
        return _check_pinned(envelope, cube, namespace, pin, locked, signed_by)
    if locked is not None:
        return _check_locked(envelope, cube, namespace, locked, trusted, registry_keys, signed_by)
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
            # First use pins the key SET as served, not only this cube's signer (MIP-1 §6.4):
            # the namespace's other cubes may be signed by its other keys.
            pin = NamespacePin(
                namespace,
                {key_id: key.to_pem().decode() for key_id, key in sorted(listed.items())},
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


def _where(pin: NamespacePin) -> str:
    return {
        "first-use": "first use",
        "lockfile": "a lockfile, on first use",
        "rotation": "first use, then a rotation the publisher signed",
    }.get(pin.source, "`memos trust add`")


def _check_pinned(
    envelope: Envelope,
    cube: str,
    namespace: str,
    pin: NamespacePin,
    locked: LockKeys | None,
    signed_by: str,
) -> SignerCheck:
    """A pinned namespace: only its pinned keys, narrowed (never widened) by the lockfile."""
    allowed = pin.public_keys()
    if locked is not None:
        narrowed = {key_id: key for key_id, key in allowed.items() if key_id in locked}
        if not narrowed:
            # A file cannot replace what the user pinned: that is how a tampered lockfile
            # naming a hostile index and its key would otherwise get in (docs/install.md).
            raise TrustError(
                f"the lockfile trusts {', '.join(_short(k) for k in sorted(locked)) or 'no key'} "
                f"for namespace {namespace!r}, but you pinned it to "
                f"{', '.join(_short(k) for k in sorted(allowed))} (from {_where(pin)}); a lockfile "
                f"can only narrow your pins, never replace them. Refusing {cube}. If the "
                "publisher really rotated keys, check the new key out of band, then run "
                f"`memos trust add NEW.pub --namespace {namespace}`"
            )
        allowed = narrowed
    try:
        return SignerCheck(tuple(verify(envelope, allowed)))
    except SignatureError:
        expected = ", ".join(_short(k) for k in sorted(allowed))
        if not allowed:
            raise TrustError(
                f"{cube} is signed by {signed_by}, but every key namespace {namespace!r} was "
                f"pinned to ({', '.join(_short(k) for k in sorted(pin.revoked))}) has been revoked "
                "and no key you trust endorses a new one. Refusing to install. Check the "
                "publisher's new key out of band, then run "
                f"`memos trust add NEW.pub --namespace {namespace}`"
            ) from None
        narrowing = " (narrowed by the lockfile)" if locked is not None else ""
        raise TrustError(
            f"SIGNING KEY CHANGED for namespace {namespace!r}: {cube} is signed by {signed_by}, "
            f"but the namespace is pinned to {expected} (from {_where(pin)}){narrowing}. "
            "Refusing to install. If the publisher really rotated keys, check the new key out "
            f"of band, then run `memos trust add NEW.pub --namespace {namespace}`"
        ) from None


def _check_locked(
    envelope: Envelope,
    cube: str,
    namespace: str,
    locked: LockKeys,
    trusted: Mapping[str, PublicKey],
    registry_keys: KeySource | None,
    signed_by: str,
) -> SignerCheck:
    """An unpinned namespace the lockfile names: its keys, which become the namespace's pin."""
    known = {key_id: key for key_id, key in locked.items() if key is not None}
    missing = [key_id for key_id in locked if key_id not in known]
    if missing:
        known.update({k: trusted[k] for k in missing if k in trusted})
    if registry_keys is not None and [k for k in missing if k not in known]:
        served = registry_keys(namespace)
        known.update({k: served[k] for k in missing if k in served})
    try:
        key_ids = tuple(verify(envelope, known))
    except SignatureError:
        unknown = [k for k in locked if k not in known]
        if unknown:
            raise TrustError(
                f"{cube}: the lockfile trusts key(s) {', '.join(_short(k) for k in unknown)} "
                f"for namespace {namespace!r} by id only, and the key itself is not at hand "
                "(an older lockfile, offline); re-create the lockfile with `memos lock`, which "
                "records the public keys, or sync once online"
            ) from None
        raise TrustError(
            f"{cube} is signed by {signed_by}, but the lockfile trusts only "
            f"{', '.join(_short(k) for k in sorted(locked))} for namespace {namespace!r}; "
            "refusing it"
        ) from None
    pin = NamespacePin(
        namespace, {key_id: key.to_pem().decode() for key_id, key in known.items()}, "lockfile"
    )
    return SignerCheck(key_ids, pin)
