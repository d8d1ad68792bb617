"""Capture after the response, through the real entry points: the Lambda handler and uvicorn.

The predict handler runs with ``AWS_LAMBDA_RUNTIME_API`` pointing at a fake Extensions
API on 127.0.0.1 that speaks the real HTTP protocol (register, event/next, exit/error);
the local app runs under uvicorn over real HTTP. AWS is moto; a botocore hook writes
``firehose`` to a recorder when the PutRecordBatch call starts, and holds the call until
the caller has its response: if the call came first, the response would never arrive.
Ordering is asserted, not timed.
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import queue
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest

from modelwatch.observability import logger
from modelwatch.serving.event_capture import prediction_lines
from tests.integration.conftest import (
    EVENTS_STREAM,
    MODEL,
    REPO,
    Deployment,
    function_env,
    http_api_event,
    load_handler,
)

WAIT = 15.0  # seconds any wait may take before the test fails (never reached when it passes)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class FakeExtensionsApi(ThreadingHTTPServer):
    """The Lambda Extensions API (2020-01-01) as the runtime serves it, events fed by the test."""

    daemon_threads = True

    def __init__(self, refuse_register: bool = False) -> None:
        super().__init__(("127.0.0.1", _free_port()), _ExtensionsHandler)
        self.refuse_register = refuse_register
        self.registrations: list[tuple[str | None, Any]] = []
        self.identifier = str(uuid.uuid4())
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.exit_errors: list[str | None] = []
        self.nexts = 0
        self.next_called = threading.Condition()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"

    def wait_for_next(self, count: int) -> None:
        with self.next_called:
            assert self.next_called.wait_for(lambda: self.nexts >= count, timeout=WAIT), self.nexts

    def send_invoke(self) -> None:
        self.events.put(
            {
                "eventType": "INVOKE",
                "deadlineMs": int((time.time() + 15) * 1000),
                "requestId": str(uuid.uuid4()),
                "invokedFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:modelwatch-predict",
                "tracing": {"type": "X-Amzn-Trace-Id", "value": "Root=1-5f35ae12-0c0fec141ab77a00bc047aa2"},
            }
        )

    def send_shutdown(self, seconds: float = 2.0) -> None:
        self.events.put(
            {
                "eventType": "SHUTDOWN",
                "shutdownReason": "spindown",
                "deadlineMs": int((time.time() + seconds) * 1000),
            }
        )


class _ExtensionsHandler(BaseHTTPRequestHandler):
    server: FakeExtensionsApi
    protocol_version = "HTTP/1.1"

    def _answer(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == "/2020-01-01/extension/register":
            self.server.registrations.append((self.headers.get("Lambda-Extension-Name"), json.loads(body)))
            if self.server.refuse_register:
                self._answer(
                    403, {"errorMessage": "registration not allowed", "errorType": "Extension.Forbidden"}
                )
                return
            self._answer(
                200,
                {
                    "functionName": "modelwatch-predict",
                    "functionVersion": "$LATEST",
                    "handler": "handler.handler",
                },
                {"Lambda-Extension-Identifier": self.server.identifier},
            )
        elif self.path == "/2020-01-01/extension/exit/error":
            self.server.exit_errors.append(self.headers.get("Lambda-Extension-Function-Error-Type"))
            self._answer(202, {"status": "OK"})
        else:
            self._answer(404, {"errorMessage": self.path, "errorType": "NotFound"})

    def do_GET(self) -> None:
        if self.path != "/2020-01-01/extension/event/next":
            self._answer(404, {"errorMessage": self.path, "errorType": "NotFound"})
            return
        if self.headers.get("Lambda-Extension-Identifier") != self.server.identifier:
            self._answer(403, {"errorMessage": "unknown extension", "errorType": "Extension.Unknown"})
            return
        with self.server.next_called:
            self.server.nexts += 1
            self.server.next_called.notify_all()
        event = self.server.events.get()
        self._answer(200, event, {"Lambda-Extension-Event-Identifier": str(uuid.uuid4())})

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def extensions_api() -> Iterator[FakeExtensionsApi]:
    server = FakeExtensionsApi()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    previous = signal.getsignal(signal.SIGTERM)
    yield server
    signal.signal(signal.SIGTERM, previous)  # the handler module installs its own at init
    server.shutdown()


class FirehoseRecorder:
    """Writes ``firehose`` when a PutRecordBatch starts, then holds it until the caller has its answer."""

    def __init__(self, recorder: list[str]) -> None:
        self.recorder = recorder
        self.caller_has_response = threading.Event()
        self.calls_done = threading.Semaphore(0)

    def install(self) -> None:
        events = boto3.DEFAULT_SESSION.events  # type: ignore[union-attr]
        events.register("before-call.firehose.PutRecordBatch", self._before)
        events.register("after-call.firehose.PutRecordBatch", lambda **_: self.calls_done.release())

    def _before(self, **_: Any) -> None:
        self.recorder.append("firehose")
        assert self.caller_has_response.wait(WAIT), "the Firehose call waited for the response"


def _captured_request_ids(deployment: Deployment) -> list[tuple[str, int]]:
    return [(e["request_id"], e["index"]) for e in deployment.objects(f"events/model={MODEL}/")]


def test_in_lambda_the_response_is_returned_before_the_firehose_call_starts(
    deployment: Deployment,
    extensions_api: FakeExtensionsApi,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    rows: list[dict[str, Any]],
) -> None:
    # Given the predict function initialised in an environment with the Extensions API
    recorder: list[str] = []
    firehose = FirehoseRecorder(recorder)
    firehose.install()
    env = {**function_env(deployment.dlq_url, tmp_path), "AWS_LAMBDA_RUNTIME_API": extensions_api.address}
    deployment.handler = load_handler(monkeypatch, env)
    assert extensions_api.registrations == [("modelwatch-capture", {"events": ["INVOKE"]})]
    extensions_api.wait_for_next(1)  # init done: the extension waits for its first event
    answer = deployment.handler._answer

    def answered(event: dict[str, Any], context: Any) -> dict[str, Any]:
        response: dict[str, Any] = answer(event, context)
        recorder.append("response")  # the handler's answer is complete: what the runtime posts
        return response

    monkeypatch.setattr(deployment.handler, "_answer", answered)

    # When Lambda sends INVOKE to the extension and runs the handler
    extensions_api.send_invoke()
    response = deployment.invoke(
        http_api_event("POST", f"/v1/models/{MODEL}/predict", {"instances": rows[:3]})
    )
    firehose.caller_has_response.set()

    # Then the Firehose call started after the response, and the extension asked for its next
    # event only once the call was done (Lambda freezes the environment after that)
    assert response["statusCode"] == 200, response
    extensions_api.wait_for_next(2)
    assert recorder == ["response", "firehose"]
    request_id = json.loads(response["body"])["request_id"]
    assert _captured_request_ids(deployment) == [(request_id, i) for i in range(3)]

    # And a second invocation goes the same way
    extensions_api.send_invoke()
    second = deployment.invoke(
        http_api_event("POST", f"/v1/models/{MODEL}/predict", {"instances": rows[3:4]})
    )
    extensions_api.wait_for_next(3)
    assert recorder == ["response", "firehose", "response", "firehose"]
    assert (json.loads(second["body"])["request_id"], 0) in _captured_request_ids(deployment)
    extensions_api.send_shutdown()
    deployment.handler.post_invoke.join(WAIT)


def test_records_pending_at_shutdown_reach_firehose(
    deployment: Deployment,
    extensions_api: FakeExtensionsApi,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    # Given the extension running, call limits that fit a 2 s shutdown, and lines still queued
    env = {
        **function_env(deployment.dlq_url, tmp_path),
        "AWS_LAMBDA_RUNTIME_API": extensions_api.address,
        "MODELWATCH_CAPTURE_CONNECT_TIMEOUT_SECONDS": "0.2",
        "MODELWATCH_CAPTURE_READ_TIMEOUT_SECONDS": "0.5",
        "MODELWATCH_CAPTURE_DEAD_LETTER_SECONDS": "0.5",
    }
    deployment.handler = load_handler(monkeypatch, env)
    extensions_api.wait_for_next(1)
    lines = prediction_lines(
        "pending-req", MODEL, "1", "2026-12-01T00:00:00+00:00", [{"a": 1}, {"a": 2}], [0, 1], 1
    )
    deployment.handler.serving.capture.put(EVENTS_STREAM, lines, deadline=None)
    assert deployment.handler.serving.capture.pending == 2

    # When Lambda shuts the environment down
    extensions_api.send_shutdown(seconds=2.0)
    deployment.handler.post_invoke.join(WAIT)

    # Then nothing is lost: both lines are in the events bucket, none left queued
    assert deployment.handler.serving.capture.pending == 0
    assert _captured_request_ids(deployment) == [("pending-req", 0), ("pending-req", 1)]


def test_a_refused_registration_captures_before_the_handler_returns_and_says_why(
    deployment: Deployment,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    rows: list[dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given an Extensions API that refuses the registration (and the log at INFO, whatever an
    # earlier test of this process set: the local scheduler quiets it to WARNING)
    level = logger.log_level
    logger.setLevel("INFO")
    server = FakeExtensionsApi(refuse_register=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = {**function_env(deployment.dlq_url, tmp_path), "AWS_LAMBDA_RUNTIME_API": server.address}
        deployment.handler = load_handler(monkeypatch, env)
        # When a request is handled
        response = deployment.invoke(
            http_api_event("POST", f"/v1/models/{MODEL}/predict", {"instances": rows[:2]})
        )
        # Then its events were delivered before the handler returned, and no extension loop runs
        request_id = json.loads(response["body"])["request_id"]
        assert _captured_request_ids(deployment) == [(request_id, 0), (request_id, 1)]
        assert deployment.handler.post_invoke is None and server.nexts == 0
        said = "capture flushes before the response"
        reasons = [r.reason for r in caplog.records if r.getMessage() == said]  # type: ignore[attr-defined]
        assert len(reasons) == 1 and "extension registration failed: register answered 403" in reasons[0]
    finally:
        server.shutdown()
        logger.setLevel(level)


def test_without_the_runtime_api_capture_is_done_when_the_handler_returns(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, rows: list[dict[str, Any]]
) -> None:
    monkeypatch.delenv("AWS_LAMBDA_RUNTIME_API", raising=False)
    deployment.handler = load_handler(monkeypatch, function_env(deployment.dlq_url, tmp_path))
    response = deployment.invoke(
        http_api_event("POST", f"/v1/models/{MODEL}/predict", {"instances": rows[:2]})
    )
    request_id = json.loads(response["body"])["request_id"]
    assert _captured_request_ids(deployment) == [(request_id, 0), (request_id, 1)]
    assert deployment.handler.serving.capture.pending == 0


def _capture_state(port: int) -> dict[str, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
    try:
        connection.request("GET", "/_local/capture")
        state: dict[str, Any] = json.loads(connection.getresponse().read())
        return state
    finally:
        connection.close()


def test_under_uvicorn_the_caller_has_the_response_before_the_firehose_call_starts(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, rows: list[dict[str, Any]]
) -> None:
    import uvicorn

    # Given the local app (modelwatch_local/asgi.py) under uvicorn, and a recorder on both sides
    recorder: list[str] = []
    firehose = FirehoseRecorder(recorder)
    firehose.install()
    for name, value in function_env(deployment.dlq_url, tmp_path).items():
        monkeypatch.setenv(name, value)
    spec = importlib.util.spec_from_file_location(
        f"asgi_{uuid.uuid4().hex}", REPO / "local" / "modelwatch_local" / "asgi.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)

    async def recording_app(scope: Any, receive: Any, send: Any) -> None:
        async def sent(message: Any) -> None:
            await send(message)
            final = message["type"] == "http.response.body" and not message.get("more_body", False)
            if final and scope["path"].startswith("/v1/"):
                recorder.append("response sent")  # uvicorn has written the final body

        await module.app(scope, receive, sent)

    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(recording_app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + WAIT
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        # When a caller sends a prediction over HTTP and reads the whole answer
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
        connection.request(
            "POST",
            f"/v1/models/{MODEL}/predict",
            json.dumps({"instances": rows[:2]}),
            {"content-type": "application/json"},
        )
        answer = connection.getresponse()
        body = json.loads(answer.read())
        # (the local harness sees the capture in flight, and waits for it before reading S3)
        assert _capture_state(port) == {"in_flight": 1}
        firehose.caller_has_response.set()
        # Then the answer came while the Firehose call was held back, which started after the body was sent
        assert answer.status == 200, body
        assert firehose.calls_done.acquire(timeout=WAIT)
        assert recorder == ["response sent", "firehose"]
        waited = time.monotonic() + WAIT
        while _capture_state(port)["in_flight"]:
            assert time.monotonic() < waited, "the capture stayed in flight"
            time.sleep(0.01)
        assert _captured_request_ids(deployment) == [(body["request_id"], 0), (body["request_id"], 1)]
        connection.close()
    finally:
        server.should_exit = True
        thread.join(WAIT)
