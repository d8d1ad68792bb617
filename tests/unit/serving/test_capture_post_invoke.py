"""Capture after the response: the flush queue, the middleware and the post-invoke extension.

Ordering is asserted, not timed: a recorder the sink and the response-sending side both
append to. The Extensions API is an in-memory twin here (the integration test speaks HTTP).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from modelwatch.serving.app import create_app
from modelwatch.serving.context import ServingContext
from modelwatch.serving.event_capture import capture_predictions
from modelwatch.serving.metrics import InMemoryServingMetrics
from modelwatch.serving.model_cache import ModelCache
from modelwatch.serving.post_invoke import (
    CaptureAfterResponse,
    ExtensionsApiError,
    start_post_invoke,
)
from modelwatch.settings import ServingSettings
from modelwatch.stores.capture import CaptureOutcome, MemorySink
from tests.unit.fakes import FakeManifestSource, RecordingFetcher

NOW = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)


class RecordingSink(MemorySink):
    """A memory sink that writes ``firehose <stream>`` to a shared recorder when called."""

    def __init__(self, recorder: list[str]) -> None:
        super().__init__()
        self.recorder = recorder
        self.deadlines: list[float | None] = []

    def emit(self, stream: str, lines: Sequence[str], deadline: float | None = None) -> CaptureOutcome:
        self.recorder.append(f"firehose {stream}")
        self.deadlines.append(deadline)
        return super().emit(stream, lines, deadline)


def context_with(sink: Any) -> ServingContext:
    settings = ServingSettings(
        models_bucket="models", rejected_stream="rejected-stream", events_stream="fraud-events"
    )
    models = ModelCache(FakeManifestSource(), RecordingFetcher(), settings.served_models)
    return ServingContext(
        settings=settings, models=models, sink=sink, metrics=InMemoryServingMetrics(), clock=lambda: NOW
    )


def one_request_app(context: ServingContext, recorder: list[str]) -> Any:
    """An ASGI app that captures one prediction and answers; the server side records the body sent."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        capture_predictions(context, "req", "fraud", "1", [{"a": 1}], [0.5], 1.0, deadline=123.0)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}", "more_body": False})

    async def send(message: Any) -> None:
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            recorder.append("response")

    async def receive() -> Any:
        return {"type": "http.request", "body": b"", "more_body": False}

    return CaptureAfterResponse(app, context.capture), receive, send


@pytest.mark.parametrize("mode", ["inline", "thread"])
def test_a_requests_capture_is_sent_after_its_response(mode: str) -> None:
    import anyio

    # Given a request that captures one prediction
    recorder: list[str] = []
    sink = RecordingSink(recorder)
    context = context_with(sink)
    context.capture.mode = mode  # type: ignore[assignment]
    app, receive, send = one_request_app(context, recorder)
    # When it is served
    anyio.run(app, {"type": "http"}, receive, send)
    # Then the Firehose call came after the final body, with the deadline taken at request time
    assert recorder == ["response", "firehose fraud-events"]
    assert sink.deadlines == [123.0]
    assert len(sink.lines["fraud-events"]) == 1


def test_deferred_capture_waits_for_the_flush() -> None:
    import anyio

    recorder: list[str] = []
    sink = RecordingSink(recorder)
    context = context_with(sink)
    context.capture.mode = "deferred"
    app, receive, send = one_request_app(context, recorder)
    anyio.run(app, {"type": "http"}, receive, send)
    # The response went, nothing was sent; the flush (post-invoke) sends the request's line
    assert recorder == ["response"]
    assert context.capture.pending == 1
    assert context.capture.flush() == 1
    assert recorder == ["response", "firehose fraud-events"]
    assert context.capture.pending == 0


def test_through_the_app_every_rejection_and_prediction_is_still_captured() -> None:
    # The app's own middleware flushes after each response (inline under a test client)
    sink = MemorySink()
    client = TestClient(create_app(context_with(sink)))
    response = client.post("/v1/models/ghost/predict", json={"instances": [{"a": 1}]})
    assert response.status_code == 404
    assert len(sink.lines["rejected-stream"]) == 1


