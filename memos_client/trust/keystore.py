"""The local key store: Ed25519 signing keys under ``$MEMOS_HOME/keys`` (``NAME.key`` + ``NAME.pub``)."""

from __future__ import annotations

import os
from contextlib import suppress
from pathlib import Path

from memos_client.config import memos_home, private_dir, private_file
from memos_client.errors import KeyStoreError, UsageError
from mip.errors import InvalidKeyError
from mip.keys import PublicKey, SigningKey


def keys_dir(home: Path | None = None) -> Path:
    """The directory holding the user's signing keys."""
    return (home or memos_home()) / "keys"


def _check_key_name(name: str) -> None:
    if not name or not all(c.isalnum() or c in "-_." for c in name) or name.startswith("."):
        raise UsageError(f"invalid key name {name!r}: use letters, digits, '-', '_' and '.'")


def generate_key(
    name: str = "default", *, force: bool = False, home: Path | None = None
) -> SigningKey:
    """Create a key pair; the private file is created with mode 0600 and never overwritten silently."""
    _check_key_name(name)
    directory = keys_dir(home)
    private_dir(directory)
    private_path, public_path = directory / f"{name}.key", directory / f"{name}.pub"
    if private_path.exists() and not force:
        raise KeyStoreError(
            f"a signing key named {name!r} already exists at {private_path}; "
            "pass --force to replace it or --name to create another"
        )
    key = SigningKey.generate()
    temp_path = directory / f".{name}.key.tmp"
    with suppress(FileNotFoundError):
        temp_path.unlink()
    descriptor = os.open(temp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key.to_pem())
    os.replace(temp_path, private_path)
    public_path.write_bytes(key.public_key.to_pem())
    private_file(public_path)
    return key


def load_signing_key(name_or_path: str = "default", home: Path | None = None) -> SigningKey:
    """Load a signing key by name from the key store, or from a PEM file path."""
    path = Path(name_or_path)
    if not (path.suffix in (".key", ".pem") or os.sep in name_or_path):
        _check_key_name(name_or_path)
        path = keys_dir(home) / f"{name_or_path}.key"
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise KeyStoreError(
            f"no signing key at {path}: run `memos keygen` first (or pass --key FILE)"
        ) from None
    try:
        return SigningKey.from_pem(data)
    except InvalidKeyError as exc:
        raise KeyStoreError(f"{path}: {exc}") from exc


def load_public_key(path: Path) -> PublicKey:
    """Load a PEM public key file (``memos verify --key``)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"public key file {path} does not exist") from None
    try:
        return PublicKey.from_pem(data)
    except InvalidKeyError as exc:
        raise UsageError(f"{path}: {exc}") from exc


def own_public_keys(home: Path | None = None) -> dict[str, PublicKey]:
    """The public halves of the user's own keys, by key id."""
    keys: dict[str, PublicKey] = {}
    directory = keys_dir(home)
    if directory.is_dir():
        for path in sorted(directory.glob("*.pub")):
            try:
                key = PublicKey.from_pem(path.read_bytes())
            except InvalidKeyError:
                continue  # a stray unreadable file must not block verification with the others
            keys[key.key_id] = key
    return keys
