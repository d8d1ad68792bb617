"""Capture after the response: the per-process flush queue and what drains it.

The request path only builds its event lines and hands them to a :class:`CaptureQueue`;
the Firehose call (its retries, the dead-letter queue, the log) runs after the caller has
the response:

- in Lambda, in the post-invoke phase, by :class:`PostInvokeExtension`: an internal extension
  (a thread of the runtime process) registered with the Lambda Extensions API at init. Lambda
  freezes the environment only when every extension has asked for its next event, so the
  thread flushes the invocation that just answered, then asks for the next one;
- under uvicorn, by :class:`CaptureAfterResponse`, after the final body went to the socket
  (the flush runs in a worker thread, the event loop keeps serving);
- otherwise (Mangum without an extension, test clients), by the same middleware before the
  handler returns, as before.

Each record keeps the deadline it was given at request time (``capture_deadline``), so
the flush stays inside the invocation's own time budget, post-invoke time included.
"""

from __future__ import annotations

import http.client
import json
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from types import FrameType
from typing import Any, Final, Literal, Protocol

import anyio.to_thread
from starlette.types import ASGIApp, Receive, Scope, Send

from modelwatch.observability import logger
from modelwatch.serving.metrics import ServingMetrics
from modelwatch.stores.capture import CaptureOutcome, EventSink

EXTENSIONS_API_VERSION: Final = "2020-01-01"
# Internal extensions may only register for INVOKE (SHUTDOWN is for external ones); Lambda
# sends SIGTERM to the runtime process instead and gives it 500 ms when internal extensions
# are registered. Capture keeps a margin of that for the runtime to exit.
EXTENSION_EVENTS: Final = ("INVOKE",)
SHUTDOWN_FLUSH_SECONDS: Final = 0.4
# A SHUTDOWN event carries its deadline (up to 2 s for external extensions); flushing ends this
# long before it.
SHUTDOWN_MARGIN_SECONDS: Final = 0.1

FlushMode = Literal["inline", "thread", "deferred"]


# A request's lines, or how to build them (encoding waits for the flush, off the caller's time).
Lines = Sequence[str] | Callable[[], Sequence[str]]


class PendingCapture:
    """One request's lines for one stream, and when their delivery must be done."""

    __slots__ = ("_built", "_lines", "deadline", "stream")

    def __init__(self, stream: str, lines: Lines, deadline: float | None) -> None:
        self.stream = stream
        self.deadline = deadline
        self._lines = lines
        self._built: list[str] | None = None

    def lines(self) -> list[str]:
        """The lines, built on first use (once: event ids are drawn then)."""
        if self._built is None:
            self._built = list(self._lines() if callable(self._lines) else self._lines)
        return self._built


# The lines of the request being served (set by CaptureAfterResponse around each request).
_REQUEST_BATCH: ContextVar[list[PendingCapture] | None] = ContextVar("modelwatch_capture", default=None)


class CaptureQueue:
    """Prepared capture records waiting for their Firehose call, and how they are flushed.

    ``mode`` says what happens after a response: ``inline`` sends the request's records
    in the request's own task (before a Mangum handler returns), ``thread`` sends them in a
    worker thread after the response (uvicorn), ``deferred`` keeps them for
    :meth:`flush` (the post-invoke extension).
    """

    def __init__(self, sink: EventSink, metrics: ServingMetrics, mode: FlushMode = "inline") -> None:
        self.sink = sink
        self.metrics = metrics
        self.mode: FlushMode = mode
        self._lock = threading.Lock()
        self._pending: list[PendingCapture] = []
        self._sending = 0

    def put(self, stream: str, lines: Lines, deadline: float | None) -> CaptureOutcome | None:
        """Queue ``lines`` (or a function building them) for ``stream``; outside a request, and
        not deferred, send them now.

        Returns the outcome when sent now, ``None`` when queued.
        """
        item = PendingCapture(stream, lines, deadline)
        batch = _REQUEST_BATCH.get()
        if batch is not None:
            batch.append(item)
            return None
        if self.mode == "deferred":
            with self._lock:
                self._pending.append(item)
            return None
        return self._send(item, None)

    @property
    def pending(self) -> int:
        """Lines queued for the next :meth:`flush`."""
        with self._lock:
            return sum(_line_count(item) for item in self._pending)

    @property
    def in_flight(self) -> int:
        """Requests whose records are queued or being sent (0: everything answered is captured)."""
        with self._lock:
            return len(self._pending) + self._sending

    async def after_response(self, batch: list[PendingCapture]) -> None:
        """What to do with one request's records once its response has been sent."""
        if self.mode == "deferred":
            with self._lock:
                self._pending.extend(batch)
            return
        with self._lock:
            self._sending += 1
        try:
            if self.mode == "thread":
                await anyio.to_thread.run_sync(self.send_all, batch)
            else:
                self.send_all(batch)
        finally:
            with self._lock:
                self._sending -= 1

    def flush(self, deadline: float | None = None) -> int:
        """Send everything queued (``deadline``: an earlier end than the records' own); never raises.

        Returns how many lines were handed to the sink.
        """
        with self._lock:
            items, self._pending = self._pending, []
            self._sending += len(items)
        try:
            self.send_all(items, deadline)
        finally:
            with self._lock:
                self._sending -= len(items)
        return sum(_line_count(item) for item in items)

    def send_all(self, items: Sequence[PendingCapture], deadline: float | None = None) -> None:
        for item in items:
            self._send(item, deadline)

    def _send(self, item: PendingCapture, cap: float | None) -> CaptureOutcome | None:
        deadline = item.deadline if cap is None else min(cap, item.deadline or cap)
        try:
            lines = item.lines()
        except Exception:  # a defect in building the lines: said loudly, counted
            logger.exception("capture lines could not be built", extra={"stream": item.stream})
            self.metrics.capture_failure(item.stream, 1, dead_lettered=False)
            return None
        if not lines:  # a record that had nothing to say (a shadow scoring that succeeded)
            return None
        try:
            outcome = self.sink.emit(item.stream, lines, deadline)
        except Exception:  # a sink must not fail the process; keep the lines in the log
            logger.exception(
                "capture sink raised; lines kept in log", extra={"stream": item.stream, "lines": lines}
            )
            self.metrics.capture_failure(item.stream, len(lines), dead_lettered=False)
            return None
        if outcome.failed:
            self.metrics.capture_failure(item.stream, outcome.failed, dead_lettered=outcome.dead_lettered > 0)
        return outcome


