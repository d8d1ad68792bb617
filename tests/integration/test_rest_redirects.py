"""The REST client's credentials on redirects, against real HTTP(S) servers on 127.0.0.1.

Two servers on two ports are two origins. Each records what it received; the first
answers the client with a redirect, the second with MLflow's JSON. ``urllib``'s own
redirect handler copies ``Authorization`` to wherever the server points: the client
must drop it on a hop to another origin and refuse a hop from https to http.
"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from modelwatch.registry.rest import InsecureRedirectError, MlflowRestClient
from tests.integration.certificates import OPENSSL, self_signed_certificate

MODEL = {"registered_model": {"name": "fraud", "aliases": [], "tags": []}}
CREDENTIALS = ("sync", "s3cret-password")
BASIC = "Basic c3luYzpzM2NyZXQtcGFzc3dvcmQ="


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    authorization: str | None


@dataclass
class Origin:
    """One server: ``redirects`` maps a path to the URL it answers 302 with; anything else is MODEL."""

    server: ThreadingHTTPServer
    scheme: str
    received: list[Received] = field(default_factory=list)
    redirects: dict[str, Callable[[], str]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{self.scheme}://{host!s}:{port}"


def _serve(scheme: str, context: ssl.SSLContext | None = None) -> Origin:
    origin: Origin

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            origin.received.append(Received("GET", path, self.headers.get("Authorization")))
            if path in origin.redirects:
                self.send_response(302)
                self.send_header("Location", origin.redirects[path]())
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = json.dumps(MODEL).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    origin = Origin(server, scheme)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return origin


@pytest.fixture
def first() -> Iterator[Origin]:
    origin = _serve("http")
    yield origin
    origin.server.shutdown()
    origin.server.server_close()


@pytest.fixture
def second() -> Iterator[Origin]:
    origin = _serve("http")
    yield origin
    origin.server.shutdown()
    origin.server.server_close()


GET_MODEL = "/api/2.0/mlflow/registered-models/get"


def _client(origin: Origin) -> MlflowRestClient:
    username, password = CREDENTIALS
    return MlflowRestClient(origin.url, username=username, password=password, max_attempts=1, timeout=5)


def test_a_redirect_to_another_port_arrives_without_the_credentials(first: Origin, second: Origin) -> None:
    first.redirects[GET_MODEL] = lambda: f"{second.url}{GET_MODEL}?name=fraud"

    model = _client(first).get_model("fraud")

    assert model.name == "fraud"
    assert first.received == [Received("GET", GET_MODEL, BASIC)]
    assert second.received == [Received("GET", GET_MODEL, None)]


def test_a_redirect_to_another_host_arrives_without_the_credentials(first: Origin, second: Origin) -> None:
    # localhost and 127.0.0.1 are one machine but two origins.
    port = second.server.server_address[1]
    first.redirects[GET_MODEL] = lambda: f"http://localhost:{port}{GET_MODEL}?name=fraud"

    _client(first).get_model("fraud")

    assert [r.authorization for r in second.received] == [None]


def test_a_same_origin_redirect_keeps_the_credentials_and_a_chain_never_gets_them_back(
    first: Origin, second: Origin
) -> None:
    # first -> first (same origin: kept) -> second (dropped) -> first (not restored).
    first.redirects[GET_MODEL] = lambda: f"{first.url}/moved"
    first.redirects["/moved"] = lambda: f"{second.url}/away"
    second.redirects["/away"] = lambda: f"{first.url}/back"

    _client(first).get_model("fraud")

    assert first.received == [
        Received("GET", GET_MODEL, BASIC),
        Received("GET", "/moved", BASIC),
        Received("GET", "/back", None),
    ]
    assert second.received == [Received("GET", "/away", None)]


@pytest.mark.skipif(OPENSSL is None, reason="openssl is not installed (it makes the server's certificate)")
def test_an_https_to_http_redirect_is_refused_before_anything_is_sent(
    second: Origin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    certificate, key = self_signed_certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    secure = _serve("https", context)
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate))  # the client trusts this server's certificate
    try:
        secure.redirects[GET_MODEL] = lambda: f"{second.url}{GET_MODEL}?name=fraud"

        with pytest.raises(InsecureRedirectError, match="never downgraded"):
            _client(secure).get_model("fraud")

        assert secure.received == [Received("GET", GET_MODEL, BASIC)]  # it arrived over TLS
        assert second.received == []
    finally:
        secure.server.shutdown()
        secure.server.server_close()
