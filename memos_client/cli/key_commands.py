"""``memos key register|list|revoke``: a namespace's signing keys on the registry (MIP-1 §6.4)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memos_client.cli.app import arg, command, flag, group
from memos_client.cli.options import INDEX_URL, JSON
from memos_client.cli.registry_commands import TOKEN, _client

if TYPE_CHECKING:
    from mip.keys import SigningKey
    from mip.registry_api import KeyInfo

KEY = group("key", "Register, list and revoke a namespace's signing keys on the registry.")


def _status(info: KeyInfo) -> str:
    if info.revoked_at is not None:
        return f"revoked {info.revoked_at} ({info.revocation_reason or 'no reason given'})"
    return "active, endorsed" if info.endorsement else "active"


def _key_json(info: KeyInfo) -> dict[str, Any]:
    return {
        "key_id": info.key_id,
        "added_at": info.added_at,
        "endorsed": info.endorsement is not None,
        "revoked_at": info.revoked_at,
        "revocation_reason": info.revocation_reason,
    }


def _own_signing_keys() -> list[SigningKey]:
    """The user's private keys in ``$MEMOS_HOME/keys`` (unreadable files are skipped)."""
    from memos_client.errors import KeyStoreError
    from memos_client.trust.keystore import keys_dir, load_signing_key

    found = []
    for path in sorted(keys_dir().glob("*.key")):
        try:
            found.append(load_signing_key(str(path)))
        except KeyStoreError:
            continue
    return found


@command("register", group=KEY)
@arg("namespace", help="The namespace whose key set the key joins.")
@arg(
    "--key",
    default="default",
    help="The key to register: a key name in $MEMOS_HOME/keys, a .key/.pem file, or a .pub file "
    "(default: %(default)s).",
)
@arg(
    "--endorse-with",
    action="append",
    default=[],
    metavar="KEY",
    help="A key already in the namespace's set that signs the endorsement (repeatable; default: "
    "every one of your keys that is).",
)
@flag(
    "--unendorsed",
    help="Register without an endorsement: homes that pinned the namespace will refuse the key "
    "until their users trust it by hand.",
)
@INDEX_URL
@TOKEN
@JSON
def register(
    namespace: str,
    key: str,
    endorse_with: list[str],
    unendorsed: bool,
    index_url: str | None,
    token: str | None,
    json_output: bool,
) -> None:
    """Register a signing key; once the namespace has keys, one of them endorses the new one."""
    from datetime import UTC, datetime

    from memos_client.cli.output import print_json
    from memos_client.errors import UsageError
    from memos_client.trust.keystore import load_public_key, load_signing_key
    from mip.key_statements import sign_endorsement
    from mip.names import validate_namespace

    normal = validate_namespace(namespace)
    public = (
        load_public_key(Path(key)) if key.endswith(".pub") else load_signing_key(key).public_key
    )
    with _client(index_url, token) as client:
        from memos_client.errors import NotFoundError

        try:
            listed = client.keys(normal)
        except NotFoundError:
            listed = []
        active = {i.key_id for i in listed if i.revoked_at is None and i.key_id != public.key_id}
        endorsement = None
        endorsers: list[str] = []
        if active and not unendorsed:
            candidates = (
                [load_signing_key(name) for name in endorse_with]
                if endorse_with
                else _own_signing_keys()
            )
            signers = [k for k in candidates if k.public_key.key_id in active]
            if not signers:
                raise UsageError(
                    f"namespace {normal!r} already has keys ({', '.join(k[:16] for k in active)}) "
                    "and none of yours is among them to endorse the new key: pass --endorse-with "
                    "KEY (a key of the set), or --unendorsed (homes that pinned the namespace "
                    "will then refuse the new key until their users trust it by hand)"
                )
            issued_at = datetime.now(UTC).isoformat(timespec="seconds")
            envelope = sign_endorsement(normal, public, signers, issued_at)
            endorsement = envelope.to_json().decode()
            endorsers = [k.public_key.key_id for k in signers]
        info = client.add_key(normal, public.to_pem().decode(), endorsement)
    if json_output:
        print_json({**_key_json(info), "namespace": normal, "endorsed_by": endorsers})
        return
    how = f" (endorsed by {', '.join(k[:16] for k in endorsers)})" if endorsers else ""
    print(f"registered key {info.key_id[:16]} for namespace {normal!r}{how}")


@command("list", group=KEY)
@arg("namespace", help="The namespace.")
@INDEX_URL
@JSON
def list_keys(namespace: str, index_url: str | None, json_output: bool) -> None:
    """A namespace's signing keys: active, endorsed, revoked (and why)."""
    from memos_client.cli.output import print_json
    from mip.names import validate_namespace

    normal = validate_namespace(namespace)
    with _client(index_url, None) as client:
        listed = client.keys(normal)
    if json_output:
        print_json({"namespace": normal, "keys": [_key_json(info) for info in listed]})
        return
    if not listed:
        print(f"namespace {normal!r} has no signing key yet", file=sys.stderr)
    for info in listed:
        print(f"{info.key_id}  added {info.added_at}  {_status(info)}")


@command("revoke", group=KEY)
@arg("namespace", help="The namespace.")
@arg("key_id", help="The key id (or a unique prefix of at least 8 characters).")
@arg("--reason", required=True, help="Why (shown to every user who meets the key).")
@INDEX_URL
@TOKEN
@JSON
def revoke(
    namespace: str,
    key_id: str,
    reason: str,
    index_url: str | None,
    token: str | None,
    json_output: bool,
) -> None:
    """Revoke a key: the registry refuses it for publishing, clients refuse versions signed only
    by it."""
    from memos_client.cli.output import print_json
    from memos_client.errors import NotFoundError, UsageError
    from mip.names import validate_namespace

    normal = validate_namespace(namespace)
    if len(key_id) < 8 or not all(c in "0123456789abcdef" for c in key_id.lower()):
        raise UsageError(
            f"invalid key id {key_id!r}: give a key id as `memos key list {normal}` shows it, or "
            "a unique prefix of at least 8 hex characters"
        )
    if not reason.strip():
        raise UsageError("--reason must say why the key is revoked")
    with _client(index_url, token) as client:
        matches = [i.key_id for i in client.keys(normal) if i.key_id.startswith(key_id.lower())]
        if not matches:
            raise NotFoundError(
                f"namespace {normal!r} has no key {key_id}; `memos key list {normal}` shows them"
            )
        if len(matches) > 1:
            raise UsageError(f"key id prefix {key_id!r} matches several keys: give more of it")
        info = client.revoke_key(normal, matches[0], reason.strip())
    if json_output:
        print_json({**_key_json(info), "namespace": normal})
        return
    print(
        f"revoked key {info.key_id[:16]} of namespace {normal!r}: the registry refuses it for "
        "publishing, and clients refuse versions signed only by it"
    )
