"""``make demo``: the whole serving loop on one machine, ending by itself.

Starts the local stack, trains and publishes the demo fraud model, sends a few
thousand real HTTP requests (some invalid), reads the captured events back
from (moto's) S3, prints a summary, and stops the stack. Exit code 0 only when
every served instance and every rejection was captured.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

from modelwatch.event_store import read_events
from modelwatch.local.fraud import FRAUD_SCHEMA, save_model, synthetic_transactions, train_fraud_model
from modelwatch.local.stack import EVENTS_BUCKET, MODELS_BUCKET, LocalStack, start_stack, stop_stack
from modelwatch.local.traffic import TrafficReport, send_traffic
from modelwatch.publish import publish_model

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
        s3_client=stack.boto3_client("s3"),
    )
    return trained.auc


def count_captured(stack: LocalStack) -> tuple[int, Counter[str]]:
    """Prediction events of the demo model, and rejected requests by reason, read back from S3."""
    s3 = stack.boto3_client("s3")
    events = sum(1 for _ in read_events(s3, EVENTS_BUCKET, f"events/model={MODEL}/"))
    reasons = Counter(record["reason"] for record in read_events(s3, EVENTS_BUCKET, "rejected/"))
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
    _say(f"events captured      {events} prediction events -> s3://{EVENTS_BUCKET}/events/model={MODEL}/")
    rejected = ", ".join(f"{reason}: {count}" for reason, count in sorted(reasons.items()))
    _say(f"rejections captured  {sum(reasons.values())} ({rejected}) -> s3://{EVENTS_BUCKET}/rejected/")


def run_demo(
    requests: int = 3000, state_dir: str = ".local", moto_port: int = 5100, api_port: int = 8000
) -> int:
    _say("starting the local stack (moto_server for S3/Firehose/SQS, the API under uvicorn) ...")
    stack = start_stack([MODEL], state_dir=state_dir, moto_port=moto_port, api_port=api_port)
    try:
        _say(f"API at {stack.api_url} (docs: {stack.api_url}/docs); AWS stand-in at {stack.moto_url}")
        auc = publish_demo_model(stack, version="1", seed=0)
        _say(
            f"published {MODEL} version 1 (hold-out AUC {auc:.3f}) to s3://{MODELS_BUCKET}/manifests/{MODEL}/"
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
        return 0
    finally:
        stop_stack(stack)


if __name__ == "__main__":
    sys.exit(run_demo())
