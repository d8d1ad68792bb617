"""Handlers invoked in-process with real API Gateway HTTP API (v2.0) events; AWS faked by moto."""

from __future__ import annotations

import base64
import importlib.util
import json
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from modelwatch_local.fraud import FRAUD_SCHEMA, synthetic_transactions
from modelwatch_local.partitioner import LocalPartitioner, PartitionReport
from moto import mock_aws

from modelwatch.contracts import layout
from modelwatch.contracts.events import decode_event_object
from modelwatch.registry.publishing import publish_model
from modelwatch.stores.objects import S3Storage

REPO = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
MODEL = "fraud_detection"
MODELS_BUCKET = "models-bucket"
EVENTS_BUCKET = "events-bucket"
EVENTS_STREAM = "events"  # one stream for every model, as in AWS
REJECTED_STREAM = "rejected"
LABELS_STREAM = "labels"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@dataclass
class LambdaContext:
    function_name: str = "modelwatch-predict-fraud_detection"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:modelwatch-predict"
    aws_request_id: str = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
    function_version: str = "$LATEST"

    def get_remaining_time_in_millis(self) -> int:
        return 15_000


def http_api_event(
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    raw_body: str | None = None,
    base64_body: bool = False,
) -> dict[str, Any]:
    """An API Gateway HTTP API payload-format 2.0 event, as the service sends it."""
    text = raw_body if raw_body is not None else (json.dumps(body) if body is not None else None)
    all_headers = {
        "content-type": "application/json",
        "host": "abc123.execute-api.us-east-1.amazonaws.com",
        "user-agent": "pytest",
        **(headers or {}),
    }
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": all_headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "pytest",
            },
            "requestId": uuid.uuid4().hex[:16],
            "routeKey": "$default",
            "stage": "$default",
            "time": "26/Nov/2026:10:00:00 +0000",
            "timeEpoch": 1795687200000,
        },
        "isBase64Encoded": base64_body,
    }
    if text is not None:
        event["body"] = base64.b64encode(text.encode()).decode() if base64_body else text
    return event


@pytest.fixture(scope="session")
def trained_model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from modelwatch_local.fraud import save_model, train_fraud_model

    trained = train_fraud_model(n=3000, n_estimators=20)
    return save_model(trained, tmp_path_factory.mktemp("model") / "fraud.joblib")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        boto3.setup_default_session()
        yield


@dataclass
class Deployment:
    """The resources the CDK stacks create, faked in moto, and the function module."""

    s3: Any
    sqs: Any
    dlq_url: str
    handler: ModuleType | None = None

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        assert self.handler is not None
        response: dict[str, Any] = self.handler.handler(event, LambdaContext())
        self.partition()
        return response

    def partition(self) -> PartitionReport:
        """Lay what moto's streams delivered out as Firehose does in AWS (by model, dt=, hour=)."""
        return LocalPartitioner(self.s3, EVENTS_BUCKET).run()

    def objects(self, prefix: str) -> list[dict[str, Any]]:
        """Every record of every object under ``prefix`` of the events bucket, in key order."""
        self.partition()
        storage = S3Storage(self.s3)
        records: list[dict[str, Any]] = []
        for obj in storage.list_objects(EVENTS_BUCKET, prefix):
            found = storage.get(EVENTS_BUCKET, obj.key)
            assert found is not None
            records.extend(decode_event_object(found.body))
        return records


def load_handler(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> ModuleType:
    """Import functions/predict/handler.py afresh under ``env``, as a cold start does."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    path = REPO / "functions" / "predict" / "handler.py"
    name = f"predict_handler_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def deployment(aws: None, tmp_path: Path, trained_model_file: Path) -> Deployment:
    s3 = boto3.client("s3")
    for bucket in (MODELS_BUCKET, EVENTS_BUCKET):
        s3.create_bucket(Bucket=bucket)
    sqs = boto3.client("sqs")
    dlq_url = sqs.create_queue(QueueName="capture-dlq")["QueueUrl"]
    firehose = boto3.client("firehose")
    # moto neither partitions nor evaluates !{...}: deliveries are re-laid by Deployment.partition.
    for stream, prefix in (
        (EVENTS_STREAM, layout.local_delivery_prefix("events")),
        (REJECTED_STREAM, layout.local_delivery_prefix("rejected")),
        (LABELS_STREAM, layout.local_delivery_prefix("labels")),
    ):
        firehose.create_delivery_stream(
            DeliveryStreamName=stream,
            ExtendedS3DestinationConfiguration={
                "RoleARN": "arn:aws:iam::123456789012:role/firehose",
                "BucketARN": f"arn:aws:s3:::{EVENTS_BUCKET}",
                "Prefix": prefix,
            },
        )
    publish_model(
        trained_model_file,
        MODEL,
        "1",
        "sklearn",
        FRAUD_SCHEMA,
        MODELS_BUCKET,
        prediction_type="probability",
        storage=S3Storage(s3),
    )
    return Deployment(s3=s3, sqs=sqs, dlq_url=dlq_url)


def function_env(
    dlq_url: str,
    tmp_path: Path,
    catalog: str = MODEL,
    labels_stream: str | None = None,
    events_stream: str | None = None,
) -> dict[str, str]:
    """The environment the serving stack sets on a predict function (or, with labels, the catalog)."""
    labels = {"MODELWATCH_LABELS_STREAM": labels_stream} if labels_stream else {}
    return {
        **labels,
        "MODELWATCH_MODELS_BUCKET": MODELS_BUCKET,
        "MODELWATCH_MANIFEST_PREFIX": "manifests",
        "MODELWATCH_SERVING_ALIAS": "production",
        "MODELWATCH_EVENTS_STREAM": EVENTS_STREAM if events_stream is None else events_stream,
        "MODELWATCH_REJECTED_STREAM": REJECTED_STREAM,
        "MODELWATCH_CATALOG_MODELS": catalog,
        "MODELWATCH_CAPTURE_DLQ_URL": dlq_url,
        "MODELWATCH_MAX_INSTANCES": "50",
        "MODELWATCH_MANIFEST_TTL_SECONDS": "0",
        "MODELWATCH_MODEL_CACHE_DIR": str(tmp_path / "model-cache"),
        "POWERTOOLS_SERVICE_NAME": "modelwatch",
        "POWERTOOLS_METRICS_NAMESPACE": "modelwatch",
    }


@pytest.fixture
def predict_function(deployment: Deployment, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Deployment:
    deployment.handler = load_handler(monkeypatch, function_env(deployment.dlq_url, tmp_path))
    return deployment


@pytest.fixture(scope="session")
def rows() -> list[dict[str, Any]]:
    return synthetic_transactions(50, seed=7)[0]
