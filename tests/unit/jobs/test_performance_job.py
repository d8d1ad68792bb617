"""The performance job on the in-memory stores: predictions joined with the labels that arrived since."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from modelwatch.contracts.monitoring_config import PerformanceThresholds
from modelwatch.jobs.performance_job import run_performance
from tests.unit.jobs.conftest import MODEL, WINDOW, JobWorld, rows


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


def test_late_labels_are_joined_and_metrics_reported(world: JobWorld) -> None:
    world.publish("1")
    events = world.predictions(rows(400, seed=1))
    world.deliver("events", events)
    late = WINDOW.end + timedelta(days=2)  # labels came in two days later
    world.deliver("labels", labels(events, online, late), at=late)
    world.now = late + timedelta(hours=1)

    outcome = run_performance(world.context, MODEL, WINDOW)

    assert outcome.status == "ok" and not outcome.alert
    metrics = outcome.summary["metrics"]["1"]
    assert outcome.summary["n_labelled"] == 400 and metrics["auc"] == 1.0 and metrics["accuracy"] == 1.0


def test_a_metric_beyond_its_threshold_is_an_alert_naming_it(world: JobWorld) -> None:
    world.publish("1")
    events = world.predictions(rows(400, seed=2))
    world.deliver("events", events)
    world.deliver("labels", labels(events, lambda e: 1 - online(e), WINDOW.end), at=WINDOW.end)
    world.settings = world.settings.model_copy(
        update={"performance_thresholds": PerformanceThresholds(min={"auc": 0.7}, max={"log_loss": 5.0})}
    )

    outcome = run_performance(world.context, MODEL, WINDOW)

    assert outcome.alert
    breaches = outcome.summary["breaches"]["1"]
    assert (
        [b["metric"] for b in breaches] == ["auc"]
        and breaches[0]["min"] == 0.7
        and breaches[0]["value"] == 0.0
    )
    assert "below threshold: auc" in outcome.pages["1"]


def test_labels_not_yet_received_or_of_another_model_do_not_count(world: JobWorld) -> None:
    world.publish("1")
    events = world.predictions(rows(50, seed=3))
    world.deliver("events", events)
    future = world.now + timedelta(hours=3)  # after this run: a rerun will count them
    world.deliver("labels", labels(events, online, future), at=future)
    world.deliver("labels", labels(events, online, WINDOW.end, model="churn"), at=WINDOW.end)

    outcome = run_performance(world.context, MODEL, WINDOW)

    assert outcome.status == "no_data"
    assert outcome.reason == "none of the 50 predictions has a label yet"


def test_an_empty_window_is_no_data(world: JobWorld) -> None:
    outcome = run_performance(world.context, MODEL, WINDOW)

    assert outcome.status == "no_data" and outcome.reason == "no captured predictions in the window"


def test_labels_stored_before_labels_were_bounded_do_not_break_the_job(world: JobWorld) -> None:
    # A label of 10**400 made the job raise (and dead-letter) before; now it is an unusable label.
    world.publish("1")
    events = world.predictions(rows(20, seed=4))
    world.deliver("events", events)
    stored = labels(events, online, WINDOW.end)
    stored[0]["label"] = 10**400
    world.deliver("labels", stored, at=WINDOW.end)

    outcome = run_performance(world.context, MODEL, WINDOW)

    assert outcome.status == "ok" and outcome.summary["metrics"]["1"]["auc"] == 1.0
