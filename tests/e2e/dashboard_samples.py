"""Representative modelwatch samples written to a Prometheus through the remote-write client.

Serving counters from captured events (nine export runs a minute apart, two models, two versions,
rejections, capture failures), the capture dead-letter queue's depth, the published versions, and one
run of each monitoring job (drift with a drifted feature, quality with a failed check, performance
below threshold, a rollout rolled back on a breached guardrail, job health). With that data every
panel of every dashboard returns data. Shared by the dashboard query tests and the dashboard site's
browser tests (the ``prometheus_with_data`` fixture of ``conftest.py``).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from modelwatch_local.prometheus_server import LocalPrometheus

from modelwatch.contracts.manifest import ServingManifest
from modelwatch.contracts.rollout import (
    Agreement,
    GuardrailCheck,
    Moments,
    RolloutEvaluation,
    SequentialTest,
    VariantTotals,
    VariantWindow,
    WindowEvidence,
)
from modelwatch.contracts.schema import FeatureSpec, InputSchema
from modelwatch.metrics import (
    FeatureDrift,
    PerformanceValue,
    QualityCheck,
    RemoteWriteSink,
    drift_samples,
    job_samples,
    performance_samples,
    quality_samples,
    rollout_samples,
)
from modelwatch.metrics.serving_metrics import (
    ServingState,
    dead_letter_samples,
    export_serving_metrics,
    published_samples,
)
from modelwatch.stores.dead_letter_queue import InMemoryQueue
from modelwatch.stores.events import EventStore
from modelwatch.stores.manifests import ManifestStore
from modelwatch.stores.objects import InMemoryStorage
from modelwatch.stores.state import StateStore


class _Failures:
    def failures(self, start: float, end: float) -> dict[tuple[str, str], float]:
        return {("modelwatch-events-fraud", "dead_lettered"): 2.0}


def _events(model: str, version: str, requests: int, latency_ms: float, at: float) -> bytes:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))
    lines = []
    for i in range(requests):
        for index in range(2):
            lines.append(
                json.dumps(
                    {
                        "event_id": f"{i}-{index}",
                        "request_id": str(i),
                        "index": index,
                        "model": model,
                        "version": version,
                        "timestamp": stamp,
                        "features": {"amount": 10.0 * i},
                        "prediction": 0.95 if i % 4 == 0 else 0.1,
                        "latency_ms": latency_ms,
                    }
                )
            )
    return ("\n".join(lines) + "\n").encode()


def _rejections(model: str, count: int, at: float) -> bytes:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))
    record = {
        "model": model,
        "version": "2",
        "timestamp": stamp,
        "reason": "schema_violation",
        "status_code": 422,
    }
    return ("\n".join(json.dumps(record) for _ in range(count)) + "\n").encode()


def write_representative_samples(prometheus: LocalPrometheus, now: float) -> None:
    """Serving counters from nine export runs a minute apart, then one run of each monitoring job."""
    sink = RemoteWriteSink.from_url(prometheus.remote_write_url)
    storage = InMemoryStorage()
    store = StateStore(storage, "events", "state.json", ServingState)
    objects: dict[str, bytes] = {}
    for run, at in enumerate(now - 60 * minutes_ago for minutes_ago in range(8, -1, -1)):
        objects[f"events/model=fraud/run{run}-v1"] = _events("fraud", "1", 40, 35.0, at)
        objects[f"events/model=fraud/run{run}-v2"] = _events("fraud", "2", 60, 80.0 + run * 100, at)
        objects[f"events/model=churn/run{run}"] = _events("churn", "5", 30, 12.0, at)
        objects[f"rejected/run{run}"] = _rejections("fraud", 8, at)
        for key, body in objects.items():
            storage.put("events", key, body)
        outcome = export_serving_metrics(
            keys=list(objects),
            read_records=EventStore(storage, "events").read,
            store=store,
            sink=sink,
            clock=lambda at=at: at,
            capture_failures=_Failures(),
        )
        assert outcome.write.ok, outcome.write.errors
    for model, version in (("fraud", "2"), ("churn", "5")):
        drifts = [
            FeatureDrift("amount", "psi", 0.42, None, True),
            FeatureDrift("hour", "chi2", 4.2, 0.04, False),
            FeatureDrift("merchant_risk", "ks", 0.08, 0.3, False),
        ]
        samples = drift_samples(
            model, version, drifts, drift_share=1 / 3, dataset_drift=False, now=now, window_rows=5000
        )
        samples += quality_samples(
            model, version,
            [QualityCheck("amount", "out_of_range", 0.01, False),
             QualityCheck("channel", "unseen_category", 0.12, True)],
            now=now, window_rows=5000,
        )  # fmt: skip
        samples += performance_samples(
            model, version,
            [PerformanceValue("auc", 0.74, 0.8, True), PerformanceValue("accuracy", 0.91, 0.85, False)],
            now=now, window_rows=800,
        )  # fmt: skip
        for job in ("drift", "quality", "performance"):
            samples += job_samples(
                job, model, started=now - 30, finished=now - 5, succeeded=True, schedule_seconds=3600
            )
        outcome = sink.push(samples)
        assert outcome.ok, outcome.errors
    for model, production, candidate in (("fraud", "1", "2"), ("churn", "5", "6")):
        outcome = sink.push(_rollout_samples(model, production, candidate, now))
        assert outcome.ok, outcome.errors
    dead_letters = InMemoryQueue()
    dead_letters.send("a dead letter", copies=2)
    outcome = sink.push(dead_letter_samples(dead_letters, now))
    assert outcome.ok, outcome.errors
    manifests = ManifestStore(storage, "models")
    for model, version in (("fraud", "2"), ("churn", "5")):
        manifests.write(_manifest(model, version, published=now - 600))
    outcome = sink.push(published_samples(manifests, ["fraud", "churn"], "production", now))
    assert outcome.ok and outcome.series == 2, outcome.errors


def _rollout_samples(model: str, production: str, candidate: str, now: float) -> list[Any]:
    """A shadow rollout's evaluation that rolled its candidate back on the error-rate guardrail."""
    window = WindowEvidence(
        window_start=datetime.fromtimestamp(now - 300, UTC),
        window_end=datetime.fromtimestamp(now, UTC),
        share=0.2,
        variants={
            "production": VariantWindow(
                variant="production",
                version=production,
                requests=400,
                errors=1,
                latency_p50_ms=30.0,
                latency_p99_ms=80.0,
                error_moments=Moments(n=400, total=1, total_sq=1),
            ),
            "candidate": VariantWindow(
                variant="candidate",
                version=candidate,
                requests=100,
                errors=12,
                latency_p50_ms=45.0,
                latency_p99_ms=150.0,
                error_moments=Moments(n=100, total=12, total_sq=12),
            ),
        },
        agreement=Agreement(pairs=88, identical=80, absolute_difference_sum=4.4),
    )
    test = SequentialTest(
        quantity="error_rate",
        estimate=0.11,
        low=0.04,
        high=0.18,
        decision="candidate worse",
        n_candidate=100,
        n_production=400,
    )
    evaluation = RolloutEvaluation(
        rollout_id=f"{model}-r1",
        mode="shadow",
        candidate_version=candidate,
        production_version=production,
        action="rollback",
        reason="guardrail breached: error_rate",
        share_before=0.2,
        share_after=0.0,
        state_after="rolled_back",
        totals={
            "production": VariantTotals(
                version=production, requests=400, errors=1, error_rate=0.0025, metric_mean=0.91, labelled=300
            ),
            "candidate": VariantTotals(
                version=candidate, requests=100, errors=12, error_rate=0.12, metric_mean=0.88, labelled=70
            ),
        },
        tests={
            "error_rate": test,
            "latency_ms": test.model_copy(
                update={"quantity": "latency_ms", "estimate": 15.0, "low": 9.0, "high": 21.0}
            ),
            "accuracy": test.model_copy(
                update={
                    "quantity": "accuracy",
                    "estimate": -0.03,
                    "low": -0.1,
                    "high": 0.04,
                    "decision": "no difference yet",
                }
            ),
        },
        guardrails=[
            GuardrailCheck(name="error_rate", state="breached", value=0.12, limit=0.05),
            GuardrailCheck(name="latency_ratio", state="ok", value=1.9, limit=2.0),
            GuardrailCheck(name="prediction_drift", state="ok", value=0.02, limit=0.25),
        ],
        prediction_drift=0.02,
        agreement=window.agreement,
        windows=4,
    )
    samples = rollout_samples(model, evaluation, window, "accuracy", now=now)
    return samples + job_samples(
        "rollout", model, started=now - 20, finished=now - 5, succeeded=True, schedule_seconds=300
    )  # fmt: skip


def _manifest(model: str, version: str, published: float) -> ServingManifest:
    return ServingManifest(
        model=model,
        version=version,
        flavor="sklearn",
        artifact_uri=f"s3://models/models/{model}/{version}/model.joblib",
        input_schema=InputSchema(features=[FeatureSpec(name="amount", type="number")]),
        created_at=datetime.fromtimestamp(published, UTC),
    )
