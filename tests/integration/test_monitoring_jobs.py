"""The monitoring functions end to end in-process: traffic through the predict handler, jobs over moto S3."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from modelwatch_local.fraud import (
    FRAUD_SCHEMA,
    TrainedModel,
    save_model,
    synthetic_transactions,
    train_fraud_model,
)

from modelwatch.contracts import layout
from modelwatch.contracts.events import PredictionEvent
from modelwatch.contracts.results import JobResult
from modelwatch.contracts.window import Window
from modelwatch.metrics import InMemorySink
from modelwatch.registry.publishing import publish_model
from modelwatch.stores.objects import S3Storage
from tests.integration.conftest import (
    EVENTS_BUCKET,
    LABELS_STREAM,
    MODEL,
    MODELS_BUCKET,
    REPO,
    Deployment,
    LambdaContext,
    function_env,
    http_api_event,
    load_handler,
)

BUS = "modelwatch-platform"
PREDICT = f"/v1/models/{MODEL}/predict"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[TrainedModel, Path]:
    model = train_fraud_model(n=4000, n_estimators=20)
    return model, save_model(model, tmp_path_factory.mktemp("jobs-model") / "fraud.joblib")


def load_function(name: str, monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> ModuleType:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    module_name = f"{name}_handler_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(module_name, REPO / "functions" / name / "handler.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def platform(
    deployment: Deployment,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    trained: tuple[TrainedModel, Path],
) -> dict[str, Any]:
    """Version 1 with its reference profile; predict and catalog functions; the platform bus."""
    model, path = trained
    publish_model(
        path,
        MODEL,
        "1",
        "sklearn",
        FRAUD_SCHEMA,
        MODELS_BUCKET,
        prediction_type="probability",
        storage=S3Storage(deployment.s3),
        reference_profile_json=model.reference_profile_json(),
    )
    events = boto3.client("events")
    events.create_event_bus(Name=BUS)
    queue_url = deployment.sqs.create_queue(QueueName="alerts")["QueueUrl"]
    queue_arn = deployment.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    events.put_rule(Name="alerts", EventBusName=BUS, EventPattern=json.dumps({"source": ["modelwatch"]}))
    events.put_targets(Rule="alerts", EventBusName=BUS, Targets=[{"Id": "q", "Arn": queue_arn}])
    # Requests are stamped half-way through the current hour: the window is that hour.
    stamp = datetime.now(UTC).replace(minute=30, second=0, microsecond=0)
    if stamp > datetime.now(UTC):
        stamp -= timedelta(hours=1)
    predict = load_handler(monkeypatch, function_env(deployment.dlq_url, tmp_path))
    predict.app.state.context.clock = lambda: stamp
    catalog = load_handler(
        monkeypatch,
        function_env(deployment.dlq_url, tmp_path, labels_stream=LABELS_STREAM),
    )
    catalog.app.state.context.clock = lambda: stamp + timedelta(days=2)  # labels arrive days later
    monitoring_env = {
        "MODELWATCH_EVENTS_BUCKET": EVENTS_BUCKET,
        "MODELWATCH_MODELS_BUCKET": MODELS_BUCKET,
        "MODELWATCH_EVENT_BUS_NAME": BUS,
        "MODELWATCH_WINDOW_MINUTES": "60",
        "MODELWATCH_PERFORMANCE_THRESHOLDS": json.dumps({"min": {"auc": 0.6}}),
    }
    # The performance job joins labels in SQL: locally DuckDB over a lake synced from the bucket.
    sql_env = {"MODELWATCH_QUERY_ENGINE": "duckdb", "MODELWATCH_LAKE_DIR": str(tmp_path / "lake")}
    jobs = {
        name: load_function(name, monkeypatch, monitoring_env | (sql_env if name == "performance" else {}))
        for name in ("profile", "drift", "quality", "performance")
    }
    sink = InMemorySink()
    for module in jobs.values():  # the jobs run after the labels came in
        module.job_context.clock = lambda: stamp + timedelta(days=2, hours=1)
        module.job_context.metrics = sink
    return {
        "predict": predict,
        "catalog": catalog,
        "jobs": jobs,
        "stamp": stamp,
        "queue_url": queue_url,
        "deployment": deployment,
        "metrics": sink,
    }


def send(platform: dict[str, Any], rows: list[dict[str, Any]], batch: int = 10) -> list[str]:
    request_ids = []
    for start in range(0, len(rows), batch):
        request_id = f"req-{uuid.uuid4().hex[:12]}"
        response = platform["predict"].handler(
            http_api_event(
                "POST",
                PREDICT,
                {"instances": rows[start : start + batch]},
                headers={"x-request-id": request_id},
            ),
            LambdaContext(),
        )
        assert response["statusCode"] in (200, 422), response["body"]
        request_ids.append(request_id)
    platform["deployment"].partition()  # what Firehose's dynamic partitioning does in AWS
    return request_ids


def run(platform: dict[str, Any], job: str) -> JobResult:
    window_start = platform["stamp"].replace(minute=0)
    platform["deployment"].partition()  # the labels sent since, laid out as in AWS
    output = platform["jobs"][job].handler(
        {"model": MODEL, "window_start": window_start.isoformat(), "force": True}, LambdaContext()
    )
    key = output["result_uri"].removeprefix(f"s3://{EVENTS_BUCKET}/")
    body = platform["deployment"].s3.get_object(Bucket=EVENTS_BUCKET, Key=key)["Body"].read()
    return JobResult.model_validate_json(body)


def alerts(platform: dict[str, Any]) -> list[str]:
    messages = platform["deployment"].sqs.receive_message(
        QueueUrl=platform["queue_url"], MaxNumberOfMessages=10
    )
    return [json.loads(m["Body"])["detail-type"] for m in messages.get("Messages", [])]


def test_unchanged_traffic_is_not_drift_and_has_no_quality_violation(platform: dict[str, Any]) -> None:
    send(platform, synthetic_transactions(600, seed=21)[0])

    drift = run(platform, "drift")
    quality = run(platform, "quality")

    assert drift.status == "ok" and drift.versions == ["1"]
    assert drift.alert is False, drift.summary
    assert drift.summary["n_current"] == 600
    assert quality.status == "ok" and quality.alert is False, quality.summary
    assert alerts(platform) == []
    assert drift.report_uri and drift.report_uri.endswith(".html")


def test_drifted_traffic_is_detected_reported_and_announced(platform: dict[str, Any]) -> None:
    # Given traffic whose amounts tripled
    send(platform, synthetic_transactions(600, seed=22, amount_scale=3.0)[0])
    # and every delivered object already profiled by the profile function
    s3 = platform["deployment"].s3
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=EVENTS_BUCKET, Prefix="events/")["Contents"]]
    for key in keys:
        platform["jobs"]["profile"].handler(
            {
                "detail-type": "Object Created",
                "detail": {"bucket": {"name": EVENTS_BUCKET}, "object": {"key": key}},
            },
            LambdaContext(),
        )

    # When the drift job runs over the window
    result = run(platform, "drift")

    # Then amount is flagged, the report is stored, and DriftDetected is on the bus
    assert result.alert is True
    assert "amount" in result.summary["drifted_features"]
    feature = {f["name"]: f for f in result.details["1"]["features"]}["amount"]
    assert feature["drift_detected"] and feature["p_value"] is not None and feature["effect_size"] > 0
    html = s3.get_object(Bucket=EVENTS_BUCKET, Key=result.report_uri.removeprefix(f"s3://{EVENTS_BUCKET}/"))
    assert b"amount" in html["Body"].read()
    assert alerts(platform) == ["DriftDetected"]
    stored = [o["Key"] for o in s3.list_objects_v2(Bucket=EVENTS_BUCKET, Prefix="profiles/")["Contents"]]
    assert sorted(stored) == sorted(
        [layout.profile_key(key) for key in keys] + [layout.object_quality_key(key) for key in keys]
    )
    # and the scores went to the metrics sink (AMP in the cloud, Prometheus locally)
    sink = platform["metrics"]
    assert sink.last("modelwatch_feature_drift_detected", model=MODEL, version="1", feature="amount") == 1
    assert (
        sink.last("modelwatch_dataset_drift_share", model=MODEL, version="1") == result.summary["drift_share"]
    )
    assert sink.last("modelwatch_job_last_success_timestamp_seconds", job="drift", model=MODEL) > 0


def test_bad_data_is_a_quality_violation_counting_rejected_instances(platform: dict[str, Any]) -> None:
    rows = synthetic_transactions(200, seed=23)[0]
    for row in rows[:40]:
        row["channel"] = "carrier-pigeon"  # unseen category: served, then measured
    bad = [dict(row, hour="late") for row in rows[40:60]]  # type errors: rejected with 422
    send(platform, rows[:40] + rows[60:])
    send(platform, bad)

    result = run(platform, "quality")

    assert result.alert is True
    checks = {(v["feature"], v["check"]) for v in result.summary["violations"]}
    assert ("channel", "unseen_category") in checks and ("hour", "type_error") in checks
    assert result.summary["n_rejected_instances"] == 20
    assert "DataQualityViolation" in alerts(platform)


def object_created(platform: dict[str, Any], key: str) -> dict[str, Any]:
    """The profile function's answer to the Object Created event of ``key``, as EventBridge sends it."""
    head = platform["deployment"].s3.head_object(Bucket=EVENTS_BUCKET, Key=key)
    detail = {"bucket": {"name": EVENTS_BUCKET}, "object": {"key": key, "etag": head["ETag"].strip('"')}}
    answer: dict[str, Any] = platform["jobs"]["profile"].handler(
        {"detail-type": "Object Created", "detail": detail}, LambdaContext()
    )
    return answer


