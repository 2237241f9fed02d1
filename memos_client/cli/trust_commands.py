"""``memos trust add|list|remove``: the signing keys installs accept, and namespace pins."""

from __future__ import annotations

from pathlib import Path

from memos_client.cli.app import arg, command, group
from memos_client.cli.options import JSON

TRUST = group("trust", "Manage trusted signing keys and namespace pins.")


@command("add", group=TRUST)
@arg("key_file", type=Path, help="The signer's public key (PEM).")
@arg("--namespace", help="Pin the key to this namespace instead of trusting it everywhere.")
@JSON
def add(key_file: Path, namespace: str | None, json_output: bool) -> None:
    """Trust a public key (for every namespace, or only for --namespace, replacing its pin)."""
    from memos_client.cli.output import print_json
    from memos_client.config import memos_home
    from memos_client.trust.keystore import load_public_key
    from memos_client.trust.store import NamespacePin, add_trusted_key, load_pins, save_pins
    from mip.names import validate_namespace

    key = load_public_key(key_file)
    if namespace is None:
        add_trusted_key(key)
        if json_output:
            print_json({"trusted": key.key_id, "namespace": None})
            return
        print(f"trusting key {key.key_id} for every namespace")
        return
    normal = validate_namespace(namespace)
    pins = load_pins()
    previous = pins.get(normal)
    keys = dict(previous.keys) if previous is not None and previous.source == "explicit" else {}
    keys[key.key_id] = key.to_pem().decode()
    pins[normal] = NamespacePin(normal, keys, "explicit")
    save_pins(pins, memos_home())
    if json_output:
        print_json({"trusted": key.key_id, "namespace": normal, "pinned": sorted(keys)})
        return
    print(f"namespace {normal!r} is pinned to key(s) {', '.join(k[:16] for k in keys)}")


@command("list", group=TRUST)
@JSON
def list_keys(json_output: bool) -> None:
    """Keys trusted everywhere, and each namespace's pinned keys."""
    from memos_client.cli.output import print_json
    from memos_client.trust.store import load_pins, trusted_keys

    keys = sorted(trusted_keys())
    pins = load_pins()
    if json_output:
        print_json(
            {
                "trusted": keys,
                "namespaces": {
                    ns: {"keys": sorted(p.keys), "source": p.source, "pinned_at": p.pinned_at}
                    for ns, p in sorted(pins.items())
                },
            }
        )
        return
    print("trusted for every namespace:")
    for key_id in keys:
        print(f"  {key_id}")
    print("namespace pins:")
    for namespace, pin in sorted(pins.items()):
        print(f"  {namespace}: {', '.join(sorted(pin.keys))} ({pin.source}, {pin.pinned_at})")


@command("remove", group=TRUST)
@arg("key_id", nargs="?", help="Key id (or a unique prefix of at least 8 characters).")
@arg("--namespace", help="Drop this namespace's pin (or one key of it).")
@JSON
def remove(key_id: str | None, namespace: str | None, json_output: bool) -> None:
    """Stop trusting a key, or drop a namespace pin (the next install pins again on first use)."""
    from memos_client.config import memos_home
    from memos_client.errors import NotFoundError, UsageError
    from memos_client.trust.store import load_pins, remove_trusted_key, save_pins
    from mip.names import validate_namespace

    if key_id is None and namespace is None:
        raise UsageError("name a key id, or --namespace NS to drop that namespace's pin")
    if key_id is not None and len(key_id) < 8:
        raise UsageError(f"key id prefix {key_id!r} is too short: give at least 8 characters")
    if key_id is not None:
        import re

        # A key id is hex; anything else would reach a file pattern (`*` removed every key,
        # `../x` a .pub file outside the trust directory).
        if not re.fullmatch(r"[0-9a-fA-F]{8,64}", key_id):
            raise UsageError(
                f"invalid key id {key_id!r}: give a key id as `memos trust list` shows it "
                "(hex), or a unique prefix of at least 8 characters"
            )
        key_id = key_id.lower()
    removed: list[str] = []
    pins = load_pins()
    targets = [validate_namespace(namespace)] if namespace else list(pins)
    for ns in targets:
        pin = pins.get(ns)
        if pin is None:
            continue
        doomed = [k for k in pin.keys if key_id is None or k.startswith(key_id)]
        for k in doomed:
            del pin.keys[k]
            removed.append(f"{k[:16]} (namespace {ns})")
        if not pin.keys:
            del pins[ns]
    save_pins(pins, memos_home())
    if key_id is not None and namespace is None:
        removed.extend(remove_trusted_key(key_id))
    if not removed:
        raise NotFoundError(
            f"no trusted key or pin matches {key_id or namespace!r}; see `memos trust list`"
        )
    if json_output:
        from memos_client.cli.output import print_json

        print_json({"removed": removed})
        return
    for item in removed:
        print(f"removed {item}")
