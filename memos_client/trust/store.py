"""The keys `memos` trusts, and the key each namespace is pinned to (see docs/install.md).

- ``$MEMOS_HOME/keys/*.pub``: the user's own keys, trusted for every namespace;
- ``$MEMOS_HOME/trust/*.pub``: keys added with ``memos trust add KEY.pub``, trusted for every
  namespace;
- ``$MEMOS_HOME/trust/pins.json``: per namespace, the keys its cubes must be signed by. A
  namespace is pinned on first use (to the key set the registry serves for it, MIP-1 §6.4), by a
  lockfile first met, or explicitly (``memos trust add KEY.pub --namespace NS``); a pin grows by
  endorsements signed by a pinned key and shrinks by revocations. A cube from a pinned namespace signed by
  any other key is refused, loudly: that is how a compromised or hijacked namespace shows up.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from memos_client.config import memos_home, private_dir
from memos_client.errors import UsageError
from memos_client.trust.atomic_files import write_atomic
from memos_client.trust.keystore import own_public_keys
from mip.errors import InvalidKeyError
from mip.keys import PublicKey

PINS_FILE = "pins.json"


def trust_dir(home: Path | None = None) -> Path:
    """Directory of trusted public keys (``KEYID.pub``) and namespace pins."""
    return (home or memos_home()) / "trust"


def trusted_keys(home: Path | None = None) -> dict[str, PublicKey]:
    """Every key this user trusts for any namespace, by key id."""
    keys = own_public_keys(home)
    directory = trust_dir(home)
    if directory.is_dir():
        for path in sorted(directory.glob("*.pub")):
            # A key the user meant to trust and that cannot be read is refused loudly: ignoring
            # it would turn into a puzzling "not trusted" at the next install.
            try:
                key = PublicKey.from_pem(path.read_bytes())
            except (InvalidKeyError, OSError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) else str(exc)
                raise UsageError(
                    f"{path} is not a readable public key ({reason}); remove it, or replace it "
                    "with the key's PEM (memos trust add KEY.pub)"
                ) from exc
            keys[key.key_id] = key
    return keys


def add_trusted_key(key: PublicKey, home: Path | None = None) -> Path:
    """Trust ``key`` for every namespace; return the file written."""
    directory = trust_dir(home)
    private_dir(directory)
    path = directory / f"{key.key_id}.pub"
    write_atomic(path, key.to_pem())
    return path


def remove_trusted_key(key_id_prefix: str, home: Path | None = None) -> list[str]:
    """Stop trusting the keys whose id starts with ``key_id_prefix``; return their ids."""
    directory = trust_dir(home)
    removed = []
    if directory.is_dir():
        # Compared by name, not as a glob pattern: a prefix like `*` or `../x` matches nothing.
        for path in sorted(directory.glob("*.pub")):
            if path.stem.startswith(key_id_prefix):
                path.unlink()
                removed.append(path.stem)
    return removed


class NamespacePin(msgspec.Struct):
    """The keys a namespace's cubes must be signed by."""

    namespace: str
    keys: dict[str, str]  # key id -> public key PEM
    source: str  # "first-use", "lockfile", "rotation" or "explicit"
    pinned_at: str = msgspec.field(
        default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds")
    )
    #: key id -> [revoked at, reason]: keys the publisher revoked (MIP-1 §6.4), kept so that an
    #: offline install can still say why a version signed only by one is refused.
    revoked: dict[str, list[str]] = msgspec.field(default_factory=dict)

    def public_keys(self) -> dict[str, PublicKey]:
        """The pinned keys, by key id."""
        return {key_id: PublicKey.from_pem(pem.encode()) for key_id, pem in self.keys.items()}

    def to_document(self) -> dict[str, Any]:
        """The JSON form stored in ``pins.json``."""
        document: dict[str, Any] = {
            "keys": self.keys,
            "source": self.source,
            "pinned_at": self.pinned_at,
        }
        if self.revoked:
            document["revoked"] = self.revoked
        return document


def load_pins(home: Path | None = None) -> dict[str, NamespacePin]:
    """Every namespace pin, by namespace (normal form).

    Raises :class:`UsageError` naming the file when it is not JSON, or not of the shape
    :func:`save_pins` writes (``{"namespaces": {NS: {"keys": {KEY_ID: PEM}, ...}}}``).
    """
    path = trust_dir(home) / PINS_FILE
    try:
        document = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return {}
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise UsageError(f"{path} is not valid JSON ({exc}); fix or remove it") from exc
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc}; fix or remove it") from exc
    namespaces = document.get("namespaces", {}) if isinstance(document, dict) else None
    if not isinstance(namespaces, dict):
        raise UsageError(
            f'{path} is not a pins file (expected {{"namespaces": {{NAMESPACE: PIN}}}}); '
            "fix or remove it (installs pin namespaces again on first use)"
        )
    pins = {}
    for namespace, item in namespaces.items():
        problem = _pin_problem(item)
        if problem is not None:
            raise UsageError(
                f"{path}: the pin of namespace {namespace!r} {problem}; fix or remove the file "
                "(installs pin namespaces again on first use)"
            )
        pins[namespace] = NamespacePin(
            namespace,
            dict(item["keys"]),
            str(item.get("source", "explicit")),
            str(item["pinned_at"]),
            {str(k): [str(v) for v in value] for k, value in item.get("revoked", {}).items()},
        )
    return pins


def _pin_problem(item: Any) -> str | None:
    """What is wrong with one stored pin, or ``None``."""
    if not isinstance(item, dict):
        return 'is not an object with "keys" and "pinned_at"'
    keys = item.get("keys")
    if not isinstance(keys, dict) or not keys:
        return 'has no "keys" object (key id -> public key PEM)'
    for key_id, pem in keys.items():
        if not isinstance(pem, str):
            return f"has a key {key_id!r} that is not a PEM string"
        try:
            key = PublicKey.from_pem(pem.encode())
        except InvalidKeyError:
            return f"has a key {key_id!r} that is not a valid public key"
        if key.key_id != key_id:
            return f"has a key stored as {key_id!r} whose id is {key.key_id}"
    if not isinstance(item.get("pinned_at"), str):
        return 'has no "pinned_at" date'
    if not isinstance(item.get("source", "explicit"), str):
        return 'has a "source" that is not a string'
    revoked = item.get("revoked", {})
    if not isinstance(revoked, dict) or not all(
        isinstance(v, list) and len(v) == 2 and all(isinstance(x, str) for x in v)
        for v in revoked.values()
    ):
        return 'has a "revoked" that is not an object of key id -> [time, reason]'
    return None


def save_pins(pins: dict[str, NamespacePin], home: Path | None = None) -> None:
    """Write ``pins.json`` atomically."""
    directory = trust_dir(home)
    private_dir(directory)
    document = {"namespaces": {ns: pin.to_document() for ns, pin in sorted(pins.items())}}
    write_atomic(directory / PINS_FILE, json.dumps(document, indent=2, sort_keys=True).encode())
