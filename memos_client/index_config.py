"""Which registry the client talks to and with which token: flags, environment, `memos login`.

Precedence: explicit arguments (``--index-url``, ``--token``), then ``MEMOS_INDEX_URL`` and
``MEMOS_TOKEN``, then ``$MEMOS_HOME/registry.json`` written by ``memos login`` (mode 0600).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from memos_client.config import memos_home
from memos_client.errors import UsageError

LOGIN_FILE = "registry.json"


@dataclass(frozen=True)
class IndexSettings:
    """The registry's base URL and the API token (``None`` for anonymous reads)."""

    index_url: str
    token: str | None


def login_path() -> Path:
    """Where ``memos login`` keeps the index URL and token."""
    return memos_home() / LOGIN_FILE


def _read_login() -> dict[str, str]:
    path = login_path()
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read {path}: {exc}; run 'memos login' again") from exc
    if not isinstance(document, dict):
        raise UsageError(f"{path} is not a JSON object; run 'memos login' again")
    return {key: value for key, value in document.items() if isinstance(value, str)}


def load_index_settings(index_url: str | None = None, token: str | None = None) -> IndexSettings:
    """Resolve the registry URL and token; raise :class:`UsageError` when no URL is configured."""
    stored = _read_login()
    url = index_url or os.environ.get("MEMOS_INDEX_URL") or stored.get("index_url")
    if not url:
        raise UsageError(
            "no registry configured: pass --index-url, set MEMOS_INDEX_URL, or run 'memos login'"
        )
    chosen_token = token or os.environ.get("MEMOS_TOKEN") or None
    if chosen_token is None and stored.get("index_url", "").rstrip("/") == url.rstrip("/"):
        # A stored token belongs to the registry it was stored for, never to another one.
        chosen_token = stored.get("token")
    return IndexSettings(url.rstrip("/"), chosen_token)


def save_login(index_url: str, token: str) -> Path:
    """Store URL and token for later commands, readable by the user only (0600)."""
    path = login_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=".registry-")
    try:
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            json.dump({"index_url": index_url.rstrip("/"), "token": token}, stream)
        Path(name).replace(path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return path
