"""Run the chaos experiments against the local stack under load and write the report.

``python -m modelwatch_local chaos`` (``make chaos``) starts its own stack on free ports
(moto_server recording its requests, the API with its S3 calls through the fault proxy,
Prometheus with the alert rules, MLflow), publishes the demo model, starts one Locust run of
the load profile for the whole session, and runs each experiment in turn: warm-up, fault,
clear, watch. At the end it reconciles every request's events (S3, DLQ, log) and judges each
experiment: its own checks, plus callers got no 5xx and no request went unanswered, no event
was lost, and serving's latency came back.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelwatch_local.chaos import faults
from modelwatch_local.chaos.experiments import EXPERIMENTS, MODEL, ChaosContext, Check, Experiment
from modelwatch_local.chaos.fault_proxy import FaultProxy
from modelwatch_local.chaos.observe import ExportLoop, HealthProbe, alerts_now
from modelwatch_local.load.ledger import LedgerEntry, latency_summary, summarize
from modelwatch_local.load.reconcile import reconcile
from modelwatch_local.load.run import (
    LocustRun,
    captured_everywhere,
    finish_locust,
    machine_load,
    start_locust,
)
from modelwatch_local.load.stages import Stage
from modelwatch_local.processes import StackError, free_port

MANIFEST_TTL_SECONDS = 2.0
BUCKET_SECONDS = 1.0


@dataclass
class ChaosOptions:
    duration: float = 4.0
    warmup: float = 2.0
    after: float = 4.0
    users: int = 4
    user_rate: float = 5.0
    only: list[str] = field(default_factory=list)
    report: Path = Path(".chaos/report.json")
    state_dir: Path = Path(".chaos")


def serving_recovery(entries: Sequence[LedgerEntry], fault_end: float, threshold_ms: float) -> float | None:
    """Seconds after ``fault_end`` from which every 1 s bucket's requests were as expected and its p50
    under ``threshold_ms`` (None: not by the end of the window). The p50, not the max: a loaded
    2-core host puts a stray slow request anywhere."""
    after = [e for e in entries if e.t >= fault_end]
    if not after:
        return None
    buckets: dict[int, list[LedgerEntry]] = {}
    for entry in after:
        buckets.setdefault(int((entry.t - fault_end) // BUCKET_SECONDS), []).append(entry)
    bad = [
        index
        for index, group in buckets.items()
        if not all(e.as_expected for e in group) or (latency_summary(group)["p50"] or 0.0) > threshold_ms
    ]
    if not bad:
        return 0.0
    last = max(bad)
    if last == max(buckets):
        return None
    return round((last + 1) * BUCKET_SECONDS, 2)


def run_experiment(ctx: ChaosContext, experiment: Experiment, options: ChaosOptions) -> dict[str, Any]:
    """Warm up, inject, hold, clear, watch; return the experiment's record (judged later)."""
    print(f"-- {experiment.name}: {experiment.fault}", flush=True)
    experiment.prepare(ctx)
    window: dict[str, float] = {"start": time.time()}
    time.sleep(options.warmup)
    window["fault_start"] = time.time()
    experiment.inject(ctx)
    hold = max(options.duration, experiment.min_fault_seconds)
    time.sleep(max(0.0, hold - (time.time() - window["fault_start"])))
    alerts_during = alerts_now(ctx.stack.prometheus())
    window["fault_end"] = time.time()
    experiment.clear(ctx)
    window["cleared"] = time.time()
    time.sleep(options.after)
    window["end"] = time.time()
    return {
        "experiment": experiment,
        "window": window,
        "alerts": {"at_fault_end": alerts_during, "at_end": alerts_now(ctx.stack.prometheus())},
    }