def test_a_flush_deadline_caps_the_records_own() -> None:
    sink = RecordingSink([])
    context = context_with(sink)
    context.capture.mode = "deferred"
    context.capture.put("s", ["{}"], deadline=500.0)
    context.capture.put("s", ["{}"], deadline=None)
    context.capture.flush(deadline=100.0)
    assert sink.deadlines == [100.0, 100.0]


class FakeExtensionsApi:
    """The Extensions API in memory: events are fed by the test; every call is recorded."""

    def __init__(self, recorder: list[str], refuse_register: bool = False) -> None:
        self.recorder = recorder
        self.refuse_register = refuse_register
        self.events: queue.Queue[dict[str, Any] | Exception] = queue.Queue()
        self.registered: list[tuple[str, list[str]]] = []
        self.exit_errors: list[str] = []
        self.nexts = 0
        self.next_called = threading.Condition()

    def register(self, name: str, events: Sequence[str]) -> str:
        if self.refuse_register:
            raise ExtensionsApiError("register answered 403")
        self.registered.append((name, list(events)))
        return "ext-1"

    def next_event(self, extension_id: str) -> dict[str, Any]:
        assert extension_id == "ext-1"
        with self.next_called:
            self.nexts += 1
            self.recorder.append(f"next {self.nexts}")
            self.next_called.notify_all()
        event = self.events.get(timeout=10)
        if isinstance(event, Exception):
            raise event
        return event

    def exit_error(self, extension_id: str, error_type: str) -> None:
        self.exit_errors.append(error_type)

    def wait_for_next(self, count: int) -> None:
        with self.next_called:
            assert self.next_called.wait_for(lambda: self.nexts >= count, timeout=10)


def test_the_extension_flushes_after_the_handler_returned_then_asks_for_the_next_event() -> None:
    # Given the extension registered at init, waiting for its first event
    recorder: list[str] = []
    sink = RecordingSink(recorder)
    context = context_with(sink)
    api = FakeExtensionsApi(recorder)
    extension = start_post_invoke(context.capture, None, "modelwatch-capture", api=api, handle_sigterm=False)
    assert extension is not None
    assert api.registered == [("modelwatch-capture", ["INVOKE"])]
    assert context.capture.mode == "deferred"
    api.wait_for_next(1)
    # When an invocation queues a line and the handler returns
    api.events.put({"eventType": "INVOKE", "deadlineMs": 4_102_444_800_000, "requestId": "r1"})
    context.capture.put("fraud-events", ["{}"], deadline=None)
    recorder.append("handler returned")
    extension.invocation_done()
    # Then the flush runs after that, and only then the extension asks for the next event
    api.wait_for_next(2)
    assert recorder == ["next 1", "handler returned", "firehose fraud-events", "next 2"]
    api.events.put({"eventType": "SHUTDOWN", "deadlineMs": 4_102_444_800_000, "shutdownReason": "spindown"})
    extension.join(10)


def test_shutdown_flushes_what_is_pending() -> None:
    recorder: list[str] = []
    sink = RecordingSink(recorder)
    context = context_with(sink)
    api = FakeExtensionsApi(recorder)
    extension = start_post_invoke(context.capture, None, "modelwatch-capture", api=api, handle_sigterm=False)
    assert extension is not None
    context.capture.put("fraud-events", ["{}", "{}"], deadline=None)
    api.events.put({"eventType": "SHUTDOWN", "deadlineMs": 4_102_444_800_000, "shutdownReason": "timeout"})
    extension.join(10)
    assert sink.lines["fraud-events"] == ["{}", "{}"]
    assert context.capture.pending == 0
    assert sink.deadlines[0] is not None  # bounded by the shutdown's own deadline


