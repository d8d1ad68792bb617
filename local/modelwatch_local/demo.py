"""``make demo``: the whole serving loop on one machine, ending by itself, told as numbered steps.

Starts the local stack, trains and publishes the demo fraud model, sends a few
thousand real HTTP requests (some invalid), reads the captured events back
from (moto's) S3; then a second model, the registry, monitoring and rollout
phases (shadow test, canary, a broken version rolled back), the figures read back
from Prometheus; stops the stack and ends with what the run showed and what to open.
Exit code 0 only when every served instance and every rejection was captured and
each phase showed what it is for (2 when the stack could not start).

The terminal shows only the report (:mod:`modelwatch_local.report`); every log line goes
to ``<state>/logs/`` (:mod:`modelwatch_local.log_files`): one file per process of the
stack, and ``jobs.log`` for what runs in this process (the job handlers, the metrics
export, the registry client, libraries' warnings).
"""

from __future__ import annotations

import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from modelwatch.contracts import layout
from modelwatch.contracts.results import JobResult
from modelwatch.registry.publishing import publish_model
from modelwatch_local.dashboard_queries import dashboard_queries
from modelwatch_local.dashboard_site import write_snapshots
from modelwatch_local.delivery import DELIVERY_MODEL, publish_delivery_model, synthetic_deliveries
from modelwatch_local.fraud import FRAUD_SCHEMA, save_model, synthetic_transactions, train_fraud_model
from modelwatch_local.log_files import IN_PROCESS_LOG, SERVICE_LOGS, log_file, logs_dir, output_to_log
from modelwatch_local.monitoring_demo import run_monitoring_demo
from modelwatch_local.paths import DASHBOARDS_DIR
from modelwatch_local.processes import StackError
from modelwatch_local.prometheus_server import PrometheusError, demo_figures
from modelwatch_local.registry_demo import RegistryDemoResult, run_registry_demo
from modelwatch_local.report import Report, StepFailed, milliseconds, seconds, shown_path, thousands
from modelwatch_local.rollout_demo import RolloutDemoResult, run_rollout_demo
from modelwatch_local.scheduler import EXPORT_EVERY_SECONDS, LocalScheduler
from modelwatch_local.stack import (
    EVENTS_BUCKET,
    MODELS_BUCKET,
    LocalStack,
    load_running_stack,
    start_stack,
    stop_stack,
)
from modelwatch_local.traffic import TrafficReport, send_traffic

MODEL = "fraud_detection"

STEPS = (
    "Starting the local stack",
    "Publishing the baseline model",
    "Sending traffic",
    "Serving a second model",
    "Registry: register, compare, promote",
    "Monitoring: drift, quality, performance",
    "Rollouts: shadow, canary, rollback",
    "Metrics and dashboards, read back from Prometheus",
)
SERVICES = {
    "moto": "AWS stand-in (moto_server)",
    "api": "prediction API (uvicorn)",
    "prometheus": "Prometheus",
    "dashboards": "dashboard site",
    "mlflow": "MLflow server",
}
# Prometheus figures (``demo_figures``) as the summary labels them, with their units.
FIGURE_LABELS = {
    "predictions": "predictions",
    "requests_per_second": "request rate",
    "rejected_share": "rejected share",
    "p99_latency_seconds": "p99 latency",
    "most_drifted_feature": "most drifted feature",
    "firing_alerts": "firing alerts",
}
FIGURE_UNITS = {"requests_per_second": " requests/s"}


class DemoFailed(StepFailed):
    """A phase did not show what it is for; its FAILED line is printed (a failed step, exit code 1)."""


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


def serving_rows(
    report: TrafficReport, events: int, reasons: Counter[str], duration: float
) -> list[tuple[str, str]]:
    """The serving summary: what was sent, served, rejected and captured, each with its unit."""
    statuses = ", ".join(
        f"{status}: {thousands(count)}" for status, count in sorted(report.statuses.items()) if status >= 400
    )
    rejected = ", ".join(f"{reason}: {thousands(count)}" for reason, count in sorted(reasons.items()))
    return [
        ("requests sent", f"{thousands(report.sent)} in {seconds(duration)}"),
        (
            "served",
            f"{thousands(report.served_requests)} requests, {thousands(report.served_instances)} predictions",
        ),
        ("rejected", f"{thousands(report.rejected)} requests ({statuses})"),
        (
            "latency (client)",
            f"p50 {milliseconds(report.percentile(50))}, p99 {milliseconds(report.percentile(99))}",
        ),
        (
            "events captured",
            f"{thousands(events)} prediction events -> s3://{EVENTS_BUCKET}/{layout.events_prefix(MODEL)}",
        ),
        (
            "rejections captured",
            f"{thousands(sum(reasons.values()))} ({rejected}) -> s3://{EVENTS_BUCKET}/{layout.REJECTED_PREFIX}",
        ),
    ]