def judge(
    ctx: ChaosContext, record: dict[str, Any], entries: list[LedgerEntry], capture: dict[str, Any]
) -> dict[str, Any]:
    experiment: Experiment = record["experiment"]
    window = record["window"]
    mine = [e for e in entries if window["start"] <= e.t < window["end"]]
    before = [e for e in mine if e.t < window["fault_start"]]
    during = [e for e in mine if window["fault_start"] <= e.t < window["cleared"]]
    after = [e for e in mine if e.t >= window["cleared"]]
    base_p99 = latency_summary(before)["p99"] or 50.0
    threshold = max(3 * base_p99, 100.0)
    recovery = serving_recovery(mine, window["cleared"], threshold)
    five_xx = {s: n for s, n in summarize(mine)["statuses"].items() if s.startswith("5")}
    unanswered = sum(1 for e in mine if e.status == 0)
    try:
        own = experiment.verify(ctx, entries, window)
    except Exception as error:  # a check that cannot be made is a failed check, with the reason
        own = [Check("the experiment's own checks could be made", False, f"{type(error).__name__}: {error}")]
    checks = [
        Check("callers got no 5xx", not five_xx, f"5xx: {five_xx or 'none'}"),
        Check("every request was answered", unanswered == 0, f"{unanswered} unanswered"),
        Check("no event was lost", capture["lost"] == 0, f"{capture['lost']} lost"),
        Check(
            "serving recovered by the end of the window",
            recovery is not None,
            f"{recovery} s after the fault was cleared "
            f"(every 1 s bucket as expected, p50 <= {threshold:.0f} ms)",
        ),
        *own,
    ]
    passed = all(c.ok for c in checks)
    start = window["start"]
    return {
        "name": experiment.name,
        "hypothesis": experiment.hypothesis,
        "fault": experiment.fault,
        "verdict": "passed" if passed else "failed",
        **({"known_defect": experiment.known_defect} if experiment.known_defect else {}),
        "fault_seconds": round(window["fault_end"] - window["fault_start"], 2),
        "timeline_seconds": {k: round(v - start, 2) for k, v in window.items()},
        "requests": {
            "served": sum(1 for e in mine if e.as_expected),
            "by_status": summarize(mine)["statuses"],
            "unexpected_by_status": summarize(mine)["errors_by_status"],
        },
        "latency_ms": {
            "before": latency_summary(before),
            "during": latency_summary(during),
            "after": latency_summary(after),
        },
        "events": capture,
        "serving_recovery_seconds": recovery,
        "recovery_seconds": recovery
        if experiment.recovery_means == Experiment.recovery_means
        else (experiment.recovery_seconds),
        "recovery_means": experiment.recovery_means,
        "health": {
            "before": ctx.health.between(start, window["fault_start"]),
            "during": ctx.health.between(window["fault_start"], window["cleared"]),
            "after": ctx.health.between(window["cleared"], window["end"]),
        },
        "alerts": record["alerts"],
        "metrics_export": ctx.export.between(window["fault_start"], window["cleared"]),
        "observed": {k: v for k, v in experiment.observed.items() if _jsonable(v)},
        "checks": [c.as_dict() for c in checks],
    }


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except TypeError:
        return False
    return True


def _settle(ctx: ChaosContext, timeout: float = 60.0) -> None:
    import httpx

    def healthy() -> bool:
        # /health lists a model once a request has loaded it: ready means the load is being served
        answer = httpx.get(f"{ctx.stack.api_url}/health", timeout=5.0)
        state = answer.json().get("models", {}).get(MODEL, {}).get("state")
        return answer.status_code == 200 and state == "ready"

    faults.wait_until(healthy, timeout)


def _train(state: Path) -> dict[str, Path]:
    from modelwatch_local.fraud import save_model, train_fraud_model

    return {
        name: save_model(
            train_fraud_model(n=8000, seed=seed, n_estimators=trees), state / f"model-{name}.joblib"
        )
        for name, seed, trees in (("a", 0, 20), ("b", 1, 20))
    }