def test_the_profile_function_counts_events_and_rejected_objects_for_the_quality_job(
    platform: dict[str, Any],
) -> None:
    # Given served traffic with unseen channels and requests refused for a mistyped hour
    rows = synthetic_transactions(120, seed=25)[0]
    for row in rows[:30]:
        row["channel"] = "carrier-pigeon"
    send(platform, rows[:100])
    send(platform, [dict(row, hour="late") for row in rows[100:]])
    s3 = platform["deployment"].s3
    listed = {
        kind: [o["Key"] for o in s3.list_objects_v2(Bucket=EVENTS_BUCKET, Prefix=prefix).get("Contents", [])]
        for kind, prefix in (("events", "events/"), ("rejected", "rejected/"))
    }
    assert listed["events"] and listed["rejected"]

    # When the profile function handles each delivered object
    answers = {key: object_created(platform, key) for keys in listed.values() for key in keys}

    # Then events objects get a profile and quality counts, rejected objects quality counts only
    assert {answers[k]["kind"] for k in listed["events"]} == {"events"}
    assert {answers[k]["kind"] for k in listed["rejected"]} == {"rejected"}
    assert sum(answers[k]["events"] for k in listed["events"]) == 100
    assert all(answers[k]["checked"] == ["1"] and "events" not in answers[k] for k in listed["rejected"])
    stored = {o["Key"] for o in s3.list_objects_v2(Bucket=EVENTS_BUCKET, Prefix="profiles/")["Contents"]}
    assert stored == {layout.profile_key(k) for k in listed["events"]} | {
        layout.object_quality_key(k) for keys in listed.values() for k in keys
    }
    # and the quality job merges those counts
    result = run(platform, "quality")
    assert result.summary["n_objects"] == len(answers) and result.summary["n_rows"] == 120
    assert result.summary["n_rejected_instances"] == 20
    checks = {(v["feature"], v["check"]) for v in result.summary["violations"]}
    assert ("channel", "unseen_category") in checks and ("hour", "type_error") in checks
    assert len(s3.list_objects_v2(Bucket=EVENTS_BUCKET, Prefix="profiles/")["Contents"]) == len(stored)


