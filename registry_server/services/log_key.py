"""The transparency log's signing key: a file the operator owns, never a database row.

The key is created on first start when the file is absent (an Ed25519 PKCS#8 PEM, mode 0600),
written to a temporary file and linked into place, so two processes starting at once on one data
directory end up with the same key: the second link fails and that process reads the winner's.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import tempfile
from functools import cached_property
from pathlib import Path

from mip.errors import InvalidKeyError
from mip.keys import SigningKey
from mip.transparency.checkpoint import Checkpoint, sign_checkpoint
from mip.transparency.note import NoteVerifier
from registry_server.settings import InvalidSettingsError, Settings

logger = logging.getLogger("registry_server")


class LogSigner:
    """The log's identity (origin, key) and the checkpoints it signs, the latest cached."""

    def __init__(self, key: SigningKey, origin: str) -> None:
        self.key = key
        self.origin = origin
        self._last: tuple[int, bytes, bytes] | None = None

    @cached_property
    def verifier(self) -> NoteVerifier:
        """The note verifier of the log key (clients pin its verifier key)."""
        return NoteVerifier.for_key(self.origin, self.key.public_key)

    def checkpoint(self, size: int, root: bytes) -> bytes:
        """The signed checkpoint of the tree of ``size`` entries with ``root``.

        Ed25519 and the body are deterministic, so every process signs the same bytes for the
        same tree: signing at read time never yields two checkpoints for one size.
        """
        last = self._last
        if last is not None and last[0] == size and last[1] == root:
            return last[2]
        note = sign_checkpoint(Checkpoint(self.origin, size, root), self.key)
        self._last = (size, root, note)
        return note


def default_origin(key: SigningKey) -> str:
    """The origin of a log whose operator set none: unique per key."""
    return f"memstore/log/{key.key_id[:16]}"


def load_log_signer(settings: Settings) -> LogSigner:
    """The log key of ``settings`` (created when absent) and the log's origin."""
    key = load_or_create_key(settings.resolved_log_key_file())
    return LogSigner(key, settings.log_origin or default_origin(key))


def load_or_create_key(path: Path) -> SigningKey:
    """The Ed25519 key in ``path``; a new one written there when the file does not exist."""
    if not path.exists():
        _create_key(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidSettingsError(
            f"cannot read the transparency log key {path} ({exc.strerror or exc}): check "
            "MEMSTORE_LOG_KEY_FILE and the file's permissions"
        ) from exc
    try:
        key = SigningKey.from_pem(data)
    except InvalidKeyError as exc:
        raise InvalidSettingsError(
            f"the transparency log key {path} is not an Ed25519 private key ({exc}): restore "
            "the registry's log key file (a new key would start a different log)"
        ) from exc
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        logger.warning("the transparency log key %s is readable by others: chmod 600 it", path)
    return key


def _create_key(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".log-key-")
        try:
            os.fchmod(descriptor, 0o600)
            with os.fdopen(descriptor, "wb") as stream:
                stream.write(SigningKey.generate().to_pem())
                stream.flush()
                os.fsync(stream.fileno())
            with contextlib.suppress(FileExistsError):  # another process created it: use theirs
                os.link(temporary, path)
        finally:
            os.unlink(temporary)
    except OSError as exc:
        raise InvalidSettingsError(
            f"cannot create the transparency log key {path} ({exc.strerror or exc}): pass a "
            "writable --data-dir or set MEMSTORE_LOG_KEY_FILE to an existing key"
        ) from exc
    logger.info("created the transparency log key %s (back it up with the database)", path)
