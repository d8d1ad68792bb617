"""The remote-write client against a real Prometheus (its remote-write receiver): write, query back."""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
import socket
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from modelwatch_local.prometheus_server import LocalPrometheus, start_prometheus, stop_prometheus

from modelwatch.contracts import layout
from modelwatch.metrics import FeatureDrift, RemoteWriteSink, Sample, drift_samples, job_samples
from modelwatch.metrics.serving_metrics import ServingState, export_serving_metrics
from modelwatch.stores.events import EventStore
from modelwatch.stores.objects import InMemoryStorage
from modelwatch.stores.state import StateStore

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(
    shutil.which("prometheus") is None, reason="prometheus is not installed (apt-get install prometheus)"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPrometheus]:
    running = start_prometheus(tmp_path_factory.mktemp("prometheus"), port=_free_port())
    yield running
    stop_prometheus(running)


def _vector(prometheus: LocalPrometheus, query: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(item["metric"].items())): float(item["value"][1]) for item in prometheus.query(query)
    }


def test_written_values_and_labels_are_queried_back(prometheus: LocalPrometheus) -> None:
    now = time.time()
    sink = RemoteWriteSink.from_url(prometheus.remote_write_url)
    features = [
        FeatureDrift("amount", "psi", 0.4375, None, True),
        FeatureDrift("hour", "chi2", 1.5, 0.031, False),
    ]
    samples = drift_samples("fraud", "7", features, drift_share=0.5, dataset_drift=True, now=now)

    outcome = sink.push(samples)

    assert outcome.ok and outcome.written == len(samples)
    scores = _vector(prometheus, 'modelwatch_feature_drift_score{model="fraud"}')
    assert scores == {
        (("__name__", "modelwatch_feature_drift_score"), ("feature", "amount"), ("method", "psi"),
         ("model", "fraud"), ("version", "7")): 0.4375,
        (("__name__", "modelwatch_feature_drift_score"), ("feature", "hour"), ("method", "chi2"),
         ("model", "fraud"), ("version", "7")): 1.5,
    }  # fmt: skip
    p_values = _vector(prometheus, 'modelwatch_feature_drift_p_value{model="fraud"}')
    assert sorted(p_values.values(), key=str)[0] == 0.031
    assert any(math.isnan(v) for v in p_values.values())
    (item,) = prometheus.query('modelwatch_dataset_drift_share{model="fraud",version="7"}')
    assert float(item["value"][1]) == 0.5
    (stamp,) = prometheus.query('timestamp(modelwatch_dataset_drift_share{model="fraud",version="7"})')
    assert float(stamp["value"][1]) == pytest.approx(now, abs=0.001)  # the sample's own time, not receipt


def test_many_series_in_bounded_batches_and_unicode_labels(prometheus: LocalPrometheus) -> None:
    now = time.time()
    sink = RemoteWriteSink.from_url(prometheus.remote_write_url, max_series_per_request=7)
    samples = [Sample.of("batch_test_value", i, now, {"i": str(i), "text": "é — ✓"}) for i in range(50)]

    outcome = sink.push(samples)

    assert outcome.ok and outcome.requests == 8
    assert prometheus.query("count(batch_test_value)")[0]["value"][1] == "50"
    assert prometheus.query('sum(batch_test_value{text="é — ✓"})')[0]["value"][1] == str(sum(range(50)))


def test_out_of_order_samples_are_rejected_counted_and_not_retried(prometheus: LocalPrometheus) -> None:
    now = time.time()
    sink = RemoteWriteSink.from_url(prometheus.remote_write_url, max_attempts=3)
    assert sink.push([Sample.of("ooo_test", 2, now)]).ok

    outcome = sink.push([Sample.of("ooo_test", 1, now - 600)])

    assert outcome.rejected == 1 and outcome.requests == 1 and outcome.retries == 0
    assert "out of order" in outcome.errors[0]
    assert prometheus.query("ooo_test")[0]["value"][1] == "2"