def test_late_labels_give_performance_per_version(platform: dict[str, Any]) -> None:
    rows, labels = synthetic_transactions(800, seed=24)
    request_ids = send(platform, rows, batch=10)
    feedback = [
        {"request_id": rid, "index": i, "label": labels[n * 10 + i]}
        for n, rid in enumerate(request_ids)
        for i in range(10)
    ]
    for start in range(0, len(feedback), 500):
        response = platform["catalog"].handler(
            http_api_event("POST", f"/v1/models/{MODEL}/feedback", {"labels": feedback[start : start + 500]}),
            LambdaContext(),
        )
        assert response["statusCode"] == 202

    result = run(platform, "performance")

    assert result.status == "ok"
    metrics = result.summary["metrics"]["1"]
    assert metrics["n_labelled"] == 800 and metrics["n_predictions"] == 800
    assert 0.6 < metrics["auc"] < 1.0 and 0 < metrics["log_loss"] < 1
    assert result.alert is False
    assert platform["metrics"].last(
        "modelwatch_model_performance", model=MODEL, version="1", metric="auc"
    ) == pytest.approx(metrics["auc"])


def test_empty_window_is_no_data_not_a_failure(platform: dict[str, Any]) -> None:
    for job in ("drift", "quality", "performance"):
        result = run(platform, job)
        assert result.status == "no_data" and result.reason


