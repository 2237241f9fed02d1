"""The registry client's transport and error policy against scripted HTTP servers in threads.

Errors by origin (registry error bodies, 404, bad JSON, unreachable, a body cut short), the token
only ever sent to the calls that need it and the registry's origin, HTTP proxies honoured from
the environment, certificates verified.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from memos_client.errors import NetworkError, NotFoundError, RegistryError
from memos_client.registry.client import USER_AGENT, CubeAnswer, NotModified, RegistryClient
from tests.support import LoopbackHTTPServer, free_port, read_blob_stream

WHOAMI = {
    "account": "alice",
    "token_prefix": "mst_abc",
    "namespaces": ["acme"],
    "actions": ["publish"],
    "expires_at": "2027-01-01T00:00:00Z",
}
CUBE = {
    "name": "acme/kb",
    "normalized_name": "acme/kb",
    "description": "",
    "keywords": [],
    "latest_version": None,
    "downloads": 0,
    "versions": [],
}
KEYS = {"namespace": "acme", "keys": []}

#: A route answers (status, headers, body) for the request path.
Route = Callable[[str], tuple[int, dict[str, str], bytes]]


class Server(LoopbackHTTPServer):
    """A loopback HTTP server answering every GET with ``route``, recording what it was sent."""

    def __init__(self, route: Route) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                outer.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                status, headers, body = route(self.path)
                self.send_response(status)
                for name, value in {"Content-Length": str(len(body)), **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

        super().__init__(Handler)


def refusal(route: Route, error: type[Exception] = RegistryError) -> Any:
    """The error ``client.keys`` raises against a server answering with ``route``."""
    with (
        Server(route) as server,
        RegistryClient(server.url) as client,
        pytest.raises(error) as caught,
    ):
        client.keys("acme")
    return caught.value


def answer(status: int, document: Any = None, **headers: str) -> Route:
    body = b"" if document is None else json.dumps(document).encode()
    return lambda path: (status, headers, body)


@pytest.fixture
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.mark.usefixtures("no_proxy")
def test_the_token_goes_to_calls_that_need_it_only() -> None:
    with (
        Server(answer(200, WHOAMI)) as server,
        RegistryClient(server.url + "/", "secret") as client,
    ):
        assert client.whoami().account == "alice"
    path, headers = server.requests[0]
    assert path == "/v1/whoami"
    assert headers["authorization"] == "Bearer secret"
    assert headers["user-agent"] == USER_AGENT
    # Reads are anonymous, even with a token at hand (docs/install.md, "Credentials").
    with Server(answer(200, KEYS)) as server, RegistryClient(server.url, "secret") as client:
        assert client.keys("acme") == []
    path, headers = server.requests[0]
    assert path == "/v1/namespaces/acme/keys"
    assert "authorization" not in headers
    assert headers["user-agent"] == USER_AGENT


@pytest.mark.usefixtures("no_proxy")
def test_conditional_cube_documents() -> None:
    def route(path: str) -> tuple[int, dict[str, str], bytes]:
        return (
            (304, {}, b"")
            if server.requests[-1][1].get("if-none-match") == '"v1"'
            else (200, {"ETag": '"v1"'}, json.dumps(CUBE).encode())
        )

    with Server(route) as server, RegistryClient(server.url) as client:
        answer = client.cube("acme/kb")
        assert isinstance(answer, CubeAnswer)
        assert answer.etag == '"v1"'
        assert answer.document.name == "acme/kb"
        assert client.cube("acme/kb", '"v1"') == NotModified('"v1"')


@pytest.mark.usefixtures("no_proxy")
@pytest.mark.parametrize(
    ("route", "error", "code", "message"),
    [
        (
            answer(404, {"error": {"code": "unknown_cube", "message": "no cube acme/kb"}}),
            NotFoundError,
            "unknown_cube",
            "no cube acme/kb (http://",
        ),
        (
            answer(403, {"error": {"code": "forbidden", "message": "token lacks read"}}),
            RegistryError,
            "forbidden",
            "token lacks read",
        ),
        (answer(502), RegistryError, "http_502", "the registry answered HTTP 502 for http://"),
        (
            lambda path: (500, {"Content-Length": "100", "Connection": "close"}, b'{"error"'),
            RegistryError,
            "http_500",
            "the registry answered HTTP 500",  # an error body cut short
        ),
        (
            lambda path: (200, {}, b"<html>"),
            RegistryError,
            "invalid_response",
            "with a document that is not JSON: check --index-url",
        ),
        (answer(304), RegistryError, "http_304", "the registry answered HTTP 304"),
    ],
)
def test_registry_errors_keep_the_registry_s_code(
    route: Route, error: type[Exception], code: str, message: str
) -> None:
    caught = refusal(route, error)
    assert getattr(caught, "code", None) == code
    assert message in str(caught)


@pytest.mark.usefixtures("no_proxy")
def test_an_unreachable_registry_is_a_network_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with (
        RegistryClient(url) as client,
        pytest.raises(NetworkError, match=f"cannot reach the registry at {url}: .*refused"),
    ):
        client.envelope("acme/kb", "1.0.0")


@pytest.mark.usefixtures("no_proxy")
def test_a_blob_cut_short_is_a_network_error_to_resume() -> None:
    def route(path: str) -> tuple[int, dict[str, str], bytes]:
        return 200, {"Content-Length": "10", "Connection": "close"}, b"12345"

    with (
        Server(route) as server,
        RegistryClient(server.url) as client,
        pytest.raises(NetworkError, match="closed 5 bytes early; retry to resume"),
        client.open_blob("sha256:" + "0" * 64, 10) as stream,
    ):
        read_blob_stream(stream)


@pytest.mark.usefixtures("no_proxy")
def test_the_token_follows_redirects_on_the_registry_s_origin_only() -> None:
    with Server(answer(200, WHOAMI)) as storage:

        def route(path: str) -> tuple[int, dict[str, str], bytes]:
            if path.startswith("/v1/"):  # same origin first, then away
                return 307, {"Location": "/moved" + path}, b""
            return 302, {"Location": storage.url + path}, b""

        with Server(route) as registry, RegistryClient(registry.url, "secret") as client:
            assert client.whoami().account == "alice"
    assert [h.get("authorization") for _, h in registry.requests] == ["Bearer secret"] * 2
    assert registry.requests[1][0] == "/moved/v1/whoami"
    assert storage.requests[0][0] == "/moved/v1/whoami"
    assert "authorization" not in storage.requests[0][1]


def test_http_proxies_from_the_environment_are_used(
    no_proxy: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Server(answer(200, KEYS)) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        registry = "http://registry.invalid:8700"
        with RegistryClient(registry) as client:
            assert client.keys("acme") == []
        monkeypatch.setenv("NO_PROXY", "registry.invalid")
        with RegistryClient(registry) as client, pytest.raises(NetworkError):
            client.keys("acme")  # exempt: asked directly, and the name does not resolve
    assert proxy.requests[0][0] == registry + "/v1/namespaces/acme/keys"
    assert len(proxy.requests) == 1


@pytest.mark.usefixtures("no_proxy")
def test_https_certificates_are_verified(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A registry with a self-signed certificate is refused: the install client verifies TLS.
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    with Server(answer(200, KEYS)) as server:
        server.httpd.socket = context.wrap_socket(server.httpd.socket, server_side=True)
        url = server.url.replace("http://", "https://")
        with RegistryClient(url) as client, pytest.raises(NetworkError, match="CERTIFICATE_VERIFY"):
            client.keys("acme")
        assert server.requests == []
        # Trusted through SSL_CERT_FILE (as httpx reads it), the same registry answers.
        monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "cert.pem"))
        with RegistryClient(url) as client:
            assert client.keys("acme") == []
    assert len(server.requests) == 1


@pytest.mark.usefixtures("no_proxy")
def test_a_registry_error_message_is_printed_on_one_line_of_readable_length() -> None:
    for message, shown in (
        ("line1\nline2\r\n\tline3", "line1 line2 line3"),
        ("x" * 60_000, "x" * 500 + "..."),
    ):
        caught = refusal(answer(500, {"error": {"code": "boom", "message": message}}))
        assert caught.code == "boom"
        assert str(caught) == shown
    # An error body over the client's bound (64 KiB) is not read: the status speaks alone.
    huge = answer(500, {"error": {"code": "boom", "message": "x" * (1 << 20)}})
    assert refusal(huge).code == "http_500"
    deep = refusal(lambda path: (500, {}, b"[" * 100_000))
    assert deep.code == "http_500"  # an error body nested too deeply to decode


@pytest.mark.usefixtures("no_proxy")
def test_a_connection_handed_back_after_close_is_closed_not_pooled() -> None:
    """A blob another thread was still reading when the client closed (an install that failed
    beside a download) closes its connection: none is left open in a closed client's pool."""
    blob = b"0123456789"

    def route(path: str) -> tuple[int, dict[str, str], bytes]:
        return 200, {"Content-Type": "application/octet-stream"}, blob

    with Server(route) as server:
        client = RegistryClient(server.url)
        with client.open_blob("sha256:" + "0" * 64, len(blob)) as stream:
            client.close()
            assert read_blob_stream(stream) == blob
        transport: Any = client._transport
        assert all(not pool for pool in transport._idle.values())
