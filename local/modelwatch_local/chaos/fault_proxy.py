"""A small fault-injecting HTTP proxy in front of moto_server: the seam for S3 errors on chosen calls.

The chaos stack points the API's S3 client at it (``AWS_ENDPOINT_URL_S3``); every request is
forwarded to moto unchanged unless a :class:`FaultRule` matches it (method and path prefix),
in which case the proxy answers the S3 error the rule names (``503 SlowDown`` by default), or
holds the request for ``delay_seconds`` first. No toxiproxy here, and nothing of this is in the
library: boto3 cannot tell it from S3 answering errors.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from modelwatch_local.processes import HOST

_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"})


@dataclass(frozen=True)
class FaultRule:
    """Answer requests of ``method`` whose path starts with ``path_prefix`` with an S3 error."""

    method: str
    path_prefix: str
    status: int = 503
    code: str = "SlowDown"
    message: str = "Please reduce your request rate."
    delay_seconds: float = 0.0

    def matches(self, method: str, path: str) -> bool:
        return method == self.method and path.startswith(self.path_prefix)

    def body(self) -> bytes:
        return (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f"<Error><Code>{self.code}</Code><Message>{self.message}</Message></Error>"
        ).encode()


class FaultProxy:
    """A threaded reverse proxy to ``upstream`` on 127.0.0.1:``port`` (0: a free port)."""

    def __init__(self, upstream: str, port: int = 0) -> None:
        target = urlsplit(upstream)
        self._upstream = (target.hostname or HOST, target.port or 80)
        self._rule: FaultRule | None = None
        self._lock = threading.Lock()
        self.faults: Counter[str] = Counter()  # answered by a rule, by "METHOD status code"
        self.forwarded = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # quiet
                return

            def _handle(self) -> None:
                try:
                    self._answer()
                except (BrokenPipeError, ConnectionResetError):  # the caller timed out and left
                    proxy.count("caller gone before the answer")
                    self.close_connection = True

            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                rule = proxy.rule
                if rule is not None and rule.matches(self.command, self.path):
                    if rule.delay_seconds:
                        time.sleep(rule.delay_seconds)
                    payload = rule.body()
                    proxy.count(f"{self.command} {rule.status} {rule.code}")
                    self.send_response(rule.status)
                    self.send_header("content-type", "application/xml")
                    self.send_header("content-length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                status, headers, answer = proxy.forward(self.command, self.path, dict(self.headers), body)
                self.send_response(status)
                for name, value in headers:
                    if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                        self.send_header(name, value)
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(answer)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        self._server = ThreadingHTTPServer((HOST, port), Handler)
        self._server.daemon_threads = True
        self.url = f"http://{HOST}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True)

    @property
    def rule(self) -> FaultRule | None:
        with self._lock:
            return self._rule

    def set_rule(self, rule: FaultRule | None) -> None:
        """Start answering ``rule``'s requests with its error (None: forward everything again)."""
        with self._lock:
            self._rule = rule

    def count(self, what: str) -> None:
        with self._lock:
            self.faults[what] += 1

    def forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(*self._upstream, timeout=60)
        try:
            connection.request(method, path, body=body or None, headers=headers)
            response = connection.getresponse()
            answer = response.read()
            with self._lock:
                self.forwarded += 1
            return response.status, response.getheaders(), answer
        except OSError as error:  # upstream down: answer as S3 does when it cannot be reached
            rule = FaultRule(method, "", 503, "ServiceUnavailable", f"upstream unreachable: {error}")
            return 503, [("content-type", "application/xml")], rule.body()
        finally:
            connection.close()

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
