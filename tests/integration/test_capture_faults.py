"""Capture when Firehose is down, hung or throttled: the request is answered in time and nothing is lost.

Real botocore clients over real HTTP on 127.0.0.1: Firehose is a stub server that hangs
or refuses, S3 and SQS are a moto server. The predict handler is invoked with a Lambda
context whose remaining time runs down, as in AWS: before capture had a time budget,
boto3's defaults (legacy retries, 60 s timeouts) under capture's own retries took 16-29 s
per request, past the function's 15 s timeout, and the events vanished.
"""

from __future__ import annotations

import importlib.util
import json
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
from modelwatch_local.fraud import FRAUD_SCHEMA, synthetic_transactions
from moto.server import ThreadedMotoServer

from modelwatch.registry.publishing import publish_model
from modelwatch.serving.context import capture_sink
from modelwatch.settings import ServingSettings
from modelwatch.stores.objects import S3Storage
from tests.integration.conftest import (
    EVENTS_STREAM,
    MODEL,
    MODELS_BUCKET,
    REPO,
    function_env,
    http_api_event,
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class FirehoseStub(BaseHTTPRequestHandler):
    """Answers every call as ``mode`` says: hang, throttle (400) or 503; counts the calls."""

    mode = "hang"
    calls = 0

    def do_POST(self) -> None:
        type(self).calls += 1
        self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.mode == "hang":
            time.sleep(30)
            return
        if self.mode == "throttle":
            body, status = b'{"__type": "ThrottlingException", "message": "Rate exceeded"}', 400
        else:
            body, status = b'{"__type": "ServiceUnavailableException", "message": "down"}', 503
        self.send_response(status)
        self.send_header("content-type", "application/x-amz-json-1.1")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def firehose() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", _free_port()), FirehoseStub)
    server.daemon_threads = True
    FirehoseStub.calls = 0
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def aws_over_http(monkeypatch: pytest.MonkeyPatch, firehose: str) -> Iterator[dict[str, Any]]:
    """S3 and SQS on a moto server, Firehose on the stub; the capture DLQ created."""
    port = _free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ENDPOINT_URL_FIREHOSE": firehose,
    }.items():
        monkeypatch.setenv(name, value)
    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName="capture-dlq")["QueueUrl"]
    try:
        yield {"sqs": sqs, "queue_url": queue_url, "s3": boto3.client("s3")}
    finally:
        moto.stop()


def _dead_lettered(sqs: Any, queue_url: str) -> list[tuple[str, dict[str, Any]]]:
    """``(stream, record)`` of every line in the dead-letter queue, draining it."""
    found = []
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            body = json.loads(message["Body"])
            found.extend((body["stream"], json.loads(line)) for line in body["lines"])
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return found


@pytest.mark.parametrize("mode", ["hang", "throttle", "unavailable"])
def test_the_sink_gives_up_on_firehose_in_time_and_dead_letters_everything(
    aws_over_http: dict[str, Any], mode: str
) -> None:
    # Given Firehose hanging (or throttling, or down) and 8 s to capture in
    FirehoseStub.mode = mode
    settings = ServingSettings(
        models_bucket="m", events_stream="e", rejected_stream="r", capture_dlq_url=aws_over_http["queue_url"]
    )
    sink = capture_sink(settings)
    lines = [json.dumps({"event_id": f"e{i}", "n": i}) for i in range(25)]
    started = time.monotonic()
    # When a request's lines are emitted
    outcome = sink.emit("events-fraud", lines, deadline=started + 8.0)
    elapsed = time.monotonic() - started
    # Then capture ended before its deadline, and every line is in the dead-letter queue
    assert elapsed < 8.0, f"capture took {elapsed:.1f} s"
    assert outcome.delivered == 0 and outcome.dead_lettered == outcome.records == 1
    assert FirehoseStub.calls >= 1
    dead_lettered = _dead_lettered(aws_over_http["sqs"], aws_over_http["queue_url"])
    assert [(stream, e["event_id"]) for stream, e in dead_lettered] == [
        ("events-fraud", f"e{i}") for i in range(25)
    ]


class RunningDownContext:
    """A Lambda context whose remaining time runs down from ``seconds`` from its creation."""

    function_name = "modelwatch-predict-fraud_detection"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:modelwatch-predict"
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
    function_version = "$LATEST"

    def __init__(self, seconds: float) -> None:
        self._end = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._end - time.monotonic()) * 1000))


