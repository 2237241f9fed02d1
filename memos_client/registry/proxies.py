"""Which proxy a request goes through: ``HTTP(S)_PROXY``, ``ALL_PROXY`` and ``NO_PROXY``.

Read as ``urllib`` reads them (its parser, imported only when such a variable is set, so the
common case costs nothing).
"""

from __future__ import annotations

import os
from urllib.parse import unquote, urlsplit

import msgspec

from memos_client.errors import NetworkError


class Proxy(msgspec.Struct, frozen=True):
    """A proxy to send requests through, and the headers it wants (Basic proxy auth)."""

    url: str
    host: str
    port: int
    headers: dict[str, str]


def proxy_for(scheme: str, host: str) -> Proxy | None:
    """The proxy ``HTTP(S)_PROXY``/``ALL_PROXY`` name for ``scheme`` unless ``NO_PROXY`` exempts
    ``host`` (urllib's reading of those variables, imported only when one is set)."""
    if not any(name.lower().endswith("_proxy") for name in os.environ):
        return None
    import urllib.request

    proxies = urllib.request.getproxies_environment()
    url = proxies.get(scheme) or proxies.get("all")
    bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
    if not url or bypass(host, proxies):
        return None
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    headers = {}
    if parts.username is not None:
        import base64

        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        headers["proxy-authorization"] = "Basic " + base64.b64encode(pair).decode()
    try:
        port = parts.port or 80
    except ValueError as exc:
        raise NetworkError(f"the proxy URL in the environment is not valid: {exc}") from exc
    return Proxy(url, parts.hostname or "", port, headers)
