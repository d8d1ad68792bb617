"""``make bench``: the serving path's figures, written as JSON (goals, not timed tests).

1. handler overhead: per-request time of the Mangum-invoked predict path for a
   one-instance request, minus the model's own predict time (p50, p99), with
   capture to (a) an in-memory sink and (b) a real botocore Firehose client whose
   HTTP layer is stubbed, so the client's own request-building cost is included;
   and, to read it against, a bare FastAPI endpoint under Mangum calling the same model;
   (c) the same botocore client with capture post-invoke, as in Lambda with the capture
   extension: the handler only queues the lines (the caller-visible overhead), the flush
   that the extension's thread runs after the handler returned is timed on its own;
   each variant's p50 as a ratio to the bare endpoint's (``ratio_to_floor_p50``);
2. cold start: a fresh process importing and initialising the predict function
   module (with the Lambda environment variables that turn the tracer on);
3. capture: Firehose calls and S3 PUTs per request, counted with botocore hooks
   against moto, for request sizes from 1 to 1000 instances.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

GOALS = {
    "handler_overhead_p50_us": 300.0,
    # caller-visible overhead with the real botocore Firehose client, capture post-invoke,
    # over the bare FastAPI + Mangum endpoint measured in the same run
    "post_invoke_overhead_ratio_to_floor_p50": 2.0,
    "cold_start_ms": 600.0,
    "firehose_calls_per_request": 1,
    "s3_puts_per_request": 0,
}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def _fixture_model(tmp: Path) -> tuple[Any, Any]:
    from modelwatch_local.fraud import FRAUD_SCHEMA, save_model, train_fraud_model

    from modelwatch.contracts.manifest import ServingManifest

    trained = train_fraud_model(n=3000, n_estimators=100)
    path = save_model(trained, tmp / "model.joblib")
    manifest = ServingManifest(
        model="fraud_detection",
        version="1",
        flavor="sklearn",
        artifact_uri=str(path),
        input_schema=FRAUD_SCHEMA,
        prediction_type="probability",
    )
    return manifest, path


class _StaticManifests:
    def __init__(self, manifest: Any) -> None:
        self.manifest = manifest

    def read(self, model: str, alias: str, if_none_match: str | None = None) -> Any:
        from modelwatch.stores.manifests import ManifestRead

        return None if if_none_match == "etag" else ManifestRead(self.manifest, "etag")


class _TimedPredictor:
    """Wraps the real predictor and records how long each of its calls takes."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.last_seconds = 0.0

    def predict(self, rows: Any) -> list[Any]:
        started = time.perf_counter()
        result: list[Any] = self.inner.predict(rows)
        self.last_seconds = time.perf_counter() - started
        return result


def _stubbed_firehose() -> Any:
    """A real botocore Firehose client whose sending is short-circuited with a canned answer."""
    import boto3

    client = boto3.client(
        "firehose", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )

    def answer(**kwargs: Any) -> Any:
        from botocore.awsrequest import AWSResponse

        body = json.dumps(
            {"FailedPutCount": 0, "Encrypted": False, "RequestResponses": [{"RecordId": "r"}]}
        ).encode()

        class _Raw:
            def stream(self, **_: Any) -> Any:
                yield body

        return AWSResponse("https://firehose", 200, {"content-type": "application/x-amz-json-1.1"}, _Raw())

    client.meta.events.register("before-send.firehose.PutRecordBatch", answer)
    return client


