"""The local stand-in for Firehose's dynamic partitioning, over moto's S3 and Firehose.

What moto's streams delivered is re-laid at the keys Firehose gives it in AWS
(``<kind>/model=<m>/dt=/hour=/<object name>``, rejections naming no served model under
``model=_unrouted``), nothing is dropped (an event or label without a model goes to the error
prefix), and a run repeated or interrupted writes the same objects.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from modelwatch_local.partitioner import LocalPartitioner

from modelwatch.contracts import layout
from modelwatch.stores.capture import pack_lines
from modelwatch.stores.events import EventStore
from modelwatch.stores.objects import S3Storage

BUCKET = "events-bucket"
HOUR = datetime(2026, 11, 26, 7, tzinfo=UTC)
DELIVERED = "local-delivery/events/2026/11/26/07/modelwatch-events-1-2026-11-26-07-59-00-abc"


@pytest.fixture
def s3(aws: None) -> Iterator[Any]:
    # `aws` (conftest): moto in-process, credentials, and no AWS_ENDPOINT_URL an earlier test left
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    yield client


def _line(model: str | None, i: int) -> str:
    record: dict[str, Any] = {"event_id": f"e{i}", "i": i}
    if model is not None:
        record["model"] = model
    return json.dumps(record)


def _keys(s3: Any, prefix: str = "") -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]


def _body(s3: Any, key: str) -> bytes:
    body: bytes = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    return body


def test_a_delivered_object_is_split_by_model_and_nothing_is_dropped(s3: Any) -> None:
    # Given one delivered object holding lines of two models, one line without a model and one not JSON
    lines = [_line("fraud", 0), _line("churn.v2", 1), _line(None, 2), "not json", _line("fraud", 3)]
    s3.put_object(Bucket=BUCKET, Key=DELIVERED, Body="\n".join(lines).encode() + b"\n")

    # When the partitioner runs
    report = LocalPartitioner(s3, BUCKET).run()

    # Then each model's lines are at the key Firehose would give them, the rest under the error prefix
    name = DELIVERED.rsplit("/", 1)[1]
    fraud = layout.partitioned_key("events", HOUR, name, "fraud")
    churn = layout.partitioned_key("events", HOUR, name, "churn.v2")
    errors = layout.partition_error_key("events", layout.PARTITIONING_FAILED, HOUR, name)
    assert fraud == f"events/model=fraud/dt=2026-11-26/hour=07/{name}"
    assert sorted(_keys(s3)) == sorted([fraud, churn, errors])
    assert _body(s3, fraud) == f"{lines[0]}\n{lines[4]}\n".encode()
    assert _body(s3, churn) == f"{lines[1]}\n".encode()
    assert _body(s3, errors) == f"{lines[2]}\n{lines[3]}\n".encode()
    assert report.objects == 1 and report.lines == {"fraud": 2, "churn.v2": 1} and report.failed_lines == 2
    # and the delivered object is gone
    assert _keys(s3, layout.LOCAL_DELIVERY_PREFIX) == []


def test_a_run_repeated_after_a_stop_writes_the_same_objects_once(s3: Any) -> None:
    # Given a run that wrote its pieces but stopped before deleting the delivered object
    body = f"{_line('fraud', 0)}\n{_line('churn', 1)}\n".encode()
    s3.put_object(Bucket=BUCKET, Key=DELIVERED, Body=body)
    LocalPartitioner(s3, BUCKET).run()
    first = {key: _body(s3, key) for key in _keys(s3)}
    s3.put_object(Bucket=BUCKET, Key=DELIVERED, Body=body)  # as if never deleted

    # When the next run finds it again
    LocalPartitioner(s3, BUCKET).run()

    # Then it wrote the same objects with the same content: no record twice
    assert {key: _body(s3, key) for key in _keys(s3)} == first
    records = list(EventStore(S3Storage(s3), BUCKET).all_records("events", "fraud"))
    assert [r["event_id"] for r in records] == ["e0"]


def test_rejected_and_labels_are_split_by_model_and_made_up_names_share_one_partition(s3: Any) -> None:
    # Given delivered rejections of a served model and of names a caller made up, and labels of two models
    rejected = "local-delivery/rejected/2026/11/26/07/modelwatch-rejected-1-x"
    labels = "local-delivery/labels/2026/11/26/07/modelwatch-labels-1-y"
    foreign = "local-delivery/events/not-a-delivery"
    served = '{"model": "fraud", "reason": "schema_violation", "version": "1"}'
    made_up = [f'{{"model": "guess-{i}", "reason": "unknown_model", "version": null}}' for i in range(3)]
    no_route = '{"model": "fraud", "reason": "not_found", "version": null}'
    s3.put_object(Bucket=BUCKET, Key=rejected, Body="\n".join([served, *made_up, no_route]).encode() + b"\n")
    s3.put_object(Bucket=BUCKET, Key=labels, Body=b'{"model": "fraud"}\n{"model": "churn"}\n{"i": 1}\n')
    s3.put_object(Bucket=BUCKET, Key=foreign, Body=b"?")

    # When the partitioner runs
    report = LocalPartitioner(s3, BUCKET).run()

    # Then each model's lines are under its partition, every made-up name under the one unrouted partition
    def key(kind: layout.CaptureKind, model: str, name: str) -> str:
        return layout.partitioned_key(kind, HOUR, name, model)

    rejected_name, labels_name = rejected.rsplit("/", 1)[1], labels.rsplit("/", 1)[1]
    unrouted = key("rejected", layout.UNROUTED_MODEL, rejected_name)
    assert unrouted == f"rejected/model=_unrouted/dt=2026-11-26/hour=07/{rejected_name}"
    failed = layout.partition_error_key("labels", layout.PARTITIONING_FAILED, HOUR, labels_name)
    assert sorted(_keys(s3)) == sorted(
        [
            foreign,
            key("rejected", "fraud", rejected_name),
            unrouted,
            key("labels", "fraud", labels_name),
            key("labels", "churn", labels_name),
            failed,
        ]
    )
    assert _body(s3, key("rejected", "fraud", rejected_name)) == f"{served}\n".encode()
    assert _body(s3, unrouted) == "".join(f"{line}\n" for line in [*made_up, no_route]).encode()
    assert _body(s3, key("labels", "churn", labels_name)) == b'{"model": "churn"}\n'
    assert _body(s3, failed) == b'{"i": 1}\n'
    assert report.skipped == [foreign] and report.failed_lines == 1


def test_what_serving_puts_to_the_one_stream_lands_under_each_models_prefix(aws: None) -> None:
    # Given the local events stream, delivering where the local stack points it
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    firehose = boto3.client("firehose", region_name="us-east-1")
    firehose.create_delivery_stream(
        DeliveryStreamName="events",
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::123456789012:role/firehose",
            "BucketARN": f"arn:aws:s3:::{BUCKET}",
            "Prefix": layout.local_delivery_prefix("events"),
        },
    )
    # When two requests of two models are captured, each packed into records as serving packs them
    for model in ("fraud", "churn"):
        records = pack_lines([_line(model, i) for i in range(3)])
        firehose.put_record_batch(DeliveryStreamName="events", Records=[{"Data": r} for r in records])
    LocalPartitioner(s3, BUCKET).run()

    # Then each model's events are under its own prefix, read back by the event store
    store = EventStore(S3Storage(s3), BUCKET)
    for model in ("fraud", "churn"):
        keys = _keys(s3, layout.events_prefix(model))
        assert len(keys) == 1 and layout.delivery_hour(keys[0]) is not None
        assert [r["model"] for r in store.all_records("events", model)] == [model] * 3
    assert _keys(s3, layout.LOCAL_DELIVERY_PREFIX) == []
