"""``make demo``: the whole serving loop on one machine, ending by itself.

Starts the local stack, trains and publishes the demo fraud model, sends a few
thousand real HTTP requests (some invalid), reads the captured events back
from (moto's) S3, prints a summary; then the registry, monitoring and rollout
phases (shadow test, canary, a broken version rolled back); and stops the stack.
Exit code 0 only when every served instance and every rejection was captured and
each phase showed what it is for.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections import Counter
from pathlib import Path

from modelwatch.contracts import layout
from modelwatch.registry.publishing import publish_model
from modelwatch_local.dashboard_queries import dashboard_queries
from modelwatch_local.delivery import DELIVERY_MODEL, publish_delivery_model, synthetic_deliveries
from modelwatch_local.fraud import FRAUD_SCHEMA, save_model, synthetic_transactions, train_fraud_model
from modelwatch_local.monitoring_demo import run_monitoring_demo
from modelwatch_local.paths import DASHBOARDS_DIR
from modelwatch_local.prometheus_server import PrometheusError, demo_figures
from modelwatch_local.registry_demo import run_registry_demo
from modelwatch_local.rollout_demo import run_rollout_demo
from modelwatch_local.scheduler import EXPORT_EVERY_SECONDS, LocalScheduler
from modelwatch_local.stack import EVENTS_BUCKET, MODELS_BUCKET, LocalStack, start_stack, stop_stack
from modelwatch_local.traffic import TrafficReport, send_traffic

MODEL = "fraud_detection"


def _say(message: str) -> None:
    print(message, flush=True)


def publish_demo_model(stack: LocalStack, version: str, seed: int, n_estimators: int = 100) -> float:
    """Train the demo model, publish it as ``version``; return its hold-out AUC."""
    trained = train_fraud_model(seed=seed, n_estimators=n_estimators)
    path = save_model(trained, Path(stack.state_dir) / "artifacts" / f"{MODEL}-{version}.joblib")
    publish_model(
        path,
        MODEL,
        version,
        "sklearn",
        FRAUD_SCHEMA,
        MODELS_BUCKET,
        prediction_type="probability",
        source={"publisher": "make demo", "auc": f"{trained.auc:.4f}"},
        storage=stack.storage(),
        reference_profile_json=trained.reference_profile_json(),
    )
    return trained.auc


def count_captured(stack: LocalStack) -> tuple[int, Counter[str]]:
    """Prediction events of the demo model, and rejected requests by reason, read back from S3."""
    captured = stack.events()
    events = sum(1 for _ in captured.all_records("events", MODEL))
    reasons = Counter(record["reason"] for record in captured.all_records("rejected"))
    return events, reasons


def print_summary(report: TrafficReport, events: int, reasons: Counter[str], seconds: float) -> None:
    _say("")
    _say("== modelwatch demo: serving ==")
    _say(f"requests sent        {report.sent} in {seconds:.1f} s")
    _say(f"served               {report.served_requests} requests, {report.served_instances} predictions")
    statuses = ", ".join(
        f"{status}: {count}" for status, count in sorted(report.statuses.items()) if status >= 400
    )
    _say(f"rejected             {report.rejected} ({statuses})")
    _say(f"latency (client)     p50 {report.percentile(50):.1f} ms, p99 {report.percentile(99):.1f} ms")
    _say(
        f"events captured      {events} prediction events -> s3://{EVENTS_BUCKET}/{layout.events_prefix(MODEL)}"
    )
    rejected = ", ".join(f"{reason}: {count}" for reason, count in sorted(reasons.items()))
    _say(
        f"rejections captured  {sum(reasons.values())} ({rejected}) -> s3://{EVENTS_BUCKET}/{layout.REJECTED_PREFIX}"
    )


def run_second_model(stack: LocalStack) -> bool:
    """Publish a second model (a regression) while the stack runs; serve and capture it, no restart."""
    import httpx

    pid = stack.pids.get("api")
    mae = publish_delivery_model(stack.storage(), MODELS_BUCKET, Path(stack.state_dir) / "artifacts")
    rows, _minutes = synthetic_deliveries(500, seed=11)
    report = send_traffic(stack.api_url, DELIVERY_MODEL, rows, 300, invalid_share=0.0)
    listed = [m["name"] for m in httpx.get(f"{stack.api_url}/v1/models", timeout=10.0).json()["models"]]
    events = sum(1 for _ in stack.events().all_records("events", DELIVERY_MODEL))
    _say("")
    _say("== modelwatch demo: a second model, published while the stack runs ==")
    _say(
        f"published {DELIVERY_MODEL} version 1 (a regression, hold-out MAE {mae:.1f} min) with "
        f"`publish_model`: no function, stream, route or schedule of its own"
    )
    _say(f"GET /v1/models      {', '.join(listed)}")
    _say(
        f"served               {report.served_requests} requests, {report.served_instances} predictions "
        f"by the same API process (pid {pid}, not restarted)"
    )
    _say(
        f"events captured      {events} -> s3://{EVENTS_BUCKET}/{layout.events_prefix(DELIVERY_MODEL)} "
        "(one stream for every model, partitioned by model)"
    )
    ok = (
        DELIVERY_MODEL in listed
        and report.served_instances > 0
        and report.rejected == 0
        and events == report.served_instances
        and stack.pids.get("api") == pid
    )
    if not ok:
        captured = f"{events} of {report.served_instances} captured"
        _say(f"FAILED: {DELIVERY_MODEL}: {report.rejected} rejected, {captured}")
    return ok


def run_demo(
    requests: int = 2000,
    state_dir: str = ".local",
    moto_port: int = 5100,
    api_port: int = 8000,
    prometheus_port: int = 9090,
    mlflow_port: int = 5000,
) -> int:
    _say("starting the local stack (moto_server for S3/Firehose/SQS/EventBridge, the API under uvicorn, ")
    _say("Prometheus, an MLflow server; MLflow takes about 20 s) ...")
    shutil.rmtree(Path(state_dir) / "mlflow", ignore_errors=True)  # the demo registers versions 1 and 2
    stack = start_stack(
        [MODEL],
        state_dir=state_dir,
        moto_port=moto_port,
        api_port=api_port,
        prometheus_port=prometheus_port,
        mlflow_port=mlflow_port,
    )
    scheduler = LocalScheduler(stack)
    stop_export = scheduler.start_metrics_export()
    try:
        _say(
            f"API at {stack.api_url} (docs: {stack.api_url}/docs); AWS stand-in at {stack.moto_url}; "
            f"Prometheus at {stack.prometheus_url}; MLflow at {stack.mlflow_url}"
        )
        auc = publish_demo_model(stack, version="0", seed=0)
        _say(
            f"published a baseline {MODEL} version 0 (hold-out AUC {auc:.3f}) with `publish_model`, "
            f"no registry, to s3://{MODELS_BUCKET}/{layout.manifest_key(MODEL, 'production')}"
        )
        rows, _labels = synthetic_transactions(5000, seed=1)
        _say(f"sending {requests} requests over HTTP (about 5% invalid on purpose) ...")
        started = time.perf_counter()
        report = send_traffic(stack.api_url, MODEL, rows, requests)
        seconds = time.perf_counter() - started
        events, reasons = count_captured(stack)
        print_summary(report, events, reasons, seconds)
        lost = report.served_instances - events
        unrecorded = report.rejected - sum(reasons.values())
        if lost or unrecorded:
            _say(f"FAILED: {lost} predictions and {unrecorded} rejections were not captured")
            return 1
        _say("every prediction and every rejection was captured.")
        if not run_second_model(stack):
            return 1
        registry = run_registry_demo(stack, stack.mlflow_url, _say)
        if not registry.ok:
            _say("FAILED: serving did not follow the promotion")
            return 1
        results = run_monitoring_demo(stack, scheduler, MODEL, _say)
        if not results["drift"].summary.get("dataset_drift"):
            _say("FAILED: the drifted phase was not detected as drift")
            return 1
        rollouts = run_rollout_demo(stack, scheduler, stack.mlflow_url, _say)
        if not rollouts.ok:
            _say(f"FAILED: the rollout phase ({len(rollouts.failures)} failure(s), above)")
            return 1
        print_live_figures(stack, scheduler)
        if not check_dashboard_queries(stack):
            _say("FAILED: a dashboard query is not valid PromQL")
            return 1
        return 0
    finally:
        stop_export()
        stop_stack(stack, keep_lake=True)  # modelwatch sql --no-sync still answers afterwards


def print_live_figures(stack: LocalStack, scheduler: LocalScheduler) -> None:
    """A few figures read back from Prometheus, where the metrics went through remote write."""
    prometheus = stack.prometheus()
    if prometheus is None:
        return
    scheduler.export_metrics()
    time.sleep(2 * EXPORT_EVERY_SECONDS)  # a second point after the last export, for rate()
    scheduler.export_metrics()
    _say("")
    _say(f"== modelwatch demo: metrics, read back from Prometheus ({stack.prometheus_url}) ==")
    for name, value in demo_figures(prometheus).items():
        _say(f"{name.replace('_', ' '):<28}{value}")


def check_dashboard_queries(stack: LocalStack) -> bool:
    """Run every dashboard query against the local Prometheus, as Grafana would; False if one fails."""
    prometheus = stack.prometheus()
    if prometheus is None:
        return True
    queries = dashboard_queries(DASHBOARDS_DIR)
    empty, invalid = [], []
    for query in queries:
        try:
            if not prometheus.query(query.promql(MODEL)):
                empty.append(f"{query.dashboard}: {query.title}")
        except PrometheusError as error:
            invalid.append(f"{query.dashboard}: {query.title}: {error}")
    _say(
        f"dashboards                  {len(queries) - len(invalid)} of {len(queries)} panel and variable "
        f"queries valid, {len(queries) - len(invalid) - len(empty)} with data from this demo"
    )
    for line in invalid:
        _say(f"  INVALID {line}")
    return not invalid


if __name__ == "__main__":
    sys.exit(run_demo())
