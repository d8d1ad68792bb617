"""The dispatcher function's backfill payload against moto SQS: one message per window, ten a call."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from modelwatch.contracts import layout
from modelwatch.contracts.manifest import ManifestMonitoring, ServingManifest
from modelwatch.jobs.backfill import BackfillError, queue_backfill
from modelwatch.jobs.dispatch import DispatchContext
from modelwatch.jobs.requests import JobRequest
from modelwatch.settings import JobDispatchSettings
from modelwatch.stores.job_queue import SqsJobQueues
from modelwatch.stores.manifests import ManifestStore
from modelwatch.stores.objects import S3Storage
from tests.integration.conftest import EVENTS_BUCKET, MODELS_BUCKET, LambdaContext
from tests.integration.test_monitoring_jobs import load_function
from tests.unit.jobs.conftest import SCHEMA

JOBS = ("drift", "quality", "performance")
MODEL = "fraud"


@pytest.fixture
def queues(aws: None) -> dict[str, str]:
    s3 = boto3.client("s3")
    for bucket in (EVENTS_BUCKET, MODELS_BUCKET):
        s3.create_bucket(Bucket=bucket)
    ManifestStore(S3Storage(s3), MODELS_BUCKET).write(
        ServingManifest(
            model=MODEL,
            version="1",
            flavor="sklearn",
            artifact_uri=f"s3://{MODELS_BUCKET}/{layout.model_file_key(MODEL, '1', 'sklearn')}",
            input_schema=SCHEMA,
            monitoring=ManifestMonitoring(window_minutes=30),
        )
    )
    sqs = boto3.client("sqs")
    return {job: sqs.create_queue(QueueName=f"modelwatch-{job}-jobs")["QueueUrl"] for job in JOBS}


def drain(url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    bodies: list[dict[str, Any]] = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


def test_the_payload_sends_every_window_in_batches_of_ten(queues: dict[str, str]) -> None:
    sqs = boto3.client("sqs")
    batches: list[int] = []
    sqs.meta.events.register(
        "provide-client-params.sqs.SendMessageBatch",
        lambda params, **_: batches.append(len(params["Entries"])),
    )
    settings = JobDispatchSettings(
        models_bucket=MODELS_BUCKET,
        events_bucket=EVENTS_BUCKET,
        job_queue_urls=queues,
        delivery_lag_minutes=0,
    )
    context = DispatchContext(
        settings=settings,
        storage=S3Storage(boto3.client("s3")),
        queues=SqsJobQueues(sqs, queues),
        clock=lambda: datetime(2026, 11, 20, tzinfo=UTC),
    )

    # 12.5 hours of 30-minute windows: 25 per job
    queued = queue_backfill(
        context,
        {
            "model": MODEL,
            "from": "2026-11-01T00:00Z",
            "to": "2026-11-01T12:30Z",
            "jobs": ["drift", "quality"],
        },
    )

    assert queued.queued == {"drift": 25, "quality": 25}
    assert batches == [10, 10, 5, 10, 10, 5]
    drift = sorted(drain(queues["drift"]), key=lambda body: str(body["window_start"]))
    assert len(drift) == 25 and drain(queues["performance"]) == []
    starts = [JobRequest.model_validate(body).window_start for body in drift]
    assert starts == [datetime(2026, 11, 1, tzinfo=UTC) + i * timedelta(minutes=30) for i in range(25)]
    assert {(body["job"], body["model"], body["window_minutes"]) for body in drift} == {("drift", MODEL, 30)}


def test_the_dispatcher_function_answers_how_many_windows_it_queued_per_job(
    queues: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {
        "MODELWATCH_MODELS_BUCKET": MODELS_BUCKET,
        "MODELWATCH_EVENTS_BUCKET": EVENTS_BUCKET,
        "MODELWATCH_JOB_QUEUE_URLS": json.dumps(queues),
        "POWERTOOLS_METRICS_DISABLED": "true",
    }
    dispatcher = load_function("job_dispatch", monkeypatch, env)
    payload = {"model": MODEL, "from": "2026-11-01", "to": "2026-11-01T03:00Z", "force": True}

    answer = dispatcher.handler({"backfill": payload}, LambdaContext(function_name="modelwatch-job_dispatch"))

    assert answer["backfill"]["queued"] == {"drift": 6, "quality": 6, "performance": 6}
    assert answer["backfill"]["window_minutes"] == 30
    for job in JOBS:
        bodies = drain(queues[job])
        assert len(bodies) == 6 and all(body["force"] is True and body["job"] == job for body in bodies)
    # The scheduled path is unchanged: a tick still dispatches from the schedule's time, and saves its state
    tick = dispatcher.handler(
        {"time": "2026-11-01T03:05:00Z"}, LambdaContext(function_name="modelwatch-job_dispatch")
    )
    assert tick["dispatched"] == {"drift": 1, "quality": 1, "performance": 1}
    for job in JOBS:
        assert [body["window_start"] for body in drain(queues[job])] == ["2026-11-01T02:30:00+00:00"]
    # A bad payload is refused with the field named, and nothing is sent
    with pytest.raises(BackfillError, match=r"^to: "):
        dispatcher.handler(
            {"backfill": {**payload, "to": "2027-11-01"}},
            LambdaContext(function_name="modelwatch-job_dispatch"),
        )
    assert all(drain(url) == [] for url in queues.values())
