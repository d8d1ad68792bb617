"""The rollout function in-process over moto: per-variant figures from S3, a breach rolled back and announced.

Events of both variants (production version 1, candidate version 2) are delivered to the events
bucket under the keys Firehose uses; the rollout function (functions/rollout/handler.py) runs its
window with DuckDB over a lake synced from the bucket, as the local stack does; the platform bus is
moto's EventBridge with a rule to an SQS queue, as the alert channels subscribe in AWS.
"""

from __future__ import annotations

import importlib.util
import json
import random
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from modelwatch_local.fraud import FRAUD_SCHEMA

from modelwatch.contracts import layout
from modelwatch.contracts.results import JobResult
from modelwatch.contracts.rollout import Guardrails, Rollout, RolloutCandidate
from modelwatch.metrics import InMemorySink
from modelwatch.stores.manifests import ManifestStore
from modelwatch.stores.objects import S3Storage
from modelwatch.stores.rollout_evidence import RolloutEvidence
from tests.integration.conftest import EVENTS_BUCKET, MODEL, MODELS_BUCKET, REPO, Deployment, LambdaContext

BUS = "modelwatch-platform"
WINDOW_START = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def load_rollout_function(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> ModuleType:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    name = f"rollout_handler_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, REPO / "functions" / "rollout" / "handler.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def rollout_platform(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> dict[str, Any]:
    """Version 1 in production with an ab rollout of version 2; the bus to a queue; the rollout function."""
    manifests = ManifestStore(S3Storage(deployment.s3), MODELS_BUCKET)
    production = manifests.current(MODEL, "production")
    assert production is not None
    rollout = Rollout(
        id="fraud-v2-ab",
        mode="ab",
        candidate=RolloutCandidate(
            version="2",
            flavor="sklearn",
            artifact_uri=production.artifact_uri,
            input_schema=FRAUD_SCHEMA,
            prediction_type="probability",
        ),
        production_version=production.version,
        share=0.3,
        started_at=WINDOW_START - timedelta(minutes=10),
        guardrails=Guardrails(max_error_rate=0.05, min_requests=50),
    )
    manifests.write(production.model_copy(update={"rollout": rollout}))
    events = boto3.client("events")
    events.create_event_bus(Name=BUS)
    queue_url = deployment.sqs.create_queue(QueueName="alerts")["QueueUrl"]
    queue_arn = deployment.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    events.put_rule(Name="alerts", EventBusName=BUS, EventPattern=json.dumps({"source": ["modelwatch"]}))
    events.put_targets(Rule="alerts", EventBusName=BUS, Targets=[{"Id": "q", "Arn": queue_arn}])
    function = load_rollout_function(
        monkeypatch,
        {
            "MODELWATCH_EVENTS_BUCKET": EVENTS_BUCKET,
            "MODELWATCH_MODELS_BUCKET": MODELS_BUCKET,
            "MODELWATCH_EVENT_BUS_NAME": BUS,
            "MODELWATCH_QUERY_ENGINE": "duckdb",
            "MODELWATCH_LAKE_DIR": str(tmp_path / "lake"),
        },
    )
    sink = InMemorySink()
    function.job_context.clock = lambda: WINDOW_START + timedelta(minutes=6)
    function.job_context.metrics = sink
    return {"function": function, "queue_url": queue_url, "manifests": manifests, "metrics": sink}


def deliver(deployment: Deployment, kind: layout.CaptureKind, records: list[dict[str, Any]]) -> None:
    at = WINDOW_START + timedelta(minutes=2)
    key = layout.partitioned_key(kind, at, f"stream-{uuid.uuid4().hex[:8]}", MODEL)
    body = "".join(json.dumps(record) + "\n" for record in records).encode()
    deployment.s3.put_object(Bucket=EVENTS_BUCKET, Key=key, Body=body)


def traffic(deployment: Deployment, requests: int, candidate_failures: int, seed: int) -> dict[str, int]:
    """``requests`` of 1 to 3 instances, 30% served by the candidate; and candidate failures."""
    rng = random.Random(seed)
    stamp = (WINDOW_START + timedelta(minutes=2)).isoformat()
    events, served = [], {"production": 0, "candidate": 0}
    for i in range(requests):
        variant = "candidate" if rng.random() < 0.3 else "production"
        served[variant] += 1
        latency = rng.gauss(20.0 if variant == "candidate" else 10.0, 1.0)
        for index in range(rng.randint(1, 3)):
            events.append(
                {
                    "schema_version": 1,
                    "event_id": uuid.uuid4().hex,
                    "request_id": f"req-{seed}-{i}",
                    "index": index,
                    "model": MODEL,
                    "version": "2" if variant == "candidate" else "1",
                    "timestamp": stamp,
                    "features": {"amount": 12.5},
                    "prediction": rng.random(),
                    "latency_ms": latency,
                    "variant": variant,
                    "served": True,
                }
            )
    deliver(deployment, "events", events)
    failures = [
        {
            "schema_version": 1,
            "event_id": uuid.uuid4().hex,
            "request_id": f"failed-{seed}-{i}",
            "model": MODEL,
            "version": "2",
            "timestamp": stamp,
            "reason": "candidate_failed",
            "status_code": 200,
            "errors": [{"type": "prediction_failed", "message": "ValueError: broken candidate"}],
            "body": "{}",
            "body_truncated": False,
            "variant": "candidate",
        }
        for i in range(candidate_failures)
    ]
    if failures:
        deliver(deployment, "rejected", failures)
    return served


def run_window(platform: dict[str, Any], deployment: Deployment) -> JobResult:
    output = platform["function"].handler(
        {"model": MODEL, "window_start": WINDOW_START.isoformat(), "force": True}, LambdaContext()
    )
    key = output["result_uri"].removeprefix(f"s3://{EVENTS_BUCKET}/")
    body = deployment.s3.get_object(Bucket=EVENTS_BUCKET, Key=key)["Body"].read()
    return JobResult.model_validate_json(body)


def alerts(platform: dict[str, Any], deployment: Deployment) -> list[dict[str, Any]]:
    messages = deployment.sqs.receive_message(QueueUrl=platform["queue_url"], MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in messages.get("Messages", [])]


def test_the_job_computes_per_variant_figures_from_the_bucket(
    rollout_platform: dict[str, Any], deployment: Deployment
) -> None:
    served = traffic(deployment, 600, candidate_failures=2, seed=1)

    result = run_window(rollout_platform, deployment)

    assert result.status == "ok" and not result.alert, result.reason
    window = result.details["window"]["variants"]
    assert window["production"]["requests"] == served["production"]
    assert window["candidate"]["requests"] == served["candidate"] + 2
    assert window["candidate"]["errors"] == 2
    assert window["candidate"]["latency_p50_ms"] > window["production"]["latency_p50_ms"] + 5
    assert result.summary["action"] == "hold" and result.summary["share_after"] == 0.3
    stored = deployment.s3.get_object(
        Bucket=EVENTS_BUCKET, Key=layout.rollout_evidence_key(MODEL, "fraud-v2-ab")
    )["Body"].read()
    assert list(RolloutEvidence.model_validate_json(stored).windows) == ["2026-11-26T09:00Z"]
    rollout = rollout_platform["manifests"].current(MODEL, "production").rollout
    assert rollout.state == "running" and rollout.share == 0.3
    assert alerts(rollout_platform, deployment) == []


def test_a_breach_rolls_the_manifest_back_and_puts_rollout_rolled_back_on_the_bus(
    rollout_platform: dict[str, Any], deployment: Deployment
) -> None:
    served = traffic(deployment, 600, candidate_failures=40, seed=2)

    result = run_window(rollout_platform, deployment)

    assert result.status == "ok" and result.alert
    assert result.summary["action"] == "rollback" and result.summary["share_after"] == 0.0
    rate = 40 / (served["candidate"] + 40)
    assert result.details["totals"]["candidate"]["error_rate"] == pytest.approx(rate)
    rollout = rollout_platform["manifests"].current(MODEL, "production").rollout
    assert rollout.state == "rolled_back" and rollout.share == 0.0
    assert rollout.history[-1].actor == "modelwatch-rollout-job" and "error_rate" in rollout.reason
    (event,) = alerts(rollout_platform, deployment)
    assert event["detail-type"] == "RolloutRolledBack" and event["source"] == "modelwatch"
    assert event["detail"]["rollout_id"] == "fraud-v2-ab" and event["detail"]["share_after"] == 0.0
    assert "error_rate" in event["detail"]["reason"]
    pushed = {s.name for s in rollout_platform["metrics"].samples}
    assert {"modelwatch_rollout_rolled_back", "modelwatch_rollout_guardrail_state"} <= pushed