def test_an_unreachable_metrics_endpoint_does_not_fail_the_run(platform: dict[str, Any]) -> None:
    send(platform, synthetic_transactions(100, seed=27)[0])
    platform["jobs"]["drift"].job_context.metrics = InMemorySink(fail_with="connection refused")

    result = run(platform, "drift")

    assert result.status == "ok"  # stored in S3 whatever the metrics endpoint did


def test_a_window_already_reported_is_not_recomputed(platform: dict[str, Any]) -> None:
    send(platform, synthetic_transactions(50, seed=25)[0])
    request = {"model": MODEL, "window_start": platform["stamp"].replace(minute=0).isoformat()}
    first = platform["jobs"]["drift"].handler(request, LambdaContext())
    send(platform, synthetic_transactions(50, seed=26)[0])
    second = platform["jobs"]["drift"].handler(request, LambdaContext())

    # the second batch is captured, but the stored result of the window stands
    assert first == second
    captured = platform["deployment"].objects(f"events/model={MODEL}/")
    assert len([PredictionEvent.model_validate(e) for e in captured]) == 100


class _MotoStack:
    """What the local scheduler takes of a running stack, over the in-process moto of these tests."""

    def __init__(self, monitoring_env: dict[str, str]) -> None:
        self._monitoring_env = monitoring_env

    def aws_env(self) -> dict[str, str]:
        return {}

    def monitoring_env(self, window_minutes: int = 60) -> dict[str, str]:
        return {**self._monitoring_env, "MODELWATCH_WINDOW_MINUTES": str(window_minutes)}

    def boto3_client(self, service: str) -> Any:
        return boto3.client(service)  # type: ignore[call-overload]  # the service is a run-time name

    def partition_deliveries(self) -> None:
        """These tests write events at their partitioned keys directly: no local delivery to re-lay."""


@pytest.fixture
def scheduler(platform: dict[str, Any]) -> Iterator[Any]:
    """The local scheduler (dispatcher, job queues, job handlers) over this test's moto."""
    from modelwatch_local.scheduler import LocalScheduler

    saved = dict(os.environ)  # the scheduler loads handlers as cold starts do, into os.environ
    env = {
        "MODELWATCH_EVENTS_BUCKET": EVENTS_BUCKET,
        "MODELWATCH_MODELS_BUCKET": MODELS_BUCKET,
        "MODELWATCH_EVENT_BUS_NAME": BUS,
        "POWERTOOLS_METRICS_DISABLED": "true",
    }
    yield LocalScheduler(_MotoStack(env))  # type: ignore[arg-type]  # a stand-in for LocalStack
    os.environ.clear()
    os.environ.update(saved)


def _publish_second_model(platform: dict[str, Any], trained: tuple[TrainedModel, Path], minutes: int) -> None:
    model, path = trained
    publish_model(
        path,
        "churn",
        "1",
        "sklearn",
        FRAUD_SCHEMA,
        MODELS_BUCKET,
        prediction_type="probability",
        storage=S3Storage(platform["deployment"].s3),
        reference_profile_json=model.reference_profile_json(),
        monitoring_window_minutes=minutes,
    )


