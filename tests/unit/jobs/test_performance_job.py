"""The performance job on the SQL engine (DuckDB over the world's files): predictions joined with labels."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from modelwatch.contracts.monitoring_config import PerformanceThresholds
from modelwatch.jobs.performance_job import NoQueryEngine, run_performance
from modelwatch.jobs.runner import run_job
from modelwatch.settings import MonitoringSettings
from tests.unit.jobs.conftest import EVENTS_BUCKET, MODEL, MODELS_BUCKET, WINDOW, rows
from tests.unit.jobs.lake_world import CountingEngine, LakeWorld


@pytest.fixture
def lake(tmp_path: Path) -> LakeWorld:
    return LakeWorld(
        settings=MonitoringSettings(events_bucket=EVENTS_BUCKET, models_bucket=MODELS_BUCKET),
        root=tmp_path,
        engine=CountingEngine(tmp_path),
    )


def labels(
    events: list[dict[str, Any]], truth: Any, received: Any, model: str = MODEL
) -> list[dict[str, Any]]:
    """One label per event, ``truth(event)``, received at ``received``."""
    return [
        {
            "schema_version": 1,
            "event_id": f"l{i}",
            "model": model,
            "request_id": event["request_id"],
            "index": event["index"],
            "label": truth(event),
            "timestamp": received.isoformat(),
        }
        for i, event in enumerate(events)
    ]


def online(event: dict[str, Any]) -> int:
    return int(event["features"]["channel"] == "online")


def test_late_labels_are_joined_in_sql_and_the_summary_says_what_was_read(lake: LakeWorld) -> None:
    lake.publish("1")
    events = lake.predictions(rows(400, seed=1))
    lake.deliver("events", events)
    lake.deliver("events", events[:50])  # a redelivery: counted once
    late = WINDOW.end + timedelta(days=2)  # labels came in two days later, for 300 of the 400
    lake.deliver("labels", labels(events[:300], online, late), at=late)
    lake.now = late + timedelta(hours=1)

    outcome = run_performance(lake.context, MODEL, WINDOW)

    assert outcome.status == "ok" and not outcome.alert
    summary = outcome.summary
    assert (summary["n_predictions"], summary["n_labelled"], summary["labelled_share"]) == (400, 300, 0.75)
    assert summary["metrics"]["1"]["auc"] == 1.0 and summary["metrics"]["1"]["accuracy"] == 1.0
    assert summary["engine"] == "duckdb" and summary["bytes_scanned"] > 0
    assert summary["labels_through"] == lake.now.replace(minute=0).isoformat()
    assert outcome.details["report"]["n_unmatched_labels"] == 0
    (query,) = lake.engine.queries if lake.engine else []
    assert [scan.table for scan in query.scans] == ["events", "labels"]


def test_a_metric_beyond_its_threshold_is_an_alert_naming_it(lake: LakeWorld) -> None:
    lake.publish("1")
    events = lake.predictions(rows(400, seed=2))
    lake.deliver("events", events)
    lake.deliver("labels", labels(events, lambda e: 1 - online(e), WINDOW.end), at=WINDOW.end)
    lake.settings = lake.settings.model_copy(
        update={"performance_thresholds": PerformanceThresholds(min={"auc": 0.7}, max={"log_loss": 5.0})}
    )

    outcome = run_performance(lake.context, MODEL, WINDOW)

    assert outcome.alert
    breaches = outcome.summary["breaches"]["1"]
    assert [b["metric"] for b in breaches] == ["auc"] and breaches[0]["min"] == 0.7
    assert breaches[0]["value"] == 0.0
    assert "below threshold: auc" in outcome.pages["1"]


def test_labels_not_yet_received_or_of_another_model_do_not_count(lake: LakeWorld) -> None:
    lake.publish("1")
    events = lake.predictions(rows(50, seed=3))
    lake.deliver("events", events)
    future = lake.now + timedelta(hours=3)  # after this run: a rerun will count them
    lake.deliver("labels", labels(events, online, future), at=future)
    churn = labels(events, online, WINDOW.end, model="churn")
    lake.deliver_as("churn", "labels", churn, WINDOW.end)

    outcome = run_performance(lake.context, MODEL, WINDOW)

    assert outcome.status == "no_data"
    assert outcome.reason == "none of the 50 predictions has a label yet"
    assert outcome.summary["n_labelled"] == 0 and outcome.summary["labelled_share"] == 0.0


def test_labels_past_the_horizon_do_not_count(lake: LakeWorld) -> None:
    lake.publish("1")
    events = lake.predictions(rows(40, seed=5))
    lake.deliver("events", events)
    lake.deliver(
        "labels",
        labels(events[:10], online, WINDOW.end + timedelta(days=1)),
        at=WINDOW.end + timedelta(days=1),
    )
    past = WINDOW.end + timedelta(days=7, hours=2)
    lake.deliver("labels", labels(events[10:], online, past), at=past)
    lake.now = past + timedelta(hours=1)

    outcome = run_performance(lake.context, MODEL, WINDOW)

    assert outcome.summary["n_labelled"] == 10


def test_a_label_model_is_queried_for_its_type(lake: LakeWorld) -> None:
    lake.publish("1", prediction_type="label")
    events = [{**e, "prediction": online(e)} for e in lake.predictions(rows(100, seed=6))]
    lake.deliver("events", events)
    lake.deliver("labels", labels(events, online, WINDOW.end), at=WINDOW.end)

    outcome = run_performance(lake.context, MODEL, WINDOW)

    assert outcome.details["report"]["prediction_type"] == "label"
    assert outcome.summary["metrics"]["1"]["accuracy"] == 1.0 and outcome.summary["metrics"]["1"]["f1"] == 1.0


def test_an_empty_window_is_no_data(lake: LakeWorld) -> None:
    outcome = run_performance(lake.context, MODEL, WINDOW)

    assert outcome.status == "no_data" and outcome.reason == "no captured predictions in the window"
    assert outcome.summary["n_predictions"] == 0 and outcome.summary["labelled_share"] is None


def test_labels_stored_before_labels_were_bounded_do_not_break_the_job(lake: LakeWorld) -> None:
    # A label of 10**400 made the job raise (and dead-letter) before; now it is an unusable label.
    lake.publish("1")
    events = lake.predictions(rows(20, seed=4))
    lake.deliver("events", events)
    stored = labels(events, online, WINDOW.end)
    stored[0]["label"] = 10**400
    lake.deliver("labels", stored, at=WINDOW.end)

    outcome = run_performance(lake.context, MODEL, WINDOW)

    assert outcome.status == "ok" and outcome.summary["metrics"]["1"]["auc"] == 1.0
    assert outcome.details["report"]["versions"][0]["notes"] == [
        "1 labelled predictions skipped (non-numeric score or non-binary label)"
    ]


def test_without_a_query_engine_the_job_fails_saying_what_to_set(lake: LakeWorld) -> None:
    lake.engine = None
    lake.deliver("events", lake.predictions(rows(5, seed=7)))

    with pytest.raises(NoQueryEngine, match="MODELWATCH_QUERY_ENGINE"):
        run_job(lake.context, "performance", MODEL, WINDOW)

    stored = lake.context.results.read("performance", MODEL, WINDOW.key)
    assert (
        stored is not None
        and stored.status == "failed"
        and "MODELWATCH_QUERY_ENGINE" in (stored.reason or "")
    )


def test_a_query_past_the_scan_limit_is_a_failed_result_naming_the_limit_and_window(lake: LakeWorld) -> None:
    lake.engine = CountingEngine(lake.root, bytes_limit=100)
    lake.deliver("events", lake.predictions(rows(200, seed=8)))

    result = run_job(lake.context, "performance", MODEL, WINDOW)

    assert result.status == "failed"
    assert (
        result.reason is not None and "100 bytes" in result.reason and f"window {WINDOW.key}" in result.reason
    )


def test_shadow_predictions_are_not_joined_to_labels_a_second_time(lake: LakeWorld) -> None:
    lake.publish("1")
    events = lake.predictions(rows(100, seed=4))
    shadows = [
        {
            **event,
            "event_id": f"shadow-{event['event_id']}",
            "version": "2",
            "variant": "candidate",
            "served": False,
        }
        for event in events
    ]
    lake.deliver("events", events + shadows)
    lake.deliver("labels", labels(events, online, WINDOW.end), at=WINDOW.end)

    outcome = run_performance(lake.context, MODEL, WINDOW)

    assert (outcome.summary["n_predictions"], outcome.summary["n_labelled"]) == (100, 100)
    assert outcome.versions == ["1"]