def _register(ctx: ChaosContext) -> None:
    from modelwatch.registry import ModelRegistry
    from modelwatch_local.fraud import FRAUD_SCHEMA, synthetic_transactions
    from modelwatch_local.stack import MODELS_BUCKET

    registry = ModelRegistry(
        ctx.stack.mlflow_url,
        models_bucket=MODELS_BUCKET,
        storage=ctx.stack.storage(),
        max_retries=1,
        timeout=5.0,
    )
    rows, _ = synthetic_transactions(2000, seed=0)
    columns = {name: [row[name] for row in rows] for name in FRAUD_SCHEMA.feature_names}
    for name in ("a", "b"):
        uri = registry.register_model(
            model_path=str(ctx.artifacts[name]),
            name=MODEL,
            flavor="sklearn",
            prediction_type="probability",
            input_schema=FRAUD_SCHEMA,
            training_data=columns,
        )
        ctx.registry_versions.append(uri.rsplit("/", 1)[-1])
    ctx.registry = registry


def run_chaos(options: ChaosOptions) -> dict[str, Any]:
    """Run the experiments (all, or ``options.only``) and return the report (also written to a file)."""
    from modelwatch_local.demo import publish_demo_model
    from modelwatch_local.scheduler import LocalScheduler
    from modelwatch_local.stack import start_stack, stop_stack

    chosen = [make() for make in EXPERIMENTS]
    if options.only:
        unknown = set(options.only) - {e.name for e in chosen}
        if unknown:
            raise StackError(f"no such experiment: {', '.join(sorted(unknown))}")
        chosen = [e for e in chosen if e.name in options.only]
    mlflow = any(e.needs_mlflow for e in chosen)
    state = options.state_dir.resolve()
    shutil.rmtree(state / "stack", ignore_errors=True)
    (state / "stack").mkdir(parents=True)
    started_at = datetime.now(UTC)
    machine_before = machine_load()
    moto_port = free_port()
    proxy = FaultProxy(f"http://127.0.0.1:{moto_port}").start()
    stack = start_stack(
        [MODEL],
        state_dir=state / "stack",
        moto_port=moto_port,
        api_port=free_port(),
        prometheus_port=free_port(),
        mlflow_port=free_port() if mlflow else None,
        moto_env=faults.recording_env(state / "stack"),
        api_env={
            "AWS_ENDPOINT_URL_S3": proxy.url,
            "MODELWATCH_MANIFEST_TTL_SECONDS": f"{MANIFEST_TTL_SECONDS:g}",
        },
    )
    scheduler = LocalScheduler(stack)
    from modelwatch.observability import logger

    logger.setLevel("ERROR")  # the export's and jobs' warnings under faults are expected; the report has them
    export = ExportLoop(scheduler)
    health = HealthProbe(stack.api_url)
    locust = None
    records: list[dict[str, Any]] = []
    try:
        publish_demo_model(stack, version="10", seed=0, n_estimators=20)
        ctx = ChaosContext(
            stack=stack,
            proxy=proxy,
            scheduler=scheduler,
            export=export,
            health=health,
            state=state,
            artifacts=_train(state),
            manifest_ttl=MANIFEST_TTL_SECONDS,
        )
        if mlflow:
            _register(ctx)
        export.start()
        health.start()
        run = LocustRun(
            host=stack.api_url,
            stages=[Stage(options.users, 3600)],
            ledger=state / "ledger.jsonl",
            log=state / "locust.log",
            run_id="chaos",
            user_rate=options.user_rate,
            max_batch=10,
        )
        locust = start_locust(run)
        _settle(ctx)
        for experiment in chosen:
            records.append(run_experiment(ctx, experiment, options))
            _settle(ctx)
        run.stop()
        entries = finish_locust(run, locust, timeout=90.0)
        locust = None
        export.stop()
        health.stop()
        s3, dlq, log = captured_everywhere(stack)
        results = []
        for record in records:
            window = record["window"]
            mine = [e for e in entries if window["start"] <= e.t < window["end"]]
            results.append(judge(ctx, record, entries, reconcile(mine, s3, dlq, log)))
        overall = reconcile(entries, s3, dlq, log)
    finally:
        if locust is not None:
            locust.kill()
        export.stop()
        health.stop()
        stop_stack(stack)
        proxy.stop()
    unexpected = [r["name"] for r in results if r["verdict"] == "failed" and "known_defect" not in r]
    known = [r["name"] for r in results if r["verdict"] == "failed" and "known_defect" in r]
    report = {
        "report": "modelwatch chaos experiments",
        "started_at": started_at.isoformat(),
        "machine_before": machine_before,
        "machine_after": machine_load(),
        "load": {
            "users": options.users,
            "user_rate_per_second": options.user_rate,
            "mix": "predict one 6, batch (2-10) 2, schema violation 1, feedback 1",
            **summarize(entries),
        },
        "settings": {
            "warmup_seconds": options.warmup,
            "fault_seconds": options.duration,
            "after_seconds": options.after,
            "manifest_ttl_seconds": MANIFEST_TTL_SECONDS,
        },
        "events": overall,
        "fault_proxy": {"forwarded": proxy.forwarded, "answered_by_faults": dict(proxy.faults)},
        "summary": {
            "experiments": len(results),
            "passed": sum(1 for r in results if r["verdict"] == "passed"),
            "failed_unexpectedly": unexpected,
            "failed_known_defects": known,
            "lost": overall["lost"],
        },
        "experiments": results,
    }
    options.report.parent.mkdir(parents=True, exist_ok=True)
    options.report.write_text(json.dumps(report, indent=2))
    return report