def _line_count(item: PendingCapture) -> int:
    try:
        return len(item.lines())
    except Exception:  # a broken build is logged and counted when sent
        return 0


class CaptureAfterResponse:
    """ASGI middleware: a request's capture records are flushed after its response was sent.

    The app returns only after it sent the final ``http.response.body``; under uvicorn that
    body is already written to the socket, so the caller has its answer before the flush.
    """

    def __init__(self, app: ASGIApp, queue: CaptureQueue) -> None:
        self.app = app
        self.queue = queue

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        batch: list[PendingCapture] = []
        token = _REQUEST_BATCH.set(batch)
        try:
            await self.app(scope, receive, send)
        finally:
            _REQUEST_BATCH.reset(token)
            if batch:
                await self.queue.after_response(batch)


class ExtensionsApiError(Exception):
    """The Lambda Extensions API refused a call or could not be reached."""


class ExtensionsApi(Protocol):
    """The three calls of the Lambda Extensions API an internal extension makes."""

    def register(self, name: str, events: Sequence[str]) -> str:
        """Register; returns the extension's identifier."""
        ...

    def next_event(self, extension_id: str) -> dict[str, Any]:
        """Block until the next lifecycle event (``INVOKE`` or ``SHUTDOWN``)."""
        ...

    def exit_error(self, extension_id: str, error_type: str) -> None:
        """Tell Lambda the extension failed (Lambda then resets the environment)."""
        ...


