"""Which registry the client talks to, and which credential belongs to which registry.

The registry URL: ``--index-url``, else ``MEMOS_INDEX_URL``, else the registry of the last
``memos login``. Credentials are kept **per origin** (scheme, host and port), like pip's netrc
and keyring entries: ``$MEMOS_HOME/registry.json`` (mode 0600) holds
``{"index_url": DEFAULT, "tokens": {ORIGIN: TOKEN}}``. A credential is only ever sent to the
origin it was issued for (docs/install.md, "Credentials"):

- a stored token belongs to the origin ``memos login`` checked it against;
- ``MEMOS_TOKEN`` belongs to ``MEMOS_INDEX_URL``'s origin; without ``MEMOS_INDEX_URL``, to the
  registry the command line names (``--index-url``) or the login's;
- ``--token`` belongs to the registry of that command;
- a registry a file names (a lockfile's ``index-url``) gets none of them: installs read
  anonymously (:class:`memos_client.registry.client.RegistryClient` sends credentials only to
  the calls that need them).

Every URL and token passes :func:`check_index_url` and :func:`check_token` here, so each command
refuses a bad one with the same one-line usage error (exit 2) before any request is made.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import msgspec

from memos_client.config import memos_home, private_dir
from memos_client.errors import UsageError

LOGIN_FILE = "registry.json"


class RegistrySettings(msgspec.Struct, frozen=True):
    """The registry's base URL and the token issued for its origin (``None``: anonymous)."""

    url: str
    token: str | None


class Logins(msgspec.Struct):
    """What ``memos login`` stored: the default registry and a token per origin."""

    index_url: str | None = None
    tokens: dict[str, str] = msgspec.field(default_factory=dict)


def login_path() -> Path:
    """Where ``memos login`` keeps the default registry and the tokens."""
    return memos_home() / LOGIN_FILE


def origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, lower-case, the scheme's default port left out."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    if port is None or port == {"http": 80, "https": 443}.get(scheme):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def read_logins() -> Logins:
    """The stored logins (none when the file is absent); :class:`UsageError` for a damaged file.

    A file of the first format, ``{"index_url", "token"}``, reads as one login for that origin.
    """
    path = login_path()
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Logins()
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read {path}: {exc}; run 'memos login' again") from exc
    if not isinstance(document, dict):
        raise UsageError(f"{path} is not a JSON object; run 'memos login' again")
    tokens = document.get("tokens", {})
    wrong = [key for key in ("index_url", "token") if not isinstance(document.get(key, ""), str)]
    if not isinstance(tokens, dict) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in tokens.items()
    ):
        wrong.append("tokens")
    if wrong:
        raise UsageError(f"{path}: {' and '.join(wrong)} not a string; run 'memos login' again")
    index_url = document.get("index_url") or None
    tokens = dict(tokens)
    if document.get("token") and index_url:
        tokens.setdefault(origin(index_url), document["token"])
    where = f"{path} ('memos login')"
    return Logins(index_url, {key: check_token(value, where) for key, value in tokens.items()})


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


def check_token(token: str, where: str) -> str:
    """``token`` when it can be sent in an HTTP header; :class:`UsageError` naming ``where``
    it came from when it holds spaces or control characters (CR, LF...)."""
    if not token or any(not "!" <= char <= "~" for char in token):
        raise UsageError(
            f"the token from {where} is not a registry token: it is empty or holds spaces, "
            "line breaks or other characters a token never has; copy it again"
        )
    return token


def _environment_token() -> str | None:
    token = os.environ.get("MEMOS_TOKEN")
    return check_token(token, "MEMOS_TOKEN") if token else None


def configured_index_url(index_url: str | None = None) -> str | None:
    """The registry given (``--index-url``), else ``MEMOS_INDEX_URL``, else the one of
    ``memos login``; checked; ``None`` when none is configured."""
    url = index_url or os.environ.get("MEMOS_INDEX_URL") or read_logins().index_url
    return check_index_url(url) if url else None


def registry_settings(index_url: str | None = None, token: str | None = None) -> RegistrySettings:
    """The registry a command talks to (``--index-url``, else configured) and the token issued
    for its origin (``--token``, else ``MEMOS_TOKEN`` when it belongs there, else the stored
    one); :class:`UsageError` when no registry is configured."""
    logins = read_logins()
    environment_token = _environment_token()  # checked even when it is not for this registry
    url = configured_index_url(index_url)
    if not url:
        raise UsageError(
            "no registry configured: pass --index-url, set MEMOS_INDEX_URL, or run 'memos login'"
        )
    if token:
        return RegistrySettings(url, check_token(token, "--token"))
    if environment_token is not None:
        environment_url = os.environ.get("MEMOS_INDEX_URL")
        owner = check_index_url(environment_url) if environment_url else url
        if origin(owner) == origin(url):
            return RegistrySettings(url, environment_token)
    return RegistrySettings(url, logins.tokens.get(origin(url)))


def _write_logins(logins: Logins) -> Path:
    path = login_path()
    private_dir(path.parent)
    descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=".registry-")
    try:
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            document: dict[str, object] = {"tokens": dict(sorted(logins.tokens.items()))}
            if logins.index_url:
                document["index_url"] = logins.index_url
            json.dump(document, stream, indent=2)
        Path(name).replace(path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return path


def save_login(index_url: str, token: str) -> Path:
    """Store ``token`` for ``index_url``'s origin and make that registry the default (the file
    is readable by the user only, 0600); other origins' tokens stay."""
    logins = read_logins()
    logins.tokens[origin(index_url)] = token
    logins.index_url = index_url.rstrip("/")
    return _write_logins(logins)


def remove_login(index_url: str) -> bool:
    """Forget the token of ``index_url``'s origin (and the default registry, when it is that
    one); whether there was one."""
    logins = read_logins()
    found = logins.tokens.pop(origin(index_url), None) is not None
    if logins.index_url and origin(logins.index_url) == origin(index_url):
        logins.index_url = None
        found = True
    if found:
        _write_logins(logins)
    return found
