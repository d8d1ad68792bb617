"""Shadow scoring: the candidate scores a sampled request after its answer was sent.

In a ``shadow`` rollout the caller only ever gets production's answer. For the requests the
rollout samples (:func:`modelwatch.serving.routing.shadowed`), the candidate scores the same
instances when the request's capture records are built, that is after the response, in the
capture path of :mod:`modelwatch.serving.post_invoke`: in Lambda in the post-invoke phase (the
capture extension's thread), under uvicorn in a worker thread once the body is on the socket.
Its predictions become ``PredictionEvent`` lines with the same request id and index as
production's, ``variant="candidate"``, ``served=False`` and the candidate's own scoring time as
``latency_ms``, sent in the same Firehose call as production's lines.

What it costs: on the caller's path, building this object and queueing its two records (the
sampling hash, about 2 µs, runs after the response too); ``bench_rollout_serving.py`` measures
it. The candidate's scoring time is spent in the same Lambda invocation after the answer: billed
duration (and, under uvicorn, a worker thread's time), not caller latency. Where capture runs
before the handler returns (Mangum without the capture extension, test clients), it is added
to the handler's time like the capture itself.

A shadow failure (the candidate cannot be loaded, its schema refuses the instances, or it
raises) never reaches the caller: it is a ``candidate_failed`` record (status 200) on the
rejected stream, and counted.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from modelwatch.contracts.schema import validate_instances
from modelwatch.observability import logger
from modelwatch.serving.context import ServingContext
from modelwatch.serving.event_capture import candidate_failure_line, prediction_lines
from modelwatch.serving.model_cache import LoadedCandidate


class ShadowScoring:
    """The candidate's scoring of one request, done once, on the first of its two lines' builds.

    Made for every request of a shadow rollout: whether the request is in the sampled share is
    decided when the lines are built, after the response.

    :meth:`event_lines` (with production's events) and :meth:`rejected_lines` (the failure, if
    any) never raise: a shadow defect must not lose production's events.
    """

    def __init__(
        self,
        context: ServingContext,
        candidate: LoadedCandidate,
        request_id: str,
        model: str,
        instances: Sequence[Any],
    ) -> None:
        self._context = context
        self._candidate = candidate
        self._request_id = request_id
        self._model = model
        self._instances = instances
        self._events: list[str] | None = None
        self._failure: tuple[str, str] | None = None  # (error type, message)
        self._timestamp: str | None = None

    def queue_failure_record(self, deadline: float | None) -> None:
        """Queue the rejected-stream half (sent after the events, so after the scoring; empty on success).

        The events half is ``capture_predictions(..., shadow=self.event_lines)``: queue it first.
        """
        self._context.capture.put(self._context.settings.rejected_stream, self.rejected_lines, deadline)

    def event_lines(self, timestamp: str) -> list[str]:
        """The candidate's ``served=False`` prediction lines (none when it failed)."""
        self._timestamp = timestamp
        if self._events is None:
            self._events = self._score(timestamp)
        return self._events

    def rejected_lines(self) -> list[str]:
        """The ``candidate_failed`` line of a failed scoring (none when it succeeded)."""
        if self._events is None:  # built before the events (not the queue's order): score now
            self.event_lines(self._context.clock().isoformat())
        if self._failure is None:
            return []
        error_type, message = self._failure
        try:
            body = {"instances": list(self._instances)}
            line = candidate_failure_line(
                self._request_id,
                self._model,
                self._candidate.version,
                self._timestamp or self._context.clock().isoformat(),
                error_type,
                message,
                body,
            )
        except Exception:  # a defect here must not stop the queue
            logger.exception("shadow failure record could not be built", extra={"model": self._model})
            return []
        return [line]

    def _score(self, timestamp: str) -> list[str]:
        candidate = self._candidate
        version = candidate.version
        try:
            if candidate.router.assigned(self._request_id) == "production":  # not in the sampled share
                return []
            if candidate.predictor is None:
                self._fail("candidate_unavailable", candidate.message)
                return []
            started = time.perf_counter()
            violations = validate_instances(candidate.manifest.input_schema, self._instances)
            if violations:
                bad = len({v.index for v in violations})
                self._fail(
                    "prediction_failed",
                    f"{bad} instance(s) violate the input schema of candidate version {version}",
                )
                return []
            predictions = candidate.predictor.predict(self._instances)
            json.dumps(predictions, allow_nan=False)
            latency_ms = (time.perf_counter() - started) * 1000.0
            return prediction_lines(
                self._request_id,
                self._model,
                version,
                timestamp,
                self._instances,
                predictions,
                latency_ms,
                variant="candidate",
                served=False,
            )
        except Exception:  # the candidate's failure is data, never the caller's problem
            logger.exception(
                "shadow candidate failed to score", extra={"model": self._model, "version": version}
            )
            self._fail("prediction_failed", f"candidate version {version} could not score these instances")
            return []

    def _fail(self, error_type: str, message: str) -> None:
        self._failure = (error_type, message)
        self._context.metrics.rejection(self._model, "candidate_failed")