def bench_handler_overhead(requests: int, sink_kind: str) -> dict[str, Any]:
    from mangum import Mangum

    from modelwatch.serving.app import create_app
    from modelwatch.serving.context import ServingContext
    from modelwatch.serving.metrics import InMemoryServingMetrics
    from modelwatch.serving.model_cache import ModelCache
    from modelwatch.settings import ServingSettings
    from modelwatch.stores.artifacts import ArtifactStore
    from modelwatch.stores.capture import FirehoseSink, MemorySink
    from modelwatch.stores.objects import InMemoryStorage
    from tests.integration.conftest import LambdaContext, http_api_event

    with tempfile.TemporaryDirectory() as tmp:
        manifest, _ = _fixture_model(Path(tmp))
        timed: list[_TimedPredictor] = []

        def loader(m: Any, path: Path) -> Any:
            from modelwatch.serving.model_cache import _default_loader

            timed.append(_TimedPredictor(_default_loader(m, path)))
            return timed[-1]

        settings = ServingSettings(
            models_bucket="b",
            events_stream="events",
            rejected_stream="rejected",
            manifest_ttl_seconds=30,
        )
        cache = ModelCache(
            _StaticManifests(manifest),
            ArtifactStore(InMemoryStorage(), tmp),
            ["fraud_detection"],
            ttl_seconds=30,
            loader=loader,
        )
        sink = MemorySink() if sink_kind == "memory" else FirehoseSink(_stubbed_firehose())
        context = ServingContext(settings=settings, models=cache, sink=sink, metrics=InMemoryServingMetrics())
        post_invoke = sink_kind.endswith("post-invoke")
        if post_invoke:  # as with the extension registered: the handler only queues, the flush follows
            context.capture.mode = "deferred"
        app = create_app(context)
        handler = Mangum(app, lifespan="off")
        from modelwatch_local.fraud import synthetic_transactions

        row = synthetic_transactions(1, seed=5)[0][0]
        event = http_api_event("POST", "/v1/models/fraud_detection/predict", {"instances": [row]})
        lambda_context = LambdaContext()
        for _ in range(200):  # warm-up: model load, first-call caches
            assert handler(event, lambda_context)["statusCode"] == 200  # type: ignore[arg-type]
            context.capture.flush()
        totals, models, flushes = [], [], []
        for _ in range(requests):
            started = time.perf_counter()
            response = handler(event, lambda_context)  # type: ignore[arg-type]
            returned = time.perf_counter()
            totals.append(returned - started)
            models.append(timed[-1].last_seconds)
            assert response["statusCode"] == 200
            if post_invoke:  # what the extension's thread does after the handler returned
                assert context.capture.flush() == 1
                flushes.append((time.perf_counter() - returned) * 1e6)
        overhead = [(t - m) * 1e6 for t, m in zip(totals, models, strict=True)]
        result: dict[str, Any] = {
            "sink": sink_kind,
            "requests": requests,
            "overhead_p50_us": round(_percentile(overhead, 50), 1),
            "overhead_p99_us": round(_percentile(overhead, 99), 1),
            "total_p50_us": round(_percentile([t * 1e6 for t in totals], 50), 1),
            "model_predict_p50_us": round(_percentile([m * 1e6 for m in models], 50), 1),
        }
        if post_invoke:
            result["post_invoke_flush_p50_us"] = round(_percentile(flushes, 50), 1)
            result["post_invoke_flush_p99_us"] = round(_percentile(flushes, 99), 1)
        return result


def bench_framework_floor(requests: int) -> dict[str, Any]:
    """The same measurement for a bare FastAPI endpoint under Mangum calling the same model.

    No validation, capture, request id or metrics: what FastAPI + Mangum cost around a real
    model on this machine, to read the handler overhead against.
    """
    from fastapi import FastAPI
    from mangum import Mangum
    from modelwatch_local.fraud import synthetic_transactions

    from modelwatch.flavors import load_predictor
    from modelwatch.serving.api_models import PredictRequest
    from tests.integration.conftest import LambdaContext, http_api_event

    with tempfile.TemporaryDirectory() as tmp:
        manifest, path = _fixture_model(Path(tmp))
        predictor = _TimedPredictor(load_predictor("sklearn", path, manifest.input_schema, "probability"))
        app = FastAPI()

        @app.post("/v1/models/{model}/predict")
        async def predict(model: str, body: PredictRequest) -> dict[str, Any]:
            predictions = predictor.predict(body.instances)
            return {"model": model, "version": "1", "predictions": predictions, "request_id": "r"}

        handler = Mangum(app, lifespan="off")
        row = synthetic_transactions(1, seed=5)[0][0]
        event = http_api_event("POST", "/v1/models/fraud_detection/predict", {"instances": [row]})
        context = LambdaContext()
        for _ in range(200):
            handler(event, context)  # type: ignore[arg-type]
        overhead = []
        for _ in range(requests):
            started = time.perf_counter()
            handler(event, context)  # type: ignore[arg-type]
            overhead.append((time.perf_counter() - started - predictor.last_seconds) * 1e6)
        return {
            "requests": requests,
            "overhead_p50_us": round(_percentile(overhead, 50), 1),
            "overhead_p99_us": round(_percentile(overhead, 99), 1),
        }