def test_the_dispatcher_queues_each_due_model_and_job_and_the_job_functions_write_their_results(
    platform: dict[str, Any], scheduler: Any, trained: tuple[TrainedModel, Path]
) -> None:
    # Given traffic for the fraud model (hourly windows) and a second model watched every 15 minutes
    send(platform, synthetic_transactions(300, seed=23)[0])
    _publish_second_model(platform, trained, minutes=15)
    hour_end = platform["stamp"].replace(minute=0) + timedelta(hours=1)

    # When the schedule fires two minutes after the hour
    dispatched = scheduler.dispatch(hour_end + timedelta(minutes=2))

    # Then one message per (model, job) is on each job's queue
    assert dispatched["models"] == 2 and dispatched["dispatched"] == {
        "drift": 2,
        "quality": 2,
        "performance": 2,
    }
    sqs = platform["deployment"].sqs
    depth = {
        job: int(
            sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])[
                "Attributes"
            ]["ApproximateNumberOfMessages"]
        )
        for job, url in scheduler.job_queue_urls().items()
    }
    # (the rollout job's queue gets messages only for a model with a running rollout)
    assert depth == {"drift": 2, "quality": 2, "performance": 2, "rollout": 0}

    # When the job functions consume their queues (SQS events, as the event source mapping sends)
    answers = scheduler.drain_job_queues()

    # Then every message succeeded and each (model, job, window) has its result
    assert {job: [a["batchItemFailures"] for a in batch] for job, batch in answers.items()} == {
        "drift": [[]], "quality": [[]], "performance": [[]],
    }  # fmt: skip
    s3 = platform["deployment"].s3
    for job in ("drift", "quality", "performance"):
        for model, start in (
            (MODEL, hour_end - timedelta(hours=1)),
            ("churn", hour_end - timedelta(minutes=15)),
        ):
            key = f"reports/model={model}/job={job}/window={start:%Y-%m-%dT%H:%MZ}/result.json"
            result = JobResult.model_validate_json(
                s3.get_object(Bucket=EVENTS_BUCKET, Key=key)["Body"].read()
            )
            assert (result.window_end - result.window_start) == (hour_end - start)
    drift = _stored(s3, "drift", MODEL, hour_end - timedelta(hours=1))
    assert drift.status == "ok" and drift.summary["n_current"] == 300
    # and a second tick in the same hour dispatches nothing
    assert scheduler.dispatch(hour_end + timedelta(minutes=7))["dispatched"] == {}


def _stored(s3: Any, job: str, model: str, start: datetime) -> JobResult:
    key = layout.result_key(job, model, Window(start, start + timedelta(minutes=1)).key)
    return JobResult.model_validate_json(s3.get_object(Bucket=EVENTS_BUCKET, Key=key)["Body"].read())


def test_a_failing_message_is_reported_retried_then_dead_lettered(
    platform: dict[str, Any], scheduler: Any
) -> None:
    sqs = platform["deployment"].sqs
    url = scheduler.job_queue_urls()["quality"]
    good = json.dumps(
        {"job": "quality", "model": MODEL, "window_start": platform["stamp"].replace(minute=0).isoformat()}
    )
    sqs.send_message(QueueUrl=url, MessageBody=good)
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"job": "quality", "model": "../etc"}))

    first = scheduler.drain_job_queues(max_batches=1)["quality"][0]
    for _ in range(3):  # SQS hands the failed record out again until its receive count is spent
        scheduler.drain_job_queues(max_batches=1)

    # The bad record was reported (only it), the good one was done and deleted
    assert len(first["batchItemFailures"]) == 1
    messages = sqs.receive_message(QueueUrl=scheduler.dead_letter_queue_url(), MaxNumberOfMessages=10)
    assert [json.loads(m["Body"])["model"] for m in messages.get("Messages", [])] == ["../etc"]
    assert sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []) == []