def format_summary(report: dict[str, Any]) -> str:
    lines = ["== modelwatch chaos =="]
    for result in report["experiments"]:
        events = result["events"]
        placed = {
            where: sum(events[kind][where] for kind in ("predictions", "rejections", "labels"))
            for where in ("captured", "dead_lettered", "logged")
        }
        statuses = result["requests"]["by_status"]
        failed = sum(n for s, n in statuses.items() if s.startswith("5") or s == "0")
        lines.append(
            f"{result['verdict'].upper():<7} {result['name']:<31} served {result['requests']['served']:>5}, "
            f"5xx/unanswered {failed}, events {placed['captured']} S3 / {placed['dead_lettered']} DLQ / "
            f"{placed['logged']} log / {events['lost']} lost, recovery {result['recovery_seconds']} s"
            + (" (known defect)" if "known_defect" in result else "")
        )
        for check in result["checks"]:
            if not check["ok"]:
                lines.append(f"        failed: {check['check']}: {check['detail']}")
    summary = report["summary"]
    lines.append(
        f"{summary['passed']} of {summary['experiments']} passed; {summary['lost']} events lost in all; "
        f"load average {report['machine_before']['load_average']} before"
    )
    return "\n".join(lines)


def parse_options(argv: list[str]) -> ChaosOptions:
    parser = argparse.ArgumentParser(prog="python -m modelwatch_local chaos", description=__doc__)
    parser.add_argument("--duration", type=float, default=4.0, help="seconds each fault is held (default 4)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load before each fault")
    parser.add_argument("--after", type=float, default=4.0, help="seconds watched after each fault")
    parser.add_argument("--users", type=int, default=4, help="simulated clients (default 4)")
    parser.add_argument("--user-rate", type=float, default=5.0, help="requests per second per client")
    parser.add_argument("--only", default="", help="comma-separated experiment names (default: all)")
    parser.add_argument("--report", type=Path, default=Path(".chaos/report.json"))
    parser.add_argument("--state-dir", type=Path, default=Path(".chaos"))
    args = parser.parse_args(argv)
    return ChaosOptions(
        duration=args.duration,
        warmup=args.warmup,
        after=args.after,
        users=args.users,
        user_rate=args.user_rate,
        only=[name for name in args.only.split(",") if name],
        report=args.report,
        state_dir=args.state_dir,
    )


def main(argv: list[str]) -> int:
    options = parse_options(argv)
    try:
        report = run_chaos(options)
    except StackError as error:
        print(f"modelwatch: error: {error}", file=sys.stderr)
        return 2
    print(format_summary(report))
    print(f"report: {options.report}")
    return 0 if not report["summary"]["failed_unexpectedly"] else 1
