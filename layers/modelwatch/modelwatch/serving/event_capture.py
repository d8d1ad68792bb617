"""Turning served and rejected requests into event lines for the capture sink.

Lines are built as plain dicts and ``json.dumps`` (the hot path); their shape is
``modelwatch.contracts.events.PredictionEvent`` / ``RejectedRequest``, which tests check.
Capture never raises into the request: the lines are handed to the context's
``CaptureQueue`` (``post_invoke``), which sends them after the response; failures are
retried and dead-lettered by the sink, and counted by the queue.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from modelwatch.contracts.events import EVENT_SCHEMA_VERSION
from modelwatch.serving.context import ServingContext
from modelwatch.stores.capture import MAX_RECORD_BYTES, CaptureOutcome

# A rejected request's line must fit one Firehose record (1,000 KiB, with its newline).
MAX_REJECTED_LINE_BYTES = MAX_RECORD_BYTES - 1
# In Lambda, capture ends this long before the invocation's deadline (post-invoke time counts
# against the function's timeout), so a slow Firehose never turns an invocation into a timeout.
ANSWER_MARGIN_SECONDS: Final = 0.5


def capture_deadline(context: ServingContext, invocation: Any | None = None) -> float:
    """When capture must be done (``time.monotonic()``): before the Lambda invocation ends, or in budget.

    ``invocation`` is the Lambda context (Mangum passes it in the ASGI scope as ``aws.context``);
    without one (uvicorn), capture has ``capture_budget_seconds``.
    """
    now = time.monotonic()
    if invocation is not None:
        return now + float(invocation.get_remaining_time_in_millis()) / 1000.0 - ANSWER_MARGIN_SECONDS
    return now + context.settings.capture_budget_seconds


def prediction_lines(
    request_id: str,
    model: str,
    version: str,
    timestamp: str,
    instances: Sequence[Mapping[str, Any]],
    predictions: Sequence[Any],
    latency_ms: float,
    variant: str = "production",
    served: bool = True,
) -> list[str]:
    """One JSON line per instance (``PredictionEvent``): ``variant`` scored it, ``served`` to the caller."""
    latency = round(latency_ms, 3)
    # One random prefix per request, the instance's index after it: unique like a uuid4 per
    # event (96 random bits per request), at one urandom call instead of one per instance.
    prefix = uuid.uuid4().hex[:24]
    return [
        json.dumps(
            {
                "schema_version": EVENT_SCHEMA_VERSION,
                "event_id": f"{prefix}{index:08x}",
                "request_id": request_id,
                "index": index,
                "model": model,
                "version": version,
                "timestamp": timestamp,
                "features": instance,
                "prediction": prediction,
                "latency_ms": latency,
                "variant": variant,
                "served": served,
            },
            separators=(",", ":"),
        )
        for index, (instance, prediction) in enumerate(zip(instances, predictions, strict=True))
    ]


def rejected_line(
    request_id: str,
    model: str,
    version: str | None,
    timestamp: str,
    reason: str,
    status_code: int,
    errors: list[dict[str, Any]],
    body: str,
    variant: str | None = None,
) -> str:
    """One JSON line for a rejected request (``RejectedRequest``), at most one Firehose record.

    The body is kept whole when the encoded line fits ``MAX_REJECTED_LINE_BYTES``;
    otherwise the longest prefix that fits is kept and ``body_truncated`` is set.
    """
    record: dict[str, Any] = {
        "schema_version": EVENT_SCHEMA_VERSION,
        "event_id": uuid.uuid4().hex,
        "request_id": request_id,
        "model": model,
        "version": version,
        "timestamp": timestamp,
        "reason": reason,
        "status_code": status_code,
        "errors": errors,
        "body": body,
        "body_truncated": False,
        "variant": variant,
    }

    def encode(length: int) -> str:
        record["body"] = body[:length]
        record["body_truncated"] = length < len(body)
        return json.dumps(record, separators=(",", ":"), default=str)

    line = encode(len(body))
    if len(line.encode()) <= MAX_REJECTED_LINE_BYTES:
        return line
    # Escaping makes the encoded size non-linear in the prefix length: search for the longest fit.
    low, high = 0, len(body)
    while low < high:
        middle = (low + high + 1) // 2
        if len(encode(middle).encode()) <= MAX_REJECTED_LINE_BYTES:
            low = middle
        else:
            high = middle - 1
    return encode(low)


def capture_predictions(
    context: ServingContext,
    request_id: str,
    model: str,
    version: str,
    instances: Sequence[Mapping[str, Any]],
    predictions: Sequence[Any],
    latency_ms: float,
    deadline: float | None = None,
    variant: str = "production",
    shadow: Callable[[str], list[str]] | None = None,
) -> CaptureOutcome | None:
    """One ``PredictionEvent`` line per instance, built when the queue sends them.

    ``shadow`` (a rollout in shadow mode) gives the candidate's lines for the same request, from
    the timestamp: they go in the same Firehose call, scored when the lines are built.
    """
    stream = context.settings.events_stream  # one stream for every model: Firehose partitions by model
    now = context.clock()

    def lines() -> list[str]:
        timestamp = now.isoformat()
        served = prediction_lines(
            request_id, model, version, timestamp, instances, predictions, latency_ms, variant
        )
        return served if shadow is None else served + shadow(timestamp)

    return _emit(context, stream, lines, deadline)


def capture_labels(
    context: ServingContext,
    stream: str,
    model: str,
    labels: Sequence[Mapping[str, Any]],
    deadline: float | None = None,
) -> CaptureOutcome | None:
    """One JSON line per label (``LabelEvent``), stamped with the time it was received."""
    timestamp = context.clock().isoformat()

    def lines() -> list[str]:
        return [
            json.dumps(
                {
                    "schema_version": EVENT_SCHEMA_VERSION,
                    "event_id": uuid.uuid4().hex,
                    "model": model,
                    "request_id": label["request_id"],
                    "index": label["index"],
                    "label": label["label"],
                    "timestamp": timestamp,
                },
                separators=(",", ":"),
            )
            for label in labels
        ]

    return _emit(context, stream, lines, deadline)


def capture_rejection(
    context: ServingContext,
    request_id: str,
    model: str,
    version: str | None,
    reason: str,
    status_code: int,
    errors: list[dict[str, Any]],
    body: str,
    deadline: float | None = None,
    variant: str | None = None,
) -> CaptureOutcome | None:
    """One ``RejectedRequest`` line (its body truncated to fit a record), built when sent."""
    timestamp = context.clock().isoformat()

    def lines() -> list[str]:
        return [
            rejected_line(request_id, model, version, timestamp, reason, status_code, errors, body, variant)
        ]

    return _emit(context, context.settings.rejected_stream, lines, deadline)


def candidate_failure_line(
    request_id: str, model: str, version: str, timestamp: str, error_type: str, message: str, body: Any
) -> str:
    """The ``candidate_failed`` record of a request the candidate could not serve or score.

    Status 200: the caller had an answer (production's, or in shadow, nothing of the candidate's).
    ``error_type`` is ``prediction_failed`` or ``candidate_unavailable``; the rollout job counts
    both against the candidate and rolls back on the second.
    """
    errors = [{"type": error_type, "message": message}]
    return rejected_line(
        request_id, model, version, timestamp, "candidate_failed", 200, errors, body_text(body), "candidate"
    )


def capture_candidate_failure(
    context: ServingContext,
    request_id: str,
    model: str,
    version: str,
    error_type: str,
    message: str,
    body: Any,
    deadline: float | None = None,
) -> CaptureOutcome | None:
    """Capture (after the response) that the candidate failed a request production answered; counted."""
    context.metrics.rejection(model, "candidate_failed")
    timestamp = context.clock().isoformat()

    def lines() -> list[str]:
        return [candidate_failure_line(request_id, model, version, timestamp, error_type, message, body)]

    return _emit(context, context.settings.rejected_stream, lines, deadline)


def body_text(body: Any) -> str:
    """A request body as the rejected stream keeps it: text as received, anything else as JSON."""
    if body is None:
        return ""
    if isinstance(body, bytes):
        return body.decode("utf-8", errors="replace")
    if isinstance(body, str):
        return body
    try:
        return json.dumps(body, default=str)
    except (TypeError, ValueError):
        return repr(body)


def _emit(
    context: ServingContext, stream: str, lines: Callable[[], list[str]], deadline: float | None
) -> CaptureOutcome | None:
    """Hand ``lines`` to the capture queue: sent after the response when in a request, else now.

    The lines are encoded when sent (after the response), from what the request gave.
    """
    return context.capture.put(stream, lines, deadline)