def test_an_extensions_api_failure_falls_back_to_inline_capture_and_reports_the_error() -> None:
    recorder: list[str] = []
    sink = RecordingSink(recorder)
    context = context_with(sink)
    api = FakeExtensionsApi(recorder)
    extension = start_post_invoke(context.capture, None, "modelwatch-capture", api=api, handle_sigterm=False)
    assert extension is not None
    context.capture.put("fraud-events", ["{}"], deadline=None)
    api.events.put(ExtensionsApiError("event/next answered 500"))
    extension.join(10)
    # What was queued is sent, later capture is inline, and Lambda is told to reset the environment
    assert sink.lines["fraud-events"] == ["{}"]
    assert context.capture.mode == "inline"
    assert api.exit_errors == ["Extension.CaptureFailed"]


@pytest.mark.parametrize(
    ("runtime_api", "refuse", "enabled"),
    [(None, False, True), ("127.0.0.1:9001", True, True), ("127.0.0.1:9001", False, False)],
)
def test_without_an_extension_capture_stays_inline(
    runtime_api: str | None, refuse: bool, enabled: bool
) -> None:
    context = context_with(MemorySink())
    api = FakeExtensionsApi([], refuse_register=refuse) if runtime_api else None
    assert (
        start_post_invoke(
            context.capture, runtime_api, "modelwatch-capture", enabled, api=api, handle_sigterm=False
        )
        is None
    )
    assert context.capture.mode == "inline"


def test_sigterm_flushes_what_is_pending(monkeypatch: pytest.MonkeyPatch) -> None:
    import signal

    from modelwatch.serving.post_invoke import flush_on_terminate

    installed: dict[int, Any] = {}
    monkeypatch.setattr(signal, "signal", lambda signum, handler: installed.__setitem__(signum, handler))
    monkeypatch.setattr(signal, "getsignal", lambda signum: signal.SIG_DFL)
    sink = MemorySink()
    context = context_with(sink)
    context.capture.mode = "deferred"
    context.capture.put("fraud-events", ["{}"], deadline=None)
    assert flush_on_terminate(context.capture)
    with pytest.raises(SystemExit):
        installed[signal.SIGTERM](signal.SIGTERM, None)
    assert sink.lines["fraud-events"] == ["{}"]


def test_lines_are_built_at_send_time_once_and_a_failing_build_is_counted_not_raised() -> None:
    sink = MemorySink()
    context = context_with(sink)
    context.capture.mode = "deferred"
    built: list[int] = []
    context.capture.put("s", lambda: built.append(1) or ["{}"], deadline=None)
    assert built == []  # nothing encoded on the request path
    assert context.capture.pending == 1 and context.capture.flush() == 1
    assert built == [1] and sink.lines["s"] == ["{}"]

    def broken() -> list[str]:
        raise ValueError("one prediction per instance")

    context.capture.put("s", broken, deadline=None)
    context.capture.flush()
    assert context.metrics.counts == {("capture_failures", "s", "logged"): 1}  # type: ignore[attr-defined]


def test_a_request_being_sent_counts_as_in_flight() -> None:
    import anyio

    # Given a sink that looks at the queue while it is called
    seen: list[int] = []
    context = context_with(MemorySink())

    class LookingSink(MemorySink):
        def emit(self, stream: str, lines: Sequence[str], deadline: float | None = None) -> CaptureOutcome:
            seen.append(context.capture.in_flight)
            return super().emit(stream, lines, deadline)

    context.capture.sink = LookingSink()
    app, receive, send = one_request_app(context, [])
    # When a request is served, and a deferred one is queued
    anyio.run(app, {"type": "http"}, receive, send)
    context.capture.mode = "deferred"
    context.capture.put("s", ["{}"], deadline=None)
    # Then the request was in flight while sent, the queued one is until flushed
    assert seen == [1]
    assert context.capture.in_flight == 1
    context.capture.flush()
    assert seen == [1, 1] and context.capture.in_flight == 0