def test_an_unreachable_endpoint_is_an_outcome(tmp_path: Path) -> None:
    sink = RemoteWriteSink.from_url(
        f"http://127.0.0.1:{_free_port()}/api/v1/write", max_attempts=2, backoff_seconds=0.01
    )

    outcome = sink.push([Sample.of("x", 1, time.time())])

    assert outcome.failed == 1 and outcome.retries == 1


def test_serving_counters_from_events_are_cumulative_histograms(prometheus: LocalPrometheus) -> None:
    # Given two export runs a minute apart over captured events (30 requests at 10 ms, then 90 at 300 ms)
    start = time.time() - 120
    line = '{{"model":"svc","version":"1","prediction":0.5,"index":0,"latency_ms":{}}}\n'
    storage = InMemoryStorage()
    storage.put("events", "events/model=svc/a", (line.format(10) * 30).encode())
    events = EventStore(storage, "events")
    store = StateStore(storage, "events", "state.json", ServingState)
    sink = RemoteWriteSink.from_url(prometheus.remote_write_url)
    clock = iter([start, start, start + 60, start + 60])

    # When
    one = export_serving_metrics(
        keys=storage.keys("events", "events/"),
        read_records=events.read,
        store=store,
        sink=sink,
        clock=lambda: next(clock),
    )
    storage.put("events", "events/model=svc/b", (line.format(300) * 90).encode())
    two = export_serving_metrics(
        keys=storage.keys("events", "events/"),
        read_records=events.read,
        store=store,
        sink=sink,
        clock=lambda: next(clock),
    )

    # Then the counter reads 30 then 120, and the median of all 120 lands in the 300 ms bucket
    assert one.write.ok and two.write.ok
    query = 'modelwatch_prediction_requests_total{model="svc"}'
    assert [prometheus.query(query, at=t)[0]["value"][1] for t in (start, start + 60)] == ["30", "120"]
    median = prometheus.query(
        'histogram_quantile(0.5, sum by (le) (modelwatch_prediction_latency_seconds_bucket{model="svc"}))',
        at=start + 60,
    )
    assert 0.25 < float(median[0]["value"][1]) <= 0.5


def test_job_samples_and_the_rule_files_are_loaded(prometheus: LocalPrometheus) -> None:
    now = time.time()
    sink = RemoteWriteSink.from_url(prometheus.remote_write_url)
    assert sink.push(
        job_samples("drift", "fraud", started=now - 5, finished=now, succeeded=True, schedule_seconds=3600)
    ).ok

    ages = prometheus.query("time() - modelwatch_job_last_success_timestamp_seconds")
    assert 0 <= float(ages[0]["value"][1]) < 60
    groups = {g["name"] for g in _rules(prometheus)}
    assert groups == {"modelwatch-serving", "modelwatch-monitoring"}


def _rules(prometheus: LocalPrometheus) -> list[dict[str, object]]:
    import json
    import urllib.request

    with urllib.request.urlopen(f"{prometheus.url}/api/v1/rules", timeout=5) as response:
        groups: list[dict[str, object]] = json.loads(response.read())["data"]["groups"]
    return groups