def test_a_prediction_is_answered_before_the_function_times_out_and_its_events_are_dead_lettered(
    aws_over_http: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, trained_model_file: Path
) -> None:
    # Given a served model, and a Firehose that hangs
    FirehoseStub.mode = "hang"
    s3 = aws_over_http["s3"]
    for bucket in (MODELS_BUCKET, "events-bucket"):
        s3.create_bucket(Bucket=bucket)
    publish_model(
        trained_model_file,
        MODEL,
        "1",
        "sklearn",
        FRAUD_SCHEMA,
        MODELS_BUCKET,
        prediction_type="probability",
        storage=S3Storage(s3),
    )
    for name, value in function_env(aws_over_http["queue_url"], tmp_path).items():
        monkeypatch.setenv(name, value)
    path = REPO / "functions" / "predict" / "handler.py"
    module_name = f"predict_handler_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    handler = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = handler
    spec.loader.exec_module(handler)
    rows, _ = synthetic_transactions(3, seed=4)
    event = http_api_event("POST", f"/v1/models/{MODEL}/predict", {"instances": rows})

    # When a request comes in with 15 s left (the function's timeout)
    started = time.monotonic()
    response = handler.handler(event, RunningDownContext(15.0))
    elapsed = time.monotonic() - started

    # Then it is answered before the timeout, and its three events are in the dead-letter queue
    assert response["statusCode"] == 200, response
    assert elapsed < 14.5, f"answered after {elapsed:.1f} s"
    captured = _dead_lettered(aws_over_http["sqs"], aws_over_http["queue_url"])
    request_id = json.loads(response["body"])["request_id"]
    assert [(stream, e["request_id"], e["index"]) for stream, e in captured] == [
        (EVENTS_STREAM, request_id, i) for i in range(3)
    ]


def test_post_invoke_a_hung_firehose_does_not_hold_the_answer_and_its_events_are_dead_lettered(
    aws_over_http: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, trained_model_file: Path
) -> None:
    from tests.integration.test_capture_post_invoke import WAIT, FakeExtensionsApi

    # Given a served model, a Firehose that hangs, and the capture extension registered
    FirehoseStub.mode = "hang"
    s3 = aws_over_http["s3"]
    for bucket in (MODELS_BUCKET, "events-bucket"):
        s3.create_bucket(Bucket=bucket)
    publish_model(
        trained_model_file,
        MODEL,
        "1",
        "sklearn",
        FRAUD_SCHEMA,
        MODELS_BUCKET,
        prediction_type="probability",
        storage=S3Storage(s3),
    )
    extensions = FakeExtensionsApi()
    threading.Thread(target=extensions.serve_forever, daemon=True).start()
    previous = signal.getsignal(signal.SIGTERM)
    try:
        env = {
            **function_env(aws_over_http["queue_url"], tmp_path),
            "AWS_LAMBDA_RUNTIME_API": extensions.address,
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        spec = importlib.util.spec_from_file_location(
            f"predict_handler_{uuid.uuid4().hex}", REPO / "functions" / "predict" / "handler.py"
        )
        assert spec is not None and spec.loader is not None
        handler = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = handler
        spec.loader.exec_module(handler)
        extensions.wait_for_next(1)
        rows, _ = synthetic_transactions(3, seed=4)

        # When a request comes in with 15 s left
        extensions.send_invoke()
        response = handler.handler(
            http_api_event("POST", f"/v1/models/{MODEL}/predict", {"instances": rows}),
            RunningDownContext(15.0),
        )
        calls_when_answered = FirehoseStub.calls

        # Then it was answered before any Firehose call, and after the post-invoke flush (retries,
        # then the dead-letter queue) its three events are in the DLQ
        assert response["statusCode"] == 200, response
        assert calls_when_answered == 0
        extensions.wait_for_next(2)
        assert FirehoseStub.calls >= 1
        captured = _dead_lettered(aws_over_http["sqs"], aws_over_http["queue_url"])
        request_id = json.loads(response["body"])["request_id"]
        assert [(stream, e["request_id"], e["index"]) for stream, e in captured] == [
            (EVENTS_STREAM, request_id, i) for i in range(3)
        ]
        extensions.send_shutdown()
        handler.post_invoke.join(WAIT)
    finally:
        signal.signal(signal.SIGTERM, previous)
        extensions.shutdown()
