"""The predict Lambda handler end to end in-process: API Gateway event in, response out, events in S3."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from modelwatch_local.fraud import FRAUD_SCHEMA

from modelwatch.contracts.events import PredictionEvent, RejectedRequest
from modelwatch.registry.publishing import publish_model
from modelwatch.stores.objects import S3Storage
from tests.integration.conftest import (
    EVENTS_BUCKET,
    LABELS_STREAM,
    MODEL,
    MODELS_BUCKET,
    Deployment,
    function_env,
    http_api_event,
    load_handler,
)

PREDICT = f"/v1/models/{MODEL}/predict"


def body_of(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])


def test_prediction_is_answered_and_every_instance_captured(predict_function: Deployment, rows: list) -> None:
    # Given three valid instances and a caller's request id
    event = http_api_event("POST", PREDICT, {"instances": rows[:3]}, headers={"x-request-id": "req-123"})

    # When API Gateway invokes the function
    response = predict_function.invoke(event)

    # Then the predictions come back with the served version and the caller's id
    assert response["statusCode"] == 200, response["body"]
    body = body_of(response)
    assert body["model"] == MODEL and body["version"] == "1" and body["request_id"] == "req-123"
    assert len(body["predictions"]) == 3
    assert all(0.0 <= p <= 1.0 for p in body["predictions"])
    assert response["headers"]["x-request-id"] == "req-123"
    # and each instance is one event in the model's partition of the events bucket
    events = [PredictionEvent.model_validate(e) for e in predict_function.objects(f"events/model={MODEL}/")]
    assert [e.index for e in events] == [0, 1, 2]
    assert [e.features for e in events] == rows[:3]
    assert [e.prediction for e in events] == body["predictions"]
    assert {e.request_id for e in events} == {"req-123"}
    assert events[0].timestamp.tzinfo is not None and events[0].latency_ms > 0


def test_schema_violation_is_422_with_index_and_feature_and_is_captured(
    predict_function: Deployment, rows: list
) -> None:
    bad = dict(rows[1])
    bad["hour"] = "noon"
    response = predict_function.invoke(http_api_event("POST", PREDICT, {"instances": [rows[0], bad]}))

    assert response["statusCode"] == 422
    violations = body_of(response)["error"]["violations"]
    assert violations == [
        {"index": 1, "feature": "hour", "code": "type", "message": "expected an integer, got str"}
    ]
    rejected = [RejectedRequest.model_validate(r) for r in predict_function.objects("rejected/")]
    assert len(rejected) == 1 and rejected[0].reason == "schema_violation"
    assert rejected[0].errors[0]["feature"] == "hour"
    assert json.loads(rejected[0].body)["instances"][1]["hour"] == "noon"
    assert predict_function.objects(f"events/model={MODEL}/") == []


@pytest.mark.parametrize(
    ("event_kwargs", "status", "reason"),
    [
        ({"raw_body": "{not json"}, 422, "invalid_body"),
        ({"body": {"rows": []}}, 422, "invalid_body"),
        ({"body": {"instances": []}}, 422, "invalid_body"),
    ],
)
def test_malformed_bodies_are_rejected_and_captured(
    predict_function: Deployment, event_kwargs: dict[str, Any], status: int, reason: str
) -> None:
    response = predict_function.invoke(http_api_event("POST", PREDICT, **event_kwargs))

    assert response["statusCode"] == status
    error = body_of(response)["error"]
    assert error["code"] == reason and error["fields"]
    assert [r["reason"] for r in predict_function.objects("rejected/")] == [reason]


def test_too_many_instances_is_413(predict_function: Deployment, rows: list) -> None:
    response = predict_function.invoke(http_api_event("POST", PREDICT, {"instances": rows[:1] * 51}))

    assert response["statusCode"] == 413
    assert "at most 50" in body_of(response)["error"]["message"]
    assert [r["reason"] for r in predict_function.objects("rejected/")] == ["too_many_instances"]


def test_unknown_model_is_404(predict_function: Deployment, rows: list) -> None:
    response = predict_function.invoke(
        http_api_event("POST", "/v1/models/churn/predict", {"instances": rows[:1]})
    )

    assert response["statusCode"] == 404
    assert body_of(response)["error"]["code"] == "unknown_model"
    assert [r["model"] for r in predict_function.objects("rejected/")] == ["churn"]


def test_base64_encoded_body_is_decoded(predict_function: Deployment, rows: list) -> None:
    event = http_api_event("POST", PREDICT, {"instances": rows[:1]}, base64_body=True)

    assert predict_function.invoke(event)["statusCode"] == 200


def test_new_manifest_is_served_without_a_redeploy(
    predict_function: Deployment, rows: list, trained_model_file: Path
) -> None:
    # Given version 1 served
    first = body_of(predict_function.invoke(http_api_event("POST", PREDICT, {"instances": rows[:1]})))
    assert first["version"] == "1"

    # When version 2 is published (manifest TTL is 0 in this environment)
    publish_model(
        trained_model_file,
        MODEL,
        "2",
        "sklearn",
        FRAUD_SCHEMA,
        MODELS_BUCKET,
        prediction_type="probability",
        storage=S3Storage(predict_function.s3),
    )

    # Then the same warm function serves it
    second = body_of(predict_function.invoke(http_api_event("POST", PREDICT, {"instances": rows[:1]})))
    assert second["version"] == "2"


def test_unloadable_new_version_keeps_the_previous_one_serving(
    predict_function: Deployment, rows: list, tmp_path: Path
) -> None:
    assert (
        body_of(predict_function.invoke(http_api_event("POST", PREDICT, {"instances": rows[:1]})))["version"]
        == "1"
    )
    garbage = tmp_path / "broken.joblib"
    garbage.write_bytes(b"this is not a pickle")
    publish_model(
        garbage,
        MODEL,
        "3",
        "sklearn",
        FRAUD_SCHEMA,
        MODELS_BUCKET,
        prediction_type="probability",
        storage=S3Storage(predict_function.s3),
    )

    response = predict_function.invoke(http_api_event("POST", PREDICT, {"instances": rows[:1]}))

    assert response["statusCode"] == 200
    assert body_of(response)["version"] == "1"


def test_unloadable_model_with_nothing_loaded_is_503_with_retry_after(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, rows: list
) -> None:
    garbage = tmp_path / "broken.joblib"
    garbage.write_bytes(b"not a model")
    publish_model(
        garbage,
        MODEL,
        "9",
        "sklearn",
        FRAUD_SCHEMA,
        MODELS_BUCKET,
        prediction_type="probability",
        storage=S3Storage(deployment.s3),
    )
    deployment.handler = load_handler(monkeypatch, function_env(deployment.dlq_url, tmp_path))

    response = deployment.invoke(http_api_event("POST", PREDICT, {"instances": rows[:1]}))

    assert response["statusCode"] == 503
    assert response["headers"]["retry-after"] == "1"  # the manifest TTL (0 here), at least a second
    assert body_of(response)["error"]["code"] == "model_unavailable"
    assert "Traceback" not in response["body"]


def test_capture_failure_does_not_fail_the_prediction_and_goes_to_the_dlq(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, rows: list
) -> None:
    # Given a function whose events stream does not exist (Firehose refuses every put)
    env = function_env(deployment.dlq_url, tmp_path, events_stream="missing-stream")
    deployment.handler = load_handler(monkeypatch, env)

    # When it serves a request
    response = deployment.invoke(
        http_api_event("POST", PREDICT, {"instances": rows[:2]}, headers={"x-request-id": "dlq-1"})
    )

    # Then the prediction is answered and the events wait in the dead-letter queue
    assert response["statusCode"] == 200
    messages = deployment.sqs.receive_message(QueueUrl=deployment.dlq_url, MaxNumberOfMessages=10)["Messages"]
    assert len(messages) == 1
    letter = json.loads(messages[0]["Body"])
    assert letter["stream"] == "missing-stream"
    lines = [json.loads(line) for line in letter["lines"]]
    assert [(line["request_id"], line["index"]) for line in lines] == [("dlq-1", 0), ("dlq-1", 1)]


def test_request_path_makes_one_firehose_call_and_no_s3_put(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, rows: list
) -> None:
    calls: list[str] = []
    boto3.DEFAULT_SESSION.events.register(  # type: ignore[union-attr]
        "before-call.*.*", lambda model, **_: calls.append(f"{model.service_model.service_name}.{model.name}")
    )
    deployment.handler = load_handler(monkeypatch, function_env(deployment.dlq_url, tmp_path))
    deployment.invoke(http_api_event("POST", PREDICT, {"instances": rows[:1]}))  # warm: loads the model
    calls.clear()

    for size in (1, 5, 50):
        response = deployment.invoke(http_api_event("POST", PREDICT, {"instances": rows[:size]}))
        assert response["statusCode"] == 200

    firehose_calls = [c for c in calls if c.startswith("firehose.")]
    assert firehose_calls == ["firehose.PutRecordBatch"] * 3
    assert not [c for c in calls if c in {"s3.PutObject", "s3.UploadPart", "s3.CreateMultipartUpload"}]


def test_catalog_function_lists_models_and_reports_health(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Given the catalog function: no model runtime, every model in its listing
    env = function_env(deployment.dlq_url, tmp_path, catalog=f"{MODEL},churn")
    deployment.handler = load_handler(monkeypatch, env)

    listing = deployment.invoke(http_api_event("GET", "/v1/models"))
    health = deployment.invoke(http_api_event("GET", "/health"))
    docs = deployment.invoke(http_api_event("GET", "/docs"))
    spec = deployment.invoke(http_api_event("GET", "/openapi.json"))

    assert listing["statusCode"] == 200
    models = body_of(listing)["models"]
    assert [(m["name"], m["version"], m["flavor"]) for m in models] == [(MODEL, "1", "sklearn")]
    assert [f["name"] for f in models[0]["input_schema"]["features"]] == FRAUD_SCHEMA.feature_names
    assert health["statusCode"] == 200 and body_of(health)["status"] == "ok"
    assert docs["statusCode"] == 200 and "swagger" in docs["body"].lower()
    assert "/v1/models/{model}/predict" in body_of(spec)["paths"]


def test_events_bucket_objects_are_json_lines(predict_function: Deployment, rows: list) -> None:
    predict_function.invoke(http_api_event("POST", PREDICT, {"instances": rows[:4]}))
    s3 = predict_function.s3
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=EVENTS_BUCKET, Prefix="events/")["Contents"]]

    assert len(keys) == 1 and keys[0].startswith(f"events/model={MODEL}/")
    text = s3.get_object(Bucket=EVENTS_BUCKET, Key=keys[0])["Body"].read().decode()
    assert len(text.splitlines()) == 4


def test_feedback_reaches_the_labels_partition_through_the_catalog_function(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Given the catalog function (the $default route), with its labels stream
    env = function_env(deployment.dlq_url, tmp_path, catalog=MODEL, labels_stream=LABELS_STREAM)
    deployment.handler = load_handler(monkeypatch, env)
    labels = [
        {"request_id": "req-9", "index": 0, "label": 1},
        {"request_id": "req-9", "index": 1, "label": 0},
    ]

    # When labels for an earlier request arrive
    response = deployment.invoke(http_api_event("POST", f"/v1/models/{MODEL}/feedback", {"labels": labels}))

    # Then 202 and the labels are in S3, ready to be joined by (request_id, index)
    assert response["statusCode"] == 202
    assert body_of(response)["accepted"] == 2
    stored = deployment.objects("labels/")
    assert [(r["model"], r["request_id"], r["index"], r["label"]) for r in stored] == [
        (MODEL, "req-9", 0, 1),
        (MODEL, "req-9", 1, 0),
    ]
