"""The platform's event bus: EventBridge in AWS, a list in tests and local runs without one."""

from __future__ import annotations

import json
from typing import Any, Protocol

from modelwatch.contracts.platform_events import SOURCE


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