COLD_START_PROBE = """
import time
started = time.perf_counter()
import importlib.util, sys
spec = importlib.util.spec_from_file_location("handler", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print((time.perf_counter() - started) * 1000)
if len(sys.argv) > 2:  # then what the first request for a model adds: its runtime, load and check
    from pathlib import Path
    from modelwatch.flavors import check_predictor, load_predictor
    from modelwatch_local.fraud import FRAUD_SCHEMA
    loading = time.perf_counter()
    predictor = load_predictor("sklearn", Path(sys.argv[2]), FRAUD_SCHEMA, "probability")
    check_predictor(predictor, FRAUD_SCHEMA, "probability")
    print((time.perf_counter() - loading) * 1000)
"""


def bench_cold_start(runs: int) -> dict[str, Any]:
    env = {
        **os.environ,
        "AWS_LAMBDA_FUNCTION_NAME": "modelwatch-predict-fraud_detection",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
        "LAMBDA_TASK_ROOT": str(REPO / "functions" / "predict"),  # as in Lambda: X-Ray samples locally
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "MODELWATCH_MODELS_BUCKET": "models",
        "MODELWATCH_REJECTED_STREAM": "rejected",
        "MODELWATCH_EVENTS_STREAM": "events",
        "MODELWATCH_CAPTURE_DLQ_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/dlq",
        "POWERTOOLS_SERVICE_NAME": "modelwatch",
    }
    env.pop("AWS_ENDPOINT_URL", None)
    handler = str(REPO / "functions" / "predict" / "handler.py")
    subprocess.run(
        [sys.executable, "-c", COLD_START_PROBE, handler], env=env, check=True, capture_output=True
    )  # compile .pyc once, as the bundle ships them
    imports, walls = [], []
    for _ in range(runs):
        started = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", COLD_START_PROBE, handler],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        walls.append((time.perf_counter() - started) * 1000)
        imports.append(float(out.stdout.strip().splitlines()[-1]))
    # The first request for a model, in a fresh process after the same cold start: the flavour's
    # runtime imported (scikit-learn), the artifact loaded and test-scored; S3 reads not included.
    loads = []
    with tempfile.TemporaryDirectory() as tmp:
        manifest, _ = _fixture_model(Path(tmp))
        for _ in range(runs):
            out = subprocess.run(
                [sys.executable, "-c", COLD_START_PROBE, handler, manifest.artifact_uri],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            )
            loads.append(float(out.stdout.strip().splitlines()[-1]))
    return {
        "runs": runs,
        "import_and_init_ms_median": round(statistics.median(imports), 1),
        "import_and_init_ms_max": round(max(imports), 1),
        "process_wall_ms_median": round(statistics.median(walls), 1),
        "first_model_load_ms_median": round(statistics.median(loads), 1),
        "first_model_load_ms_max": round(max(loads), 1),
    }


