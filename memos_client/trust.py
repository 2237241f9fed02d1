"""The keys `memos` trusts: the user's own keys plus those added to ``$MEMOS_HOME/trust``."""

from __future__ import annotations

from pathlib import Path

from memos_client.config import memos_home
from memos_client.keystore import own_public_keys
from mip.errors import InvalidKeyError
from mip.keys import PublicKey


def trust_dir(home: Path | None = None) -> Path:
    """Directory of trusted public keys (``KEYID.pub``)."""
    return (home or memos_home()) / "trust"


def trusted_keys(home: Path | None = None) -> dict[str, PublicKey]:
    """Every key this user trusts, by key id."""
    keys = own_public_keys(home)
    directory = trust_dir(home)
    if directory.is_dir():
        for path in sorted(directory.glob("*.pub")):
            try:
                key = PublicKey.from_pem(path.read_bytes())
            except InvalidKeyError:
                continue  # one unreadable file must not block the others
            keys[key.key_id] = key
    return keys
