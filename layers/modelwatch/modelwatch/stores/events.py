"""Captured records in the events bucket, found by kind, model and window, read as JSON records.

Every kind is partitioned by model, then by *delivery* hour (``layout.hour_partition``). A
window's objects are those delivered from the hour before the window to one hour after it
(records delivered late land in a later hour), found by listing exactly those hour prefixes of
the model: the cost of finding a window does not depend on how much history is kept. Records
are then kept by their own ``timestamp``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any, Final

from modelwatch.contracts import layout
from modelwatch.contracts.events import decode_event_object, decode_event_object_tolerant
from modelwatch.contracts.layout import CaptureKind
from modelwatch.contracts.window import Window, parse_timestamp
from modelwatch.stores.objects import ObjectInfo, ObjectStorage

DELIVERY_SLACK: Final = timedelta(hours=1)


class EventStore:
    """Reads what serving captured: prediction events, rejected requests and labels."""

    def __init__(self, storage: ObjectStorage, bucket: str) -> None:
        self._storage = storage
        self.bucket = bucket

    def objects(self, kind: CaptureKind, window: Window, model: str) -> list[ObjectInfo]:
        """Objects of ``kind`` of ``model`` that may hold records of ``window``, in key order.

        Lists one prefix per delivery hour from ``DELIVERY_SLACK`` before the window to
        ``DELIVERY_SLACK`` after it, and nothing else of the model's history.
        """
        return self._delivered(kind, model, window.start - DELIVERY_SLACK, window.end + DELIVERY_SLACK)

    def delivered_since(
        self, kind: CaptureKind, model: str, since: datetime, until: datetime
    ) -> list[ObjectInfo]:
        """Objects of ``kind`` of ``model`` delivered from ``since``'s hour to ``until``'s, in key order.

        Whether anything arrived since a time (labels for a window already computed, say),
        at one listing per hour prefix.
        """
        return self._delivered(kind, model, since, until)

    def _delivered(self, kind: CaptureKind, model: str, first: datetime, last: datetime) -> list[ObjectInfo]:
        found: list[ObjectInfo] = []
        for prefix in layout.hourly_prefixes(layout.capture_prefix(kind, model), first, last):
            found.extend(self._storage.list_objects(self.bucket, prefix))
        return found

    def read(self, key: str) -> list[dict[str, Any]]:
        """The records of one delivered object (gzip or not).

        Raises
        ------
        modelwatch.stores.objects.ObjectNotFound
            The object is gone.
        ValueError
            A line is not JSON.
        """
        found = self._storage.get(self.bucket, key)
        assert found is not None  # an unconditional read returns the object or raises
        return decode_event_object(found.body)

    def read_tolerant(self, key: str) -> tuple[list[dict[str, Any]], int]:
        """The readable records of one delivered object and the number of unreadable lines.

        A corrupt object must not fail a window: its lines that are not JSON (or the
        whole object, as one, when its gzip body is bad) are counted for the result to name.

        Raises
        ------
        modelwatch.stores.objects.ObjectNotFound
            The object is gone.
        """
        found = self._storage.get(self.bucket, key)
        assert found is not None  # an unconditional read returns the object or raises
        return decode_event_object_tolerant(found.body)

    def records(self, kind: CaptureKind, window: Window, model: str) -> list[dict[str, Any]]:
        """The records of ``model`` whose ``timestamp`` falls in ``window``."""
        found: list[dict[str, Any]] = []
        for obj in self.objects(kind, window, model):
            for record in self.read(obj.key):
                value = record.get("timestamp")
                if isinstance(value, str) and window.contains(parse_timestamp(value)):
                    found.append(record)
        return found

    def delivered_keys(self, models: Iterable[str], start: datetime, end: datetime) -> list[str]:
        """Keys of the prediction events and rejected requests of ``models`` (and of the unrouted
        rejections) delivered in ``[start, end]``.

        Lists one prefix per delivery hour, kind and model, so its cost does not grow with history.
        """
        served = list(models)
        prefixes = [layout.capture_prefix("events", model) for model in served] + [
            layout.capture_prefix("rejected", model) for model in [*served, layout.UNROUTED_MODEL]
        ]
        keys: list[str] = []
        for prefix in prefixes:
            for hourly in layout.hourly_prefixes(prefix, start, end):
                keys.extend(obj.key for obj in self._storage.list_objects(self.bucket, hourly))
        return keys

    def all_records(self, kind: CaptureKind, model: str | None = None) -> Iterator[dict[str, Any]]:
        """Every record of ``kind`` ever kept (of ``model``; of every model when None), in key order.

        Lists the whole history: small buckets only (the demo, tests, reconciliation).
        """
        prefix = layout.capture_prefix(kind, model) if model else layout.kind_prefix(kind)
        for obj in self._storage.list_objects(self.bucket, prefix):
            yield from self.read(obj.key)
