"""Captured records in the events bucket, found by kind, model and window, read as JSON records.

Firehose partitions by *delivery* hour (``layout.hour_partition``). A window's
objects are those delivered from the hour before the window to one hour after it
(records delivered late land in a later hour); records are then kept by their own
``timestamp``. Objects whose key carries no hour are always considered.
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

    def objects(self, kind: CaptureKind, window: Window, model: str | None = None) -> list[ObjectInfo]:
        """Objects of ``kind`` (of ``model``) that may hold records of ``window``, in key order."""
        first = (window.start - DELIVERY_SLACK).replace(minute=0, second=0, microsecond=0)
        last = window.end + DELIVERY_SLACK
        found = []
        for obj in self._storage.list_objects(self.bucket, layout.capture_prefix(kind, model)):
            hour = layout.delivery_hour(obj.key)
            if hour is None or first <= hour <= last:
                found.append(obj)
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
        mixed = not layout.partitioned_by_model(kind)
        found: list[dict[str, Any]] = []
        for obj in self.objects(kind, window, model):
            for record in self.read(obj.key):
                if mixed and record.get("model") != model:
                    continue
                value = record.get("timestamp")
                if isinstance(value, str) and window.contains(parse_timestamp(value)):
                    found.append(record)
        return found

    def delivered_keys(self, models: Iterable[str], start: datetime, end: datetime) -> list[str]:
        """Keys of the prediction events of ``models`` and of rejected requests delivered in ``[start, end]``.

        Lists one prefix per delivery hour and layout, so its cost does not grow with history.
        """
        prefixes = [layout.events_prefix(model) for model in models] + [layout.capture_prefix("rejected")]
        keys: list[str] = []
        for prefix in prefixes:
            for hourly in layout.hourly_prefixes(prefix, start, end):
                keys.extend(obj.key for obj in self._storage.list_objects(self.bucket, hourly))
        return keys

    def delivered_since(
        self, kind: CaptureKind, model: str, since: datetime, until: datetime
    ) -> list[ObjectInfo]:
        """Objects of ``kind`` (of ``model``) delivered from ``since``'s hour to ``until``'s, in key order.

        Lists one prefix per delivery hour, so its cost does not grow with history.
        """
        found: list[ObjectInfo] = []
        for hourly in layout.hourly_prefixes(layout.capture_prefix(kind, model), since, until):
            found.extend(self._storage.list_objects(self.bucket, hourly))
        return found

    def all_records(self, kind: CaptureKind, model: str | None = None) -> Iterator[dict[str, Any]]:
        """Every record of ``kind`` ever kept (for ``model`` when given), in key order: small buckets only."""
        keep_all = model is None or layout.partitioned_by_model(kind)
        for obj in self._storage.list_objects(self.bucket, layout.capture_prefix(kind, model)):
            for record in self.read(obj.key):
                if keep_all or record.get("model") == model:
                    yield record