class HttpExtensionsApi:
    """The Extensions API over HTTP at ``AWS_LAMBDA_RUNTIME_API`` (``host:port``)."""

    def __init__(self, runtime_api: str, register_timeout: float = 2.0) -> None:
        host, _, port = runtime_api.rpartition(":")
        if not host or not port.isdigit():
            raise ExtensionsApiError(f"AWS_LAMBDA_RUNTIME_API is not host:port: {runtime_api!r}")
        self._host, self._port = host, int(port)
        self._register_timeout = register_timeout

    def _call(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes | None = None,
        timeout: float | None = None,
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        connection = http.client.HTTPConnection(self._host, self._port, timeout=timeout)
        try:
            connection.request(method, f"/{EXTENSIONS_API_VERSION}/extension/{path}", body, headers)
            response = connection.getresponse()
            return response.status, response.headers, response.read()
        except OSError as error:
            raise ExtensionsApiError(f"{method} {path}: {error}") from error
        finally:
            connection.close()

    def register(self, name: str, events: Sequence[str]) -> str:
        body = json.dumps({"events": list(events)}).encode()
        status, headers, answer = self._call(
            "POST",
            "register",
            {"Lambda-Extension-Name": name, "Content-Type": "application/json"},
            body,
            self._register_timeout,
        )
        identifier = headers.get("Lambda-Extension-Identifier")
        if status != 200 or not identifier:
            raise ExtensionsApiError(f"register answered {status}: {answer[:200]!r}")
        return identifier

    def next_event(self, extension_id: str) -> dict[str, Any]:
        status, _, answer = self._call("GET", "event/next", {"Lambda-Extension-Identifier": extension_id})
        if status != 200:
            raise ExtensionsApiError(f"event/next answered {status}: {answer[:200]!r}")
        event: dict[str, Any] = json.loads(answer)
        return event

    def exit_error(self, extension_id: str, error_type: str) -> None:
        self._call(
            "POST",
            "exit/error",
            {"Lambda-Extension-Identifier": extension_id, "Lambda-Extension-Function-Error-Type": error_type},
            b"{}",
            self._register_timeout,
        )


class PostInvokeExtension:
    """An internal Lambda extension that flushes capture in the post-invoke phase.

    Lambda sends ``INVOKE`` to the extension while the handler runs; the thread waits for
    :meth:`invocation_done` (the handler returned), flushes what the invocation queued,
    and only then asks for the next event: the caller already has the response, and the
    environment is not frozen before the flush is done. A ``SHUTDOWN`` event (or SIGTERM,
    see :func:`flush_on_terminate`) flushes whatever is pending.
    """

    def __init__(
        self,
        api: ExtensionsApi,
        queue: CaptureQueue,
        name: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._api = api
        self._queue = queue
        self._name = name
        self._clock = clock
        self._done = threading.Semaphore(0)
        self._thread: threading.Thread | None = None
        self.extension_id: str | None = None

    def start(self) -> None:
        """Register (at init, before the runtime's first ``next``) and start the event loop.

        Raises ``ExtensionsApiError`` when registration fails; the queue is then left as it was.
        """
        self.extension_id = self._api.register(self._name, EXTENSION_EVENTS)
        self._queue.mode = "deferred"
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def invocation_done(self) -> None:
        """The handler returned: its records may be flushed."""
        self._done.release()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        assert self.extension_id is not None
        while True:
            try:
                event = self._api.next_event(self.extension_id)
            except Exception as error:
                self._give_up(error)
                return
            deadline_ms = event.get("deadlineMs")
            seconds_left = None if deadline_ms is None else max(0.0, deadline_ms / 1000.0 - self._clock())
            if event.get("eventType") == "SHUTDOWN":
                budget = (
                    SHUTDOWN_FLUSH_SECONDS if seconds_left is None else seconds_left - SHUTDOWN_MARGIN_SECONDS
                )
                flushed = self._queue.flush(time.monotonic() + max(0.0, budget))
                logger.info("capture flushed at shutdown", extra={"lines": flushed})
                return
            # INVOKE: the handler is running; its records are flushed once it returned.
            if not self._done.acquire(timeout=seconds_left):
                logger.warning("handler did not return before its deadline; flushing what it queued")
            self._queue.flush()

    def _give_up(self, error: Exception) -> None:
        """The Extensions API failed: flush inline from now on, and let Lambda reset the environment."""
        logger.error(
            "capture extension stopped; capture flushes before the response", extra={"error": str(error)}
        )
        self._queue.mode = "inline"
        self._queue.flush()
        try:
            assert self.extension_id is not None
            self._api.exit_error(self.extension_id, "Extension.CaptureFailed")
        except Exception:
            logger.exception("could not report the capture extension's failure")


def flush_on_terminate(queue: CaptureQueue) -> bool:
    """On SIGTERM (Lambda's shutdown of a runtime with extensions), flush what is pending, then exit.

    Only possible from the main thread (where the function module is imported); returns
    whether the handler was installed. A handler installed before is called afterwards.
    """
    if threading.current_thread() is not threading.main_thread():
        return False
    previous = signal.getsignal(signal.SIGTERM)

    def on_terminate(signum: int, frame: FrameType | None) -> None:
        flushed = queue.flush(time.monotonic() + SHUTDOWN_FLUSH_SECONDS)
        logger.info("capture flushed on SIGTERM", extra={"lines": flushed})
        if callable(previous):
            previous(signum, frame)
        else:
            sys.exit(0)

    signal.signal(signal.SIGTERM, on_terminate)
    return True


def start_post_invoke(
    queue: CaptureQueue,
    runtime_api: str | None,
    name: str,
    enabled: bool = True,
    api: ExtensionsApi | None = None,
    handle_sigterm: bool = True,
) -> PostInvokeExtension | None:
    """Flush capture post-invoke through an internal extension, or say once why not.

    Returns the running extension, or ``None`` when capture stays synchronous (before the
    handler returns): disabled, no ``AWS_LAMBDA_RUNTIME_API`` (not in Lambda), or a
    registration Lambda refused.
    """
    reason = None
    extension = None
    if not enabled:
        reason = "post-invoke capture disabled (MODELWATCH_CAPTURE_POST_INVOKE=false)"
    elif not runtime_api and api is None:
        reason = "no AWS_LAMBDA_RUNTIME_API (not in Lambda)"
    else:
        try:
            extension = PostInvokeExtension(api or HttpExtensionsApi(runtime_api or ""), queue, name)
            extension.start()
        except ExtensionsApiError as error:
            reason, extension = f"extension registration failed: {error}", None
    if extension is None:
        logger.info("capture flushes before the response", extra={"reason": reason})
        return None
    if handle_sigterm:
        flush_on_terminate(queue)
    return extension
