"""The per-request inputs of ``make cost``, measured here: ``python -m modelwatch_local.cost.measure``.

The predict handler (``functions/predict/handler.py``) runs in-process, as Lambda would run it,
with AWS faked by moto: each request's bytes written to stdout (Powertools' JSON logger and the
embedded-metric-format line) are counted, and so are the bytes and records it sends to Firehose.
Lambda's own START/END/REPORT lines are not written in-process; their size is known
(``PLATFORM_LINE_BYTES``) and ``make cost`` adds them when the templates say they are logged.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import importlib.util
import io
import json
import os
import sys
import tempfile
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

from modelwatch.contracts import layout

REPO_ROOT = Path(__file__).resolve().parents[3]
PREDICT_HANDLER = REPO_ROOT / "functions" / "predict" / "handler.py"
MODEL = "fraud_detection"
MODELS_BUCKET = "models-bucket"
EVENTS_BUCKET = "events-bucket"


@dataclass(frozen=True)
class Measured:
    """Per-request figures of the predict path, as measured here."""

    requests: int
    instances_per_request: int
    log_bytes_per_request: float
    log_lines_per_request: float
    emf_bytes_per_request: float
    capture_bytes_per_event: float
    firehose_records_per_request: float
    firehose_calls_per_request: float
    events_gzip_ratio: float
    request_bytes_per_instance: float


@dataclass
class _Context:
    function_name: str = "modelwatch-predict"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:modelwatch-predict"
    aws_request_id: str = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
    function_version: str = "$LATEST"

    def get_remaining_time_in_millis(self) -> int:
        return 15_000


def _event(body: dict[str, Any]) -> dict[str, Any]:
    path = f"/v1/models/{MODEL}/predict"
    return {
        "version": "2.0",
        "routeKey": f"POST {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "host": "abc123.execute-api.us-east-1.amazonaws.com"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7"},
            "requestId": uuid.uuid4().hex[:16],
            "routeKey": f"POST {path}",
            "stage": "$default",
            "timeEpoch": 1795687200000,
        },
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def _load_handler(env: dict[str, str]) -> ModuleType:
    os.environ.update(env)
    name = f"predict_handler_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, PREDICT_HANDLER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def measure(requests: int = 200, instances_per_request: int = 1) -> Measured:
    """Return the per-request figures of ``requests`` successful predictions (after one warm-up)."""
    import boto3
    from moto import mock_aws

    from modelwatch.registry.publishing import publish_model
    from modelwatch.stores.objects import S3Storage
    from modelwatch_local.fraud import FRAUD_SCHEMA, save_model, synthetic_transactions, train_fraud_model

    fake_aws = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    with (
        mock.patch.dict(os.environ, fake_aws),
        mock_aws(),
        tempfile.TemporaryDirectory() as tmp,
    ):
        os.environ.pop("AWS_ENDPOINT_URL", None)
        s3 = boto3.client("s3")
        for bucket in (MODELS_BUCKET, EVENTS_BUCKET):
            s3.create_bucket(Bucket=bucket)
        dlq_url = boto3.client("sqs").create_queue(QueueName="capture-dlq")["QueueUrl"]
        firehose = boto3.client("firehose")
        streams = ((f"events-{MODEL}", layout.events_prefix(MODEL)), ("rejected", layout.REJECTED_PREFIX))
        for stream, prefix in streams:
            firehose.create_delivery_stream(
                DeliveryStreamName=stream,
                ExtendedS3DestinationConfiguration={
                    "RoleARN": "arn:aws:iam::123456789012:role/firehose",
                    "BucketARN": f"arn:aws:s3:::{EVENTS_BUCKET}",
                    "Prefix": prefix,
                },
            )
        model_file = save_model(train_fraud_model(n=2000, n_estimators=10), Path(tmp) / "fraud.joblib")
        publish_model(
            model_file,
            MODEL,
            "1",
            "sklearn",
            FRAUD_SCHEMA,
            MODELS_BUCKET,
            prediction_type="probability",
            storage=S3Storage(s3),
        )
        env = {
            "MODELWATCH_MODELS_BUCKET": MODELS_BUCKET,
            "MODELWATCH_MANIFEST_PREFIX": "manifests",
            "MODELWATCH_SERVING_ALIAS": "production",
            "MODELWATCH_EVENTS_STREAM": f"events-{MODEL}",
            "MODELWATCH_REJECTED_STREAM": "rejected",
            "MODELWATCH_CATALOG_MODELS": MODEL,
            "MODELWATCH_CAPTURE_DLQ_URL": dlq_url,
            "MODELWATCH_MAX_INSTANCES": "1000",
            "MODELWATCH_MANIFEST_TTL_SECONDS": "30",
            "MODELWATCH_MODEL_CACHE_DIR": str(Path(tmp) / "cache"),
            "POWERTOOLS_SERVICE_NAME": "modelwatch",
            "POWERTOOLS_METRICS_NAMESPACE": "modelwatch",
            "POWERTOOLS_LOG_LEVEL": "INFO",
        }
        handler = _load_handler(env)
        rows = synthetic_transactions(max(instances_per_request, 50), seed=7)[0]
        body = {"instances": (rows * (instances_per_request // len(rows) + 1))[:instances_per_request]}

        calls: list[tuple[int, int]] = []
        captured_data: list[bytes] = []
        from botocore.client import BaseClient

        real_make_api_call = getattr(BaseClient, "_make_api_call")  # noqa: B009 (private, untyped)

        def counting(self: Any, operation: str, params: dict[str, Any]) -> Any:
            if operation == "PutRecordBatch":
                records = params["Records"]
                calls.append((len(records), sum(len(r["Data"]) for r in records)))
                captured_data.extend(bytes(r["Data"]) for r in records)
            return real_make_api_call(self, operation, params)

        setattr(BaseClient, "_make_api_call", counting)  # noqa: B010
        try:
            warm = handler.handler(_event(body), _Context())  # loads the model: its one log line
            assert warm["statusCode"] == 200, warm["body"]
            calls.clear()
            captured_data.clear()
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                for _ in range(requests):
                    response = handler.handler(_event(body), _Context())
                    assert response["statusCode"] == 200, response["body"]
        finally:
            setattr(BaseClient, "_make_api_call", real_make_api_call)  # noqa: B010
    text = out.getvalue()
    lines = [line for line in text.splitlines() if line.strip()]
    emf = [line for line in lines if '"_aws"' in line]
    events = len(calls) and sum(n for n, _ in calls)
    captured = sum(size for _, size in calls)
    return Measured(
        requests=requests,
        instances_per_request=instances_per_request,
        log_bytes_per_request=len(text.encode()) / requests,
        log_lines_per_request=len(lines) / requests,
        emf_bytes_per_request=sum(len(line.encode()) + 1 for line in emf) / requests,
        capture_bytes_per_event=captured / (requests * instances_per_request),
        firehose_records_per_request=events / requests,
        firehose_calls_per_request=len(calls) / requests,
        events_gzip_ratio=len(gzip.compress(b"".join(captured_data))) / max(captured, 1),
        request_bytes_per_instance=len(json.dumps(body)) / instances_per_request,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m modelwatch_local.cost.measure")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--instances-per-request", type=int, default=1)
    args = parser.parse_args(argv)
    print(json.dumps(asdict(measure(args.requests, args.instances_per_request)), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