def _load_function(name: str) -> ModuleType:
    path = REPO / "functions" / name / "handler.py"
    module_name = f"{name}_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def test_metrics_export_function_writes_serving_metrics_from_s3_events(
    prometheus: LocalPrometheus, aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given events delivered by Firehose (AWS layout, gzip), a rejected request, the function's settings
    import gzip

    import boto3

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="events-bucket")
    hour = time.strftime("dt=%Y-%m-%d/hour=%H", time.gmtime())
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    lines = [
        json.dumps(
            {
                "model": "exported",
                "version": "3",
                "index": i % 2,
                "timestamp": stamp,
                "features": {},
                "prediction": 0.99,
                "latency_ms": 40,
            }
        )
        for i in range(10)
    ]
    s3.put_object(
        Bucket="events-bucket",
        Key=f"events/model=exported/{hour}/a.gz",
        Body=gzip.compress("\n".join(lines).encode()),
    )
    rejected = {
        "model": "exported",
        "version": "3",
        "timestamp": stamp,
        "reason": "invalid_body",
        "status_code": 422,
    }
    # An invalid body's model is read from the path, never checked: it lands in the unrouted partition.
    partition = layout.capture_prefix("rejected", layout.partition_model("rejected", rejected))
    s3.put_object(Bucket="events-bucket", Key=f"{partition}{hour}/b", Body=json.dumps(rejected).encode())
    for name, value in {
        "MODELWATCH_EVENTS_BUCKET": "events-bucket",
        "MODELWATCH_SERVED_MODELS": "exported",
        "MODELWATCH_REMOTE_WRITE_URL": prometheus.remote_write_url,
        "MODELWATCH_CUSTOM_METRICS": json.dumps(
            [
                {
                    "name": "exported_confident_total",
                    "help": "p > 0.9",
                    "where": [{"field": "prediction", "op": ">", "value": 0.9}],
                }
            ]
        ),
        "POWERTOOLS_METRICS_NAMESPACE": "modelwatch",
    }.items():
        monkeypatch.setenv(name, value)
    function = _load_function("metrics_export")

    # When it runs twice (the second run finds nothing new)
    first = function.handler({"source": "aws.events"}, _Context())
    second = function.handler({"source": "aws.events"}, _Context())

    # Then the counters are in Prometheus, counted once, with the custom metric and the job's health
    assert first["objects"] == 2 and second["objects"] == 0 and first["failed"] == 0
    assert prometheus.query('modelwatch_predictions_total{model="exported"}')[0]["value"][1] == "10"
    assert prometheus.query('modelwatch_prediction_requests_total{model="exported"}')[0]["value"][1] == "5"
    assert (
        prometheus.query('modelwatch_rejections_total{model="exported",reason="invalid_body"}')[0]["value"][1]
        == "1"
    )
    assert prometheus.query('exported_confident_total{model="exported",version="3"}')[0]["value"][1] == "10"
    health = prometheus.query('modelwatch_job_last_run_success{job="metrics_export",model="exported"}')
    assert health[0]["value"][1] == "1"
    assert s3.get_object(Bucket="events-bucket", Key="state/metrics_export/serving.json")["Body"].read()


class _Context:
    function_name = "metrics-export"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:metrics-export"
    aws_request_id = "req"


def test_metrics_export_function_counts_the_objects_of_an_sqs_batch_of_object_created_events(
    prometheus: LocalPrometheus, aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an object Firehose delivered, and the export set to take its keys from events (as in AWS)
    import boto3

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="events-bucket")
    hour = time.strftime("dt=%Y-%m-%d/hour=%H", time.gmtime())
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    key = f"events/model=queued/{hour}/a"
    line = {"model": "queued", "version": "1", "index": 0, "timestamp": stamp, "prediction": 0.5}
    s3.put_object(Bucket="events-bucket", Key=key, Body=(json.dumps(line) + "\n").encode())
    for name, value in {
        "MODELWATCH_EVENTS_BUCKET": "events-bucket",
        "MODELWATCH_SERVED_MODELS": "queued",
        "MODELWATCH_REMOTE_WRITE_URL": prometheus.remote_write_url,
        "MODELWATCH_EXPORT_KEYS_FROM": "events",
        "POWERTOOLS_METRICS_NAMESPACE": "modelwatch",
    }.items():
        monkeypatch.setenv(name, value)
    function = _load_function("metrics_export")
    created = {
        "source": "aws.s3",
        "detail-type": "Object Created",
        "detail": {"bucket": {"name": "events-bucket"}, "object": {"key": key}},
    }
    batch = {"Records": [{"messageId": "m1", "body": json.dumps(created), "eventSource": "aws:sqs"}]}

    # When the queue hands it its batch, then the schedule runs (and lists nothing)
    queued = function.handler(batch, _Context())
    scheduled = function.handler({"source": "aws.events"}, _Context())

    # Then the object was counted once, from its message
    assert queued["objects"] == 1 and scheduled["objects"] == 0
    assert prometheus.query('modelwatch_predictions_total{model="queued"}')[0]["value"][1] == "1"
