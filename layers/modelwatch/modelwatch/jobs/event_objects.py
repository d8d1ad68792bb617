"""Finding a window's captured objects in S3 and reading their records.

Firehose partitions by arrival hour: ``events/model=<m>/dt=YYYY-MM-DD/hour=HH/``
in AWS, ``events/model=<m>/YYYY/MM/DD/HH/`` from moto locally. Both sort in time
order, so a window's objects are found by listing the model's prefix from the
hour before the window and stopping after the hour that follows it (records
delivered late land in a later hour); records are then kept by their own
``timestamp``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from modelwatch.event_store import EventObject, decode_event_object
from modelwatch.jobs.window import Window, parse_timestamp

_HIVE_HOUR = re.compile(r"dt=(\d{4})-(\d{2})-(\d{2})/hour=(\d{2})/")
_PLAIN_HOUR = re.compile(r"/(\d{4})/(\d{2})/(\d{2})/(\d{2})/")
SLACK = timedelta(hours=1)


def object_hour(key: str) -> datetime | None:
    """The delivery hour encoded in an object's key, or None when the key has none."""
    match = _HIVE_HOUR.search(key) or _PLAIN_HOUR.search(key)
    if match is None:
        return None
    year, month, day, hour = (int(part) for part in match.groups())
    return datetime(year, month, day, hour, tzinfo=UTC)


def objects_in_window(s3_client: Any, bucket: str, prefix: str, window: Window) -> list[EventObject]:
    """Objects under ``prefix`` delivered from one hour before the window to one hour after it."""
    first = (window.start - SLACK).replace(minute=0, second=0, microsecond=0)
    last = window.end + SLACK
    found: list[EventObject] = []
    paginator = s3_client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            hour = object_hour(item["Key"])
            if hour is None or first <= hour <= last:
                found.append(EventObject(item["Key"], int(item["Size"]), str(item.get("ETag", ""))))
    return found


def read_object(s3_client: Any, bucket: str, key: str) -> list[dict[str, Any]]:
    body = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
    return decode_event_object(body)


def records_in_window(
    records: list[dict[str, Any]], window: Window, field: str = "timestamp"
) -> Iterator[dict[str, Any]]:
    """Records whose ``field`` timestamp falls in the window (records without one are skipped)."""
    for record in records:
        value = record.get(field)
        if isinstance(value, str) and window.contains(parse_timestamp(value)):
            yield record
