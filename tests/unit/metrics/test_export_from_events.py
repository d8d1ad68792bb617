"""The metrics export driven by delivered objects: keys from Object Created messages, no listing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from modelwatch.contracts import catalogue as cat
from modelwatch.metrics.provider import InMemorySink
from modelwatch.metrics.serving_metrics import ExportIncomplete, delivered_keys_of, run_metrics_export
from modelwatch.settings import ExportSettings
from modelwatch.stores.objects import InMemoryStorage
from tests.unit.metrics.test_serving_metrics import BUCKET, NOW, STATE_KEY, prediction

KEY = "events/model=fraud/dt=2027-01-15/hour=08/o1"


def message(key: str, bucket: str = BUCKET, message_id: str = "m1") -> dict[str, Any]:
    """An SQS record whose body is the EventBridge event S3 sends when Firehose delivers ``key``."""
    event = {
        "version": "0",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "detail": {"bucket": {"name": bucket}, "object": {"key": key, "size": 10, "etag": "x"}},
    }
    return {"messageId": message_id, "body": json.dumps(event), "eventSource": "aws:sqs"}


class NoListing(InMemoryStorage):
    """Storage that fails the test if anything lists it."""

    def list_objects(self, bucket: str, prefix: str) -> Any:
        raise AssertionError(f"listed {bucket}/{prefix}")


def test_keys_come_from_the_messages_of_the_batch() -> None:
    keys = delivered_keys_of([message(KEY), message("rejected/model=fraud/dt=x/r", message_id="m2")], BUCKET)

    assert keys == [KEY, "rejected/model=fraud/dt=x/r"]
    assert delivered_keys_of([message(KEY, bucket="another")], BUCKET) == []


def test_a_message_that_is_not_an_object_created_event_is_an_error_naming_it() -> None:
    with pytest.raises(ValueError, match="message m9 is not an S3 Object Created event"):
        delivered_keys_of([{"messageId": "m9", "body": "{}"}], BUCKET)


def test_delivered_keys_are_counted_without_listing_and_once() -> None:
    # Given an object Firehose delivered, and storage that refuses to be listed
    storage = NoListing()
    storage.put(BUCKET, KEY, (json.dumps(prediction()) + "\n").encode())
    settings = ExportSettings(events_bucket=BUCKET, served_models=["fraud"], export_keys_from="events")
    sink = InMemorySink()

    # When its Object Created message arrives twice (SQS delivers at least once)
    for _ in range(2):
        outcome = run_metrics_export(settings, storage=storage, sink=sink, clock=lambda: NOW, delivered=[KEY])

    # Then it was counted once, the state saved, and nothing listed
    assert outcome.saved and outcome.objects == 0
    assert sink.last(cat.PREDICTIONS_TOTAL.name, model="fraud") == 1.0
    assert storage.keys(BUCKET, "state/") == [STATE_KEY]


def test_a_scheduled_run_with_no_keys_reports_health_and_lists_nothing() -> None:
    settings = ExportSettings(events_bucket=BUCKET, served_models=["fraud"], export_keys_from="events")
    sink = InMemorySink()

    outcome = run_metrics_export(settings, storage=NoListing(), sink=sink, clock=lambda: NOW, delivered=[])

    assert outcome.objects == 0
    assert sink.last(cat.JOB_LAST_SUCCESS.name, job="metrics_export") == NOW


def test_a_delivered_object_that_cannot_be_read_fails_the_batch_so_it_is_retried() -> None:
    settings = ExportSettings(events_bucket=BUCKET, served_models=["fraud"], export_keys_from="events")

    with pytest.raises(ExportIncomplete, match="1 unreadable object"):
        run_metrics_export(
            settings, storage=NoListing(), sink=InMemorySink(), clock=lambda: NOW, delivered=[KEY]
        )