def bench_capture_calls() -> dict[str, Any]:
    import boto3
    from modelwatch_local.fraud import FRAUD_SCHEMA, synthetic_transactions
    from moto import mock_aws

    from modelwatch.registry.publishing import publish_model
    from modelwatch.stores.objects import S3Storage
    from tests.integration.conftest import LambdaContext, http_api_event

    os.environ.update(
        {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1"}
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    rows = synthetic_transactions(1000, seed=9)[0]
    per_request: dict[int, dict[str, int]] = {}
    with mock_aws(), tempfile.TemporaryDirectory() as tmp:
        boto3.setup_default_session()
        calls: list[str] = []
        boto3.DEFAULT_SESSION.events.register(  # type: ignore[union-attr]
            "before-call.*.*",
            lambda model, **_: calls.append(f"{model.service_model.service_name}.{model.name}"),
        )
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="models-bucket")
        s3.create_bucket(Bucket="events-bucket")
        firehose = boto3.client("firehose")
        for stream in ("events", "rejected"):
            firehose.create_delivery_stream(
                DeliveryStreamName=stream,
                ExtendedS3DestinationConfiguration={
                    "RoleARN": "arn:aws:iam::123456789012:role/f",
                    "BucketARN": "arn:aws:s3:::events-bucket",
                },
            )
        _manifest, path = _fixture_model(Path(tmp))
        publish_model(
            path,
            "fraud_detection",
            "1",
            "sklearn",
            FRAUD_SCHEMA,
            "models-bucket",
            prediction_type="probability",
            storage=S3Storage(s3),
        )
        os.environ.update(
            {
                "MODELWATCH_MODELS_BUCKET": "models-bucket",
                "MODELWATCH_REJECTED_STREAM": "rejected",
                "MODELWATCH_EVENTS_STREAM": "events",
                "MODELWATCH_SERVED_MODELS": "fraud_detection",
                "MODELWATCH_MODEL_CACHE_DIR": tmp,
            }
        )
        import importlib.util

        spec = importlib.util.spec_from_file_location("bench_handler", REPO / "functions/predict/handler.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.handler(
            http_api_event("POST", "/v1/models/fraud_detection/predict", {"instances": rows[:1]}),
            LambdaContext(),
        )
        for size in (1, 10, 100, 1000):
            calls.clear()
            response = module.handler(
                http_api_event("POST", "/v1/models/fraud_detection/predict", {"instances": rows[:size]}),
                LambdaContext(),
            )
            assert response["statusCode"] == 200
            per_request[size] = {
                "firehose_calls": sum(c.startswith("firehose.") for c in calls),
                "s3_puts": sum(
                    c in {"s3.PutObject", "s3.UploadPart", "s3.CreateMultipartUpload"} for c in calls
                ),
                "other_calls": sum(not c.startswith("firehose.") for c in calls),
            }
    return {
        "per_request_by_instances": per_request,
        "max_firehose_calls_per_request": max(v["firehose_calls"] for v in per_request.values()),
        "max_s3_puts_per_request": max(v["s3_puts"] for v in per_request.values()),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--output", default=".bench/results.json")
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--cold-runs", type=int, default=7)
    parser.add_argument(
        "--overhead-only", action="store_true", help="only the handler overhead and its floor"
    )
    args = parser.parse_args()
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")

    results: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "goals": GOALS,
        "handler_overhead": [
            bench_handler_overhead(args.requests, "memory"),
            bench_handler_overhead(args.requests, "botocore-firehose-stubbed"),
            bench_handler_overhead(args.requests, "botocore-firehose-stubbed-post-invoke"),
        ],
        "framework_floor_bare_fastapi_mangum_same_model": bench_framework_floor(args.requests),
    }
    floor = results["framework_floor_bare_fastapi_mangum_same_model"]["overhead_p50_us"]
    results["ratio_to_floor_p50"] = {
        run["sink"]: round(run["overhead_p50_us"] / floor, 2) for run in results["handler_overhead"]
    }
    if not args.overhead_only:
        results["cold_start"] = bench_cold_start(args.cold_runs)
        results["capture"] = bench_capture_calls()
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
