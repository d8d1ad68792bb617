"""What a job result becomes: the alert event on the bus, and its metrics."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from modelwatch.contracts.platform_events import DETAIL_TYPES, alert_detail
from modelwatch.contracts.results import JobResult
from modelwatch.jobs.job_metrics import result_samples
from modelwatch.stores.bus import InMemoryBus

START = datetime(2026, 11, 26, 9, tzinfo=UTC)
END = datetime(2026, 11, 26, 10, tzinfo=UTC)


def drift_result(**changes: Any) -> JobResult:
    details = {
        "2": {
            "drift_share": 0.5,
            "dataset_drift": True,
            "n_current": 400,
            "features": [
                {
                    "name": "amount",
                    "method": "wasserstein",
                    "effect_size": 1.2,
                    "p_value": 1e-9,
                    "drift_detected": True,
                },
                {
                    "name": "hour",
                    "method": "wasserstein",
                    "effect_size": 0.01,
                    "p_value": 0.8,
                    "drift_detected": False,
                },
            ],
        }
    }
    fields: dict[str, Any] = {
        "job": "drift",
        "model": "fraud",
        "window_start": START,
        "window_end": END,
        "status": "ok",
        "alert": True,
        "versions": ["2"],
        "details": details,
        "summary": {"drift_share": 0.5},
        "duration_seconds": 1.5,
    }
    return JobResult(**{**fields, **changes})


def test_alert_detail_carries_model_window_figures_and_report() -> None:
    bus = InMemoryBus()
    result = drift_result(report_uri="s3://events-bucket/r.html", result_uri="s3://events-bucket/result.json")

    bus.put(DETAIL_TYPES[result.job], alert_detail(result))

    ((detail_type, detail),) = bus.events
    assert detail_type == "DriftDetected"
    assert detail["model"] == "fraud" and detail["versions"] == ["2"] and detail["drift_share"] == 0.5
    assert detail["window_start"] == START.isoformat() and detail["report_uri"] == "s3://events-bucket/r.html"


def test_a_drift_result_becomes_feature_and_job_samples() -> None:
    samples = result_samples(drift_result(), finished=END.timestamp() + 60, schedule_seconds=3600)
    by_name: dict[str, list[Any]] = {}
    for sample in samples:
        by_name.setdefault(sample.name, []).append(sample)

    detected = {s.label_dict["feature"]: s.value for s in by_name["modelwatch_feature_drift_detected"]}
    assert detected == {"amount": 1.0, "hour": 0.0}
    assert by_name["modelwatch_dataset_drift_share"][0].value == 0.5
    assert by_name["modelwatch_job_last_success_timestamp_seconds"][0].value == pytest.approx(
        END.timestamp() + 60
    )


def test_a_failed_result_reports_only_the_job_health() -> None:
    samples = result_samples(
        drift_result(status="failed", alert=False), finished=END.timestamp(), schedule_seconds=3600
    )

    names = {s.name for s in samples}
    assert "modelwatch_feature_drift_detected" not in names
    assert "modelwatch_job_last_success_timestamp_seconds" not in names or all(
        s.value == 0 for s in samples if s.name == "modelwatch_job_last_success_timestamp_seconds"
    )
    assert any(s.name.startswith("modelwatch_job_") for s in samples)