def run_second_model(stack: LocalStack, out: Report) -> bool:
    """Publish a second model (a regression) while the stack runs; serve and capture it, no restart."""
    import httpx

    pid = stack.pids.get("api")
    mae = publish_delivery_model(stack.storage(), MODELS_BUCKET, Path(stack.state_dir) / "artifacts")
    rows, _minutes = synthetic_deliveries(500, seed=11)
    requests = 300
    with out.progress(f"{DELIVERY_MODEL} requests", requests, "requests") as bar:
        report = send_traffic(
            stack.api_url, DELIVERY_MODEL, rows, requests, invalid_share=0.0, on_response=out.tick(bar)
        )
    listed = [m["name"] for m in httpx.get(f"{stack.api_url}/v1/models", timeout=10.0).json()["models"]]
    events = sum(1 for _ in stack.events().all_records("events", DELIVERY_MODEL))
    out.say(
        f"published {DELIVERY_MODEL} version 1 (a regression, hold-out MAE {mae:.1f} min) with "
        f"`publish_model`: no function, stream, route or schedule of its own"
    )
    out.summary(
        [
            ("GET /v1/models", ", ".join(listed)),
            (
                "served",
                f"{thousands(report.served_requests)} requests, {thousands(report.served_instances)} "
                f"predictions by the same API process (pid {pid}, not restarted)",
            ),
            (
                "events captured",
                f"{thousands(events)} -> s3://{EVENTS_BUCKET}/{layout.events_prefix(DELIVERY_MODEL)} "
                "(one stream for every model, partitioned by model)",
            ),
        ]
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
        out.failed(f"{DELIVERY_MODEL}: {report.rejected} rejected, {captured}", stack.log_file("api"))
    return ok


def run_demo(
    requests: int = 2000,
    state_dir: str = ".local",
    moto_port: int = 5100,
    api_port: int = 8000,
    prometheus_port: int = 9090,
    mlflow_port: int = 5000,
    extra_links: Callable[[LocalStack], Sequence[tuple[str, str]]] | None = None,
    dashboards_port: int = 3000,
) -> int:
    """Run every step on a fresh local stack; 0 when each showed what it is for, 1 if not, 2 if no stack.

    ``extra_links`` is called with the running stack after the last step; what it returns
    (label, path or URL) is listed with the URLs at the end.
    """
    jobs_log = log_file(state_dir, IN_PROCESS_LOG)
    if load_running_stack(state_dir) is None:  # this run's logs only (a running stack keeps its own)
        for old_log in logs_dir(state_dir).glob("*.log"):
            if old_log.name != "install.log":  # make install's, written just before
                old_log.unlink()
    with output_to_log(jobs_log) as terminal:
        out = Report(len(STEPS), terminal.out, terminal.err)
        try:
            return _run_steps(
                out,
                requests,
                state_dir,
                moto_port,
                api_port,
                prometheus_port,
                mlflow_port,
                extra_links,
                dashboards_port,
            )
        except StackError as error:
            out.error(f"modelwatch: error: {error.message}", error.log or jobs_log)
            return 2
        except StepFailed as failed:
            return 2 if isinstance(failed.__cause__, StackError) else 1


def _run_steps(
    out: Report,
    requests: int,
    state_dir: str,
    moto_port: int,
    api_port: int,
    prometheus_port: int,
    mlflow_port: int,
    extra_links: Callable[[LocalStack], Sequence[tuple[str, str]]] | None,
    dashboards_port: int,
) -> int:
    jobs_log = log_file(state_dir, IN_PROCESS_LOG)
    with out.step(STEPS[0], jobs_log):
        out.say("moto_server (S3, Firehose, SQS, EventBridge), the API under uvicorn, Prometheus, MLflow")
        shutil.rmtree(Path(state_dir) / "mlflow", ignore_errors=True)  # the demo registers versions 1 and 2
        with out.progress("services", len(SERVICES), "ready") as bar:
            stack = start_stack(
                [MODEL],
                state_dir=state_dir,
                moto_port=moto_port,
                api_port=api_port,
                prometheus_port=prometheus_port,
                mlflow_port=mlflow_port,
                dashboards_port=dashboards_port,
                on_ready=out.tick(bar, {key: f"{label} ready" for key, label in SERVICES.items()}),
            )
        out.summary(service_rows(stack))
    scheduler = LocalScheduler(stack)
    stop_export = scheduler.start_metrics_export()
    figures: dict[str, str] = {}
    try:
        with out.step(STEPS[1], jobs_log):
            auc = publish_demo_model(stack, version="0", seed=0)
            out.summary(
                [
                    ("model", f"{MODEL} version 0, published with `publish_model` (no registry)"),
                    ("hold-out AUC", f"{auc:.3f}"),
                    ("serving manifest", f"s3://{MODELS_BUCKET}/{layout.manifest_key(MODEL, 'production')}"),
                ]
            )
        traffic = _serving_step(out, stack, requests)
        with out.step(STEPS[3], stack.log_file("api")):
            if not run_second_model(stack, out):
                raise DemoFailed(DELIVERY_MODEL)
        with out.step(STEPS[4], stack.log_file("mlflow")):
            registry = run_registry_demo(stack, stack.mlflow_url, out.say)
            if not registry.ok:
                out.failed("serving did not follow the promotion", stack.log_file("api"))
                raise DemoFailed("registry")
        with out.step(STEPS[5], jobs_log):
            results = run_monitoring_demo(stack, scheduler, MODEL, out.say, report=out)
            if not results["drift"].summary.get("dataset_drift"):
                out.failed("the drifted phase was not detected as drift")
                raise DemoFailed("monitoring")
        with out.step(STEPS[6], jobs_log):
            rollouts = run_rollout_demo(stack, scheduler, stack.mlflow_url, out.say)
            if not rollouts.ok:
                out.failed(f"the rollout phase ({len(rollouts.failures)} failure(s), above)")
                raise DemoFailed("rollouts")
        with out.step(STEPS[7], stack.log_file("prometheus")):
            figures = print_live_figures(stack, scheduler, out)
            if not check_dashboard_queries(stack, out):
                out.failed("a dashboard query is not valid PromQL")
                raise DemoFailed("dashboards")
            snapshots = write_dashboard_snapshots(stack, out)
        links = [*closing_links(stack), *snapshots]
        if extra_links is not None:
            links.extend(extra_links(stack))
    finally:
        stop_export()
        stop_stack(stack, keep_lake=True)  # modelwatch sql --no-sync still answers afterwards
    out.closing(
        what_you_saw(traffic, registry, results, rollouts, figures),
        links,
        note=closing_note(state_dir),
    )
    return 0


def closing_note(state_dir: str) -> str:
    """That the stack is stopped, and where this run's logs are."""
    names = [f"{name}.log" for key, name in SERVICE_LOGS.items() if key != "tick"] + [f"{IN_PROCESS_LOG}.log"]
    return (
        "The demo stopped its stack: run `make up` to open these. "
        f"Logs: {shown_path(logs_dir(state_dir))}/ ({', '.join(names)})"
    )


def service_rows(stack: LocalStack) -> list[tuple[str, str]]:
    """Each process of the stack: where it answers and its log file."""
    urls = {
        "moto": stack.moto_url,
        "api": f"{stack.api_url}  (docs {stack.api_url}/docs)",
        "prometheus": stack.prometheus_url,
        "dashboards": stack.dashboards_url or "",
        "mlflow": stack.mlflow_url,
    }
    rows = [
        (label, f"{urls[key]}  log {shown_path(stack.log_file(key))}")
        for key, label in SERVICES.items()
        if key in stack.pids
    ]
    jobs = f"log {shown_path(stack.log_file(IN_PROCESS_LOG))}"
    return [*rows, ("job handlers (in this process)", f"{jobs}  (the scheduler, jobs, metrics export)")]


def _serving_step(out: Report, stack: LocalStack, requests: int) -> TrafficReport:
    with out.step(STEPS[2], stack.log_file("api")):
        rows, _labels = synthetic_transactions(5000, seed=1)
        out.say(f"{thousands(requests)} requests over HTTP to {stack.api_url} (about 5% invalid on purpose)")
        started = time.perf_counter()
        with out.progress("requests", requests, "requests") as bar:
            report = send_traffic(stack.api_url, MODEL, rows, requests, on_response=out.tick(bar))
        duration = time.perf_counter() - started
        out.say("reading the captured events back from S3 (locally one object per request) ...")
        events, reasons = count_captured(stack)
        out.summary(serving_rows(report, events, reasons, duration))
        lost = report.served_instances - events
        unrecorded = report.rejected - sum(reasons.values())
        if lost or unrecorded:
            out.failed(f"{lost} predictions and {unrecorded} rejections were not captured")
            raise DemoFailed("capture")
        out.say("every prediction and every rejection was captured.")
    return report


def print_live_figures(stack: LocalStack, scheduler: LocalScheduler, out: Report) -> dict[str, str]:
    """A few figures read back from Prometheus, where the metrics went through remote write."""
    prometheus = stack.prometheus()
    if prometheus is None:
        return {}
    scheduler.export_metrics()
    waits = 2
    with out.progress("metrics exports", waits, "exports") as bar:
        for _ in range(waits):  # a second point after the last export, for rate()
            time.sleep(EXPORT_EVERY_SECONDS)
            bar.advance()
    scheduler.export_metrics()
    figures = demo_figures(prometheus)
    out.say(f"read back from Prometheus at {stack.prometheus_url} (remote write from the metrics export):")
    rows = [(FIGURE_LABELS.get(name, name), figure_text(name, value)) for name, value in figures.items()]
    out.summary(rows)
    return figures


def figure_text(name: str, value: str) -> str:
    """A Prometheus figure with its unit, counts with thousands separators (``14,977``)."""
    if value.isdigit():
        return thousands(int(value))
    return value + FIGURE_UNITS.get(name, "") if value[:1].isdigit() else value


def check_dashboard_queries(stack: LocalStack, out: Report) -> bool:
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
    out.summary(
        [
            (
                "dashboards",
                f"{len(queries) - len(invalid)} of {len(queries)} panel and variable queries valid, "
                f"{len(queries) - len(invalid) - len(empty)} with data from this demo",
            )
        ]
    )
    for line in invalid:
        out.say(f"  INVALID {line}")
    return not invalid


def write_dashboard_snapshots(stack: LocalStack, out: Report) -> list[tuple[str, str]]:
    """Write a static page of every dashboard (the last 15 minutes) under ``<state>/dashboards``.

    Returns the pages as closing links (label, path); they open from ``file://``, offline.
    """
    pages = write_snapshots(
        stack.prometheus_url,
        Path(stack.state_dir) / "dashboards",
        variables={"model": MODEL},
        time_from="now-15m",
    )
    out.say(f"dashboard snapshots: {len(pages)} pages in {shown_path(pages[0].parent)}/ (open from file://)")
    return [(f"snapshot: {page.stem}", shown_path(page)) for page in pages]


def closing_links(stack: LocalStack) -> list[tuple[str, str]]:
    """What to open after ``make up`` (label, URL), and the reports this run wrote (label, path)."""
    links = [
        ("MLflow UI", f"{stack.mlflow_url}/#/models/{MODEL}"),
        ("API docs (Swagger UI)", f"{stack.api_url}/docs"),
        ("Prometheus", f"{stack.prometheus_url}/alerts"),
        ("dashboards", stack.dashboards_url or "http://127.0.0.1:3000"),
    ]
    reports = Path(stack.state_dir) / "reports"
    for job in ("drift", "quality", "performance"):
        path = reports / f"{job}-{MODEL}.html"
        if path.exists():
            links.append((f"{job} report", shown_path(path)))
    return links


def what_you_saw(
    traffic: TrafficReport,
    registry: RegistryDemoResult,
    monitoring: dict[str, JobResult],
    rollouts: RolloutDemoResult,
    figures: dict[str, str],
) -> list[str]:
    """The run in a few lines: served, captured, registered, promoted, drifted, alerted, rolled back."""
    share = monitoring["drift"].summary.get("drift_share")
    share_text = f"{share:.0%} of the features" if isinstance(share, float) else "features"
    alerts = [job for job, result in monitoring.items() if result.alert]
    alerted = f"alerts on the platform bus: {', '.join(alerts)}" if alerts else "no alert on the platform bus"
    lines = [
        f"served {thousands(traffic.served_instances)} predictions over HTTP and rejected "
        f"{thousands(traffic.rejected)} bad requests; every one captured to S3 through Firehose",
        f"registered versions {' and '.join(registry.versions)} in MLflow, compared them, promoted version "
        f"{registry.promoted}; serving switched in {seconds(registry.switch_seconds or 0.0)}, no restart",
        f"drifted traffic: the drift job flagged {share_text}, beside the quality and performance jobs; "
        f"{alerted}",
        f"a shadow test and a canary of version {rollouts.candidate_version}, promoted at 100%",
        f"a broken version {rollouts.broken_version} rolled back by its error-rate guardrail, "
        "RolloutRolledBack on the bus, every request back on production",
    ]
    if figures:
        lines.append(
            "the serving metrics in Prometheus: "
            f"{figure_text('predictions', figures.get('predictions', 'n/a'))} predictions, "
            f"p99 latency {figures.get('p99_latency_seconds', 'n/a')}"
        )
    return lines


if __name__ == "__main__":
    sys.exit(run_demo())
