"""Events the monitoring jobs put on the platform's EventBridge bus.

``DriftDetected``, ``DataQualityViolation`` and ``PerformanceDegraded``, source
``modelwatch``, with the model, versions, window, the figures that matter and the
report's URI, so retraining pipelines and notifications can subscribe.
"""

from __future__ import annotations

import json
from typing import Any, Final, Protocol

from modelwatch.jobs.results import JobResult

SOURCE: Final = "modelwatch"
DETAIL_TYPES: Final = {
    "drift": "DriftDetected",
    "quality": "DataQualityViolation",
    "performance": "PerformanceDegraded",
}


class EventBus(Protocol):
    def put(self, detail_type: str, detail: dict[str, Any]) -> None: ...


class EventBridgeBus:
    """Puts events on a named EventBridge bus; a refused entry raises."""

    def __init__(self, events_client: Any, bus_name: str) -> None:
        self._events = events_client
        self._bus = bus_name

    def put(self, detail_type: str, detail: dict[str, Any]) -> None:
        response = self._events.put_events(
            Entries=[
                {
                    "Source": SOURCE,
                    "DetailType": detail_type,
                    "Detail": json.dumps(detail, default=str),
                    "EventBusName": self._bus,
                }
            ]
        )
        if response.get("FailedEntryCount"):
            entry = response["Entries"][0]
            raise RuntimeError(
                f"EventBridge refused the event: {entry.get('ErrorCode')} {entry.get('ErrorMessage')}"
            )


class InMemoryBus:
    """Keeps events in a list (tests, local runs without a bus)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def put(self, detail_type: str, detail: dict[str, Any]) -> None:
        self.events.append((detail_type, detail))


def alert_detail(result: JobResult) -> dict[str, Any]:
    """The event detail of an alerting result."""
    return {
        "model": result.model,
        "versions": result.versions,
        "job": result.job,
        "window_start": result.window_start.isoformat(),
        "window_end": result.window_end.isoformat(),
        **result.summary,
        "report_uri": result.report_uri,
        "result_uri": result.result_uri,
    }
