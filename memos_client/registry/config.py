"""Which registry the client talks to and with which token: flags, environment, `memos login`.

Precedence: explicit arguments (``--index-url``, ``--token``), then ``MEMOS_INDEX_URL`` and
``MEMOS_TOKEN``, then ``$MEMOS_HOME/registry.json`` written by ``memos login`` (mode 0600).

Every index URL and token passes :func:`check_index_url` and :func:`check_token` here, whichever
way it came, so each command refuses a bad one with the same one-line usage error (exit 2)
before any request is made.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import msgspec

from memos_client.config import memos_home
from memos_client.errors import UsageError

LOGIN_FILE = "registry.json"


class IndexSettings(msgspec.Struct, frozen=True):
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
    wrong = [key for key in ("index_url", "token") if not isinstance(document.get(key, ""), str)]
    if wrong:
        raise UsageError(f"{path}: {' and '.join(wrong)} not a string; run 'memos login' again")
    return {key: value for key, value in document.items() if isinstance(value, str)}


def check_index_url(url: str) -> str:
    """``url`` without a trailing slash; :class:`UsageError` unless it is an ``http://`` or
    ``https://`` URL with a host and without a query or fragment (API paths are appended to it)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError as exc:
        raise UsageError(f"invalid registry URL {url!r}: {exc}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"invalid registry URL {url!r}: only http:// and https:// registries are supported"
        )
    if "@" in parts.netloc:
        # The registry authenticates with tokens; a password in the URL would only be echoed.
        shown = parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]).geturl()
        raise UsageError(
            f"invalid registry URL {shown!r}: it holds a user name or password; give the token "
            "with --token, MEMOS_TOKEN or 'memos login' instead"
        )
    if any(char.isspace() or not char.isprintable() for char in url):
        raise UsageError(
            f"invalid registry URL {url!r}: it holds spaces or control characters "
            "(percent-encode them in a path)"
        )
    if "?" in url or "#" in url:
        raise UsageError(
            f"invalid registry URL {url!r}: give the registry's base URL, without '?' or '#'"
        )
    return url.rstrip("/")


def check_token(token: str, origin: str) -> str:
    """``token`` when it can be sent in an HTTP header; :class:`UsageError` naming ``origin``
    (where the token came from) when it holds spaces or control characters (CR, LF...)."""
    if not token or any(not "!" <= char <= "~" for char in token):
        raise UsageError(
            f"the token from {origin} is not a registry token: it is empty or holds spaces, "
            "line breaks or other characters a token never has; copy it again"
        )
    return token


def configured_index_url(index_url: str | None = None) -> str | None:
    """The index URL given (``--index-url``), else ``MEMOS_INDEX_URL``, else the one of
    ``memos login``; checked; ``None`` when none is configured."""
    url = index_url or os.environ.get("MEMOS_INDEX_URL") or _read_login().get("index_url")
    return check_index_url(url) if url else None


def load_index_settings(index_url: str | None = None, token: str | None = None) -> IndexSettings:
    """Resolve the registry URL and token (both checked); raise :class:`UsageError` when no URL
    is configured."""
    stored = _read_login()
    url = configured_index_url(index_url)
    if not url:
        raise UsageError(
            "no registry configured: pass --index-url, set MEMOS_INDEX_URL, or run 'memos login'"
        )
    if token:
        return IndexSettings(url, check_token(token, "--token"))
    if os.environ.get("MEMOS_TOKEN"):
        return IndexSettings(url, check_token(os.environ["MEMOS_TOKEN"], "MEMOS_TOKEN"))
    stored_token = stored.get("token")
    if stored_token and stored.get("index_url", "").rstrip("/") == url:
        # A stored token belongs to the registry it was stored for, never to another one.
        return IndexSettings(url, check_token(stored_token, f"{login_path()} ('memos login')"))
    return IndexSettings(url, None)


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
