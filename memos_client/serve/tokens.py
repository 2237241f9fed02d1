"""Bearer tokens of ``memos serve``: one per principal, in ``$MEMOS_HOME/serve/tokens.json``.

The file is created with mode 0600 (owner read/write only) and replaced by one rename; a file
that others may read is refused, as ssh refuses a private key others can read. The server keeps
SHA-256 digests of the tokens and compares digests in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import stat
from pathlib import Path

from memos_client.config import private_dir
from memos_client.errors import UsageError

TOKEN_FILE = Path("serve") / "tokens.json"
#: The token's visible prefix: a leaked one is easy to find in logs and code.
PREFIX = "memos_"


def token_path(home: Path) -> Path:
    """Where the tokens of the runtime at ``home`` are kept."""
    return home / TOKEN_FILE


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


class TokenBook:
    """The principals' tokens of one runtime home."""

    def __init__(self, home: Path) -> None:
        self.path = token_path(home)
        self._stamp: tuple[int, int] | None = None
        self._tokens: dict[str, str] = {}
        self._digests: dict[str, bytes] = {}
        self._reload()

    def _reload(self) -> None:
        """Read the file again if it changed (``memos serve token --rotate`` while serving)."""
        try:
            info = self.path.stat()
        except FileNotFoundError:
            self._stamp, self._tokens, self._digests = None, {}, {}
            return
        stamp = (info.st_mtime_ns, info.st_size)
        if stamp == self._stamp:
            return
        self._tokens = self._read(info)
        self._digests = {principal: _digest(token) for principal, token in self._tokens.items()}
        self._stamp = stamp

    def _read(self, info: os.stat_result) -> dict[str, str]:
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise UsageError(
                f"{self.path} may be read by other users (mode {stat.S_IMODE(info.st_mode):o}): "
                f"run `chmod 600 {self.path}`, or `memos serve token --rotate` to replace it"
            )
        try:
            document = json.loads(self.path.read_text("utf-8"))
            tokens = document["tokens"]
            if not isinstance(tokens, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in tokens.items()
            ):
                raise TypeError("tokens is not a mapping of principal to token")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UsageError(
                f"{self.path} is not a token file ({exc}): move it away and run "
                "`memos serve token` to create a new one"
            ) from exc
        return dict(tokens)

    def _write(self) -> None:
        private_dir(self.path.parent)
        temporary = self.path.with_name(f".tokens.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump({"version": 1, "tokens": self._tokens}, handle, indent=2, sort_keys=True)
        os.replace(temporary, self.path)
        self._stamp = None
        self._reload()

    def token_for(self, principal: str, *, rotate: bool = False) -> str:
        """The principal's token, created (or, with ``rotate``, replaced) and saved."""
        self._reload()
        if rotate or principal not in self._tokens:
            self._tokens[principal] = PREFIX + secrets.token_urlsafe(32)
            self._write()
        return self._tokens[principal]

    def principal_for(self, token: str) -> str | None:
        """The principal a presented token belongs to, or None."""
        self._reload()
        presented = _digest(token)
        found = None
        for principal, digest in self._digests.items():
            if hmac.compare_digest(presented, digest):
                found = principal
        return found
