"""The capture replay end to end, AWS faked by moto: Firehose down, events dead-lettered, replayed once.

Serving runs the predict handler while its Firehose streams do not exist (every put is
refused), so its events and rejected requests, one of them a body too large for one SQS
message, go to the dead-letter queue. The streams come back, and the ``capture_replay``
function is invoked as ``aws lambda invoke`` does (a JSON payload and a Lambda context):
every event is then in S3 exactly once and the queue is empty, however often it is invoked.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import uuid
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest

from modelwatch.contracts import layout
from tests.integration.conftest import (
    EVENTS_BUCKET,
    EVENTS_STREAM,
    MODEL,
    REJECTED_STREAM,
    REPO,
    Deployment,
    LambdaContext,
    function_env,
    http_api_event,
    load_handler,
)

PREDICT = f"/v1/models/{MODEL}/predict"
# As in the deployment fixture: moto delivers here, Deployment.objects lays it out as Firehose does.
STREAM_PREFIXES = {
    EVENTS_STREAM: layout.local_delivery_prefix("events"),
    REJECTED_STREAM: layout.local_delivery_prefix("rejected"),
}


class ReplayContext:
    """The Lambda context of an on-demand invocation of the replay function (5 minutes to run)."""

    function_name = "modelwatch-capture-replay"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:modelwatch-capture-replay"
    aws_request_id = "5f8d2c4e-0d1b-4c7a-9a55-3e2f1d0c9b8a"
    function_version = "$LATEST"

    def __init__(self, remaining_ms: int = 300_000) -> None:
        self._remaining = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self._remaining


class TwoMinutesLeft(LambdaContext):
    def get_remaining_time_in_millis(self) -> int:
        return 120_000


def load_replay_handler(monkeypatch: pytest.MonkeyPatch, dlq_url: str) -> ModuleType:
    """Import functions/capture_replay/handler.py under the environment the monitoring stack sets."""
    for name, value in {
        "MODELWATCH_CAPTURE_DLQ_URL": dlq_url,
        "MODELWATCH_EVENTS_BUCKET": EVENTS_BUCKET,
        "MODELWATCH_REPLAY_CONCURRENCY": "4",
        "POWERTOOLS_SERVICE_NAME": "modelwatch",
        "POWERTOOLS_METRICS_NAMESPACE": "modelwatch",
    }.items():
        monkeypatch.setenv(name, value)
    path = REPO / "functions" / "capture_replay" / "handler.py"
    name = f"capture_replay_handler_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _create_streams() -> None:
    firehose = boto3.client("firehose")
    for stream, prefix in STREAM_PREFIXES.items():
        firehose.create_delivery_stream(
            DeliveryStreamName=stream,
            ExtendedS3DestinationConfiguration={
                "RoleARN": "arn:aws:iam::123456789012:role/firehose",
                "BucketARN": f"arn:aws:s3:::{EVENTS_BUCKET}",
                "Prefix": prefix,
            },
        )


def _queue_depth(deployment: Deployment) -> int:
    attributes = deployment.sqs.get_queue_attributes(
        QueueUrl=deployment.dlq_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


def _serve_with_firehose_down(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, rows: list[dict[str, Any]]
) -> None:
    firehose = boto3.client("firehose")
    for stream in STREAM_PREFIXES:
        firehose.delete_delivery_stream(DeliveryStreamName=stream)
    deployment.handler = load_handler(monkeypatch, function_env(deployment.dlq_url, tmp_path))
    for request in range(20):
        response = deployment.invoke(
            http_api_event(
                "POST",
                PREDICT,
                {"instances": rows[request : request + 5]},
                headers={"x-request-id": f"r{request}"},
            )
        )
        assert response["statusCode"] == 200
    # A rejected request whose body (about 400 KB) does not fit one SQS message (256 KiB): it goes
    # in two fragments, each sent within serving's call limits, so the function has two minutes here
    assert deployment.handler is not None
    huge = deployment.handler.handler(
        http_api_event("POST", PREDICT, raw_body="{" + "x" * 400_000, headers={"x-request-id": "huge"}),
        TwoMinutesLeft(),
    )
    unknown = deployment.invoke(http_api_event("POST", PREDICT, {"instances": [{"nope": 1}]}))
    assert huge["statusCode"] == 422 and unknown["statusCode"] == 422


def test_events_dead_lettered_while_firehose_was_down_reach_s3_exactly_once(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, rows: list[dict[str, Any]]
) -> None:
    # Given serving ran while Firehose refused everything: 100 events and 2 rejections dead-lettered
    _serve_with_firehose_down(deployment, monkeypatch, tmp_path, rows)
    waiting = _queue_depth(deployment)
    assert waiting == 20 + 2 + 1  # a message per request, the huge body's in two fragments
    assert deployment.objects("events/") == [] and deployment.objects("rejected/") == []
    # And Firehose is back
    _create_streams()
    replay = load_replay_handler(monkeypatch, deployment.dlq_url)

    # When the replay function is invoked: a dry run first, then for real, then again
    dry = replay.handler({"dry_run": True}, ReplayContext())
    assert deployment.objects("events/") == [] and _queue_depth(deployment) == waiting
    report = replay.handler({}, ReplayContext())
    again = replay.handler({}, ReplayContext())

    # Then every event and rejection is in S3 exactly once, and the queue is empty
    # (the events went back into the one events stream, and landed under the model's partition)
    assert dry["dry_run"] and dry["replayed"] == {EVENTS_STREAM: 100, REJECTED_STREAM: 2}
    assert report["replayed"] == {EVENTS_STREAM: 100, REJECTED_STREAM: 2}
    assert report["messages"] == report["deleted"] == waiting
    assert (report["failures"], report["in_doubt"], report["incomplete_fragment_sets"]) == (0, 0, 0)
    assert again["messages"] == 0 and again["replayed"] == {}
    events = deployment.objects("events/")
    assert events == deployment.objects(layout.events_prefix(MODEL))
    assert Counter(e["event_id"] for e in events).most_common(1)[0][1] == 1
    assert sorted((e["request_id"], e["index"]) for e in events) == sorted(
        (f"r{r}", i) for r in range(20) for i in range(5)
    )
    rejected = {r["request_id"]: r for r in deployment.objects("rejected/")}
    assert len(deployment.objects("rejected/")) == 2
    assert rejected["huge"]["body"] == "{" + "x" * 400_000 and not rejected["huge"]["body_truncated"]
    assert _queue_depth(deployment) == 0


def test_the_replay_function_refuses_a_misspelt_request_and_stops_before_its_deadline(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, rows: list[dict[str, Any]]
) -> None:
    _serve_with_firehose_down(deployment, monkeypatch, tmp_path, rows)
    _create_streams()
    replay = load_replay_handler(monkeypatch, deployment.dlq_url)
    waiting = _queue_depth(deployment)

    with pytest.raises(ValueError, match="dryrun"):
        replay.handler({"dryrun": True}, ReplayContext())
    late = replay.handler({}, ReplayContext(remaining_ms=20_000))  # less than its 30 s reserve

    assert late["stopped"] == "deadline" and late["messages"] == 0
    assert _queue_depth(deployment) == waiting and deployment.objects("events/") == []
    assert json.dumps(late)  # the answer is JSON, as Lambda returns it
