"""The monitoring part of ``make demo``: a drifted phase of traffic, late labels, and the three jobs.

Given a :class:`~modelwatch_local.report.Report`, the drifted traffic and the jobs show progress bars.
"""

from __future__ import annotations

import json
import math
import random
import time
import uuid
from collections.abc import Callable
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from modelwatch.contracts import layout
from modelwatch.contracts.results import JobResult
from modelwatch_local.fraud import synthetic_transactions
from modelwatch_local.report import ProgressBar, Report
from modelwatch_local.scheduler import LocalScheduler
from modelwatch_local.stack import EVENTS_BUCKET, LocalStack

BATCH = 10


def _send_drifted_phase(
    api_url: str, model: str, n: int, seed: int, on_response: Callable[[], None] = lambda: None
) -> list[tuple[str, list[int]]]:
    """``n`` transactions of a changed world, in batches of 10: amounts tripled, riskier merchants,
    four times as many foreign cards, and most of the traffic at night."""
    rows, labels = synthetic_transactions(n, seed=seed, amount_scale=3.0)
    rng = random.Random(seed)
    for row in rows:
        row["merchant_risk"] = round(min(1.0, row["merchant_risk"] * 1.6), 4)
        row["is_foreign"] = rng.random() < 0.4
        if rng.random() < 0.7:
            row["hour"] = rng.choice([0, 1, 2, 3, 4, 23])
    sent = []
    with httpx.Client(base_url=api_url, timeout=30.0) as client:
        for start in range(0, n, BATCH):
            request_id = f"drift-{uuid.uuid4().hex[:12]}"
            response = client.post(
                f"/v1/models/{model}/predict",
                json={"instances": rows[start : start + BATCH]},
                headers={"x-request-id": request_id},
            )
            response.raise_for_status()
            sent.append((request_id, labels[start : start + BATCH]))
            on_response()
    return sent


def send_labels(api_url: str, model: str, sent: list[tuple[str, list[int]]]) -> int:
    labels = [
        {"request_id": rid, "index": i, "label": label}
        for rid, batch in sent
        for i, label in enumerate(batch)
    ]
    with httpx.Client(base_url=api_url, timeout=30.0) as client:
        for start in range(0, len(labels), 1000):
            client.post(
                f"/v1/models/{model}/feedback", json={"labels": labels[start : start + 1000]}
            ).raise_for_status()
    return len(labels)


def _stored_result(stack: LocalStack, output: dict[str, Any]) -> JobResult:
    key = str(output["result_uri"]).removeprefix(f"s3://{EVENTS_BUCKET}/")
    body = stack.boto3_client("s3").get_object(Bucket=EVENTS_BUCKET, Key=key)["Body"].read()
    return JobResult.model_validate_json(body)


def _download_report(stack: LocalStack, result: JobResult, name: str) -> Path | None:
    if not result.report_uri:
        return None
    key = result.report_uri.removeprefix(f"s3://{EVENTS_BUCKET}/")
    target = Path(stack.state_dir) / "reports" / f"{name}.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(stack.boto3_client("s3").get_object(Bucket=EVENTS_BUCKET, Key=key)["Body"].read())
    return target


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def run_monitoring_demo(
    stack: LocalStack,
    scheduler: LocalScheduler,
    model: str,
    say: Callable[[str], None],
    n: int = 2000,
    seed: int = 11,
    report: Report | None = None,
) -> dict[str, JobResult]:
    """Send a drifted phase and its labels, run drift, quality and performance over it, print verdicts."""
    started = datetime.now(UTC)
    say(
        f"sending a drifted phase: {n:,} transactions in {math.ceil(n / BATCH):,} requests "
        "(amounts x3, riskier merchants, foreign cards, at night)"
    )
    with _progress(report, "drifted traffic", math.ceil(n / BATCH), "requests") as bar:
        sent = _send_drifted_phase(stack.api_url, model, n, seed, on_response=_advance(bar))
    labelled = send_labels(stack.api_url, model, sent)
    say(f"sent {labelled:,} labels to /v1/models/{model}/feedback (as if they arrived later)")
    time.sleep(1.0)  # the window must close after the last event
    minutes = max(1, math.ceil((datetime.now(UTC) - started).total_seconds() / 60))
    jobs = ("drift", "quality", "performance")
    results: dict[str, JobResult] = {}
    with _progress(report, "monitoring jobs", len(jobs), "jobs") as bar:
        for job in jobs:
            results[job] = _stored_result(stack, scheduler.run_job(job, model, started, minutes))
            if bar is not None:
                bar.advance(note=f"{job} {results[job].status}")

    drift = results["drift"]
    window = f"{started.isoformat(timespec='seconds')} + {minutes} min"
    say(f"window {window}, each job run through its Lambda handler:")
    say(
        f"drift: dataset drift {'DETECTED' if drift.summary.get('dataset_drift') else 'not detected'}, "
        f"share {_fmt(drift.summary.get('drift_share'))} of features"
    )
    for version, version_report in drift.details.items():
        say(f"  version {version}, {version_report['n_current']} events against its reference profile:")
        header = f"{'feature':<18}{'method':<16}{'statistic':>10}{'p-value':>10}{'effect':>9}{'floor':>7}"
        say(f"  {header}  verdict")
        for feature in version_report["features"]:
            verdict = "DRIFT" if feature["drift_detected"] else "ok"
            say(
                f"  {feature['name']:<18}{feature['method']:<16}{_fmt(feature['statistic']):>10}"
                f"{_fmt(feature['p_value']):>10}{_fmt(feature['effect_size']):>9}{_fmt(feature['threshold']):>7}"
                f"  {verdict}"
            )
    quality = results["quality"]
    violations = quality.summary.get("violations", [])
    say(
        f"quality: {len(violations)} violation(s)"
        + "".join(
            f"; {v['feature']} {v['check']} {v['rate']:.1%} > {v['threshold']:.1%}" for v in violations[:4]
        )
    )
    performance = results["performance"]
    metrics = performance.summary.get("metrics", {})
    for version, values in metrics.items():
        say(
            f"performance: version {version}, {values.get('n_labelled')} labelled predictions: "
            + ", ".join(f"{name} {_fmt(values.get(name))}" for name in ("auc", "accuracy", "f1", "log_loss"))
        )
    for job, result in results.items():
        path = _download_report(stack, result, f"{job}-{model}")
        if path is not None:
            say(f"{job} report: {path}  ({result.report_uri})")
    say(f"results: s3://{EVENTS_BUCKET}/{layout.REPORTS_PREFIX}  (one result.json per job, model and window)")
    alerts = [job for job, result in results.items() if result.alert]
    say(f"alerts put on the platform bus: {', '.join(alerts) or 'none'}")
    return results


def _progress(report: Report | None, description: str, total: int, unit: str) -> Any:
    return report.progress(description, total, unit) if report is not None else nullcontext()


def _advance(bar: ProgressBar | None) -> Callable[[], None]:
    return bar.advance if bar is not None else lambda: None


def as_json(results: dict[str, JobResult]) -> str:
    return json.dumps(
        {
            job: r.model_dump(mode="json", include={"status", "alert", "summary"})
            for job, r in results.items()
        },
        indent=2,
    )
