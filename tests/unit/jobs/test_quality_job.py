"""The quality job on the in-memory stores: served and rejected instances checked against each schema."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from modelwatch.contracts.monitoring_config import QualityThresholds
from modelwatch.jobs.quality_job import run_quality
from tests.unit.jobs.conftest import MODEL, WINDOW, JobWorld, rows


def rejection(instances: list[Any], model: str = MODEL, reason: str = "schema_violation") -> dict[str, Any]:
    return {
        "schema_version": 1,
        "event_id": "x",
        "request_id": "r",
        "model": model,
        "version": "1",
        "timestamp": (WINDOW.start + timedelta(minutes=20)).isoformat(),
        "reason": reason,
        "status_code": 422,
        "errors": [],
        "body": json.dumps({"instances": instances}),
    }


def test_clean_traffic_passes(world: JobWorld) -> None:
    world.publish("1")
    world.deliver("events", world.predictions(rows(400, seed=1)))

    outcome = run_quality(world.context, MODEL, WINDOW)

    assert outcome.status == "ok" and not outcome.alert
    assert outcome.summary["n_rows"] == 400 and outcome.summary["violations"] == []


def test_out_of_range_and_unseen_values_above_their_thresholds_are_violations(world: JobWorld) -> None:
    world.publish("1")
    served = rows(300, seed=2) + [{"amount": -5.0, "channel": "phone"}] * 12  # 3.8% of 312
    world.deliver("events", world.predictions(served))

    outcome = run_quality(world.context, MODEL, WINDOW)

    assert outcome.alert and outcome.summary["features"] == ["amount", "channel"]
    checks = {(v["feature"], v["check"]) for v in outcome.summary["violations"]}
    assert checks == {("amount", "out_of_range"), ("channel", "unseen_category")}
    assert "violation" in outcome.pages["1"]


def test_rejected_instances_of_the_model_count_as_what_arrived(world: JobWorld) -> None:
    world.publish("1")
    world.deliver("events", world.predictions(rows(100, seed=3)))
    world.deliver(
        "rejected",
        [
            rejection([{"amount": "lots", "channel": "online"}] * 5),  # type errors: counted
            rejection([{"amount": "x"}] * 50, model="churn"),  # another model: not this job's
            rejection([{"amount": "x"}] * 50, reason="too_many_instances"),  # not a schema problem
        ],
    )

    outcome = run_quality(world.context, MODEL, WINDOW)

    assert outcome.summary["n_rejected_instances"] == 5 and outcome.summary["n_rows"] == 105
    assert {(v["feature"], v["check"]) for v in outcome.summary["violations"]} == {("amount", "type_error")}


def test_thresholds_come_from_the_settings(world: JobWorld) -> None:
    world.publish("1")
    world.deliver(
        "events", world.predictions(rows(300, seed=4) + [{"amount": -1.0, "channel": "online"}] * 6)
    )
    lenient = QualityThresholds(out_of_range=0.05)
    world.settings = world.settings.model_copy(update={"quality_thresholds": lenient})

    assert not run_quality(world.context, MODEL, WINDOW).alert


def test_versions_without_a_published_manifest_are_named(world: JobWorld) -> None:
    world.deliver("events", world.predictions(rows(10, seed=5), version="7"))

    outcome = run_quality(world.context, MODEL, WINDOW)

    assert outcome.status == "no_data" and outcome.versions == ["7"]
    assert outcome.reason == "no published manifest for the versions that served: ['7']"


def test_an_empty_window_is_no_data(world: JobWorld) -> None:
    world.deliver("events", world.predictions(rows(10, seed=6), at=WINDOW.end + timedelta(minutes=1)))

    outcome = run_quality(world.context, MODEL, WINDOW)

    assert outcome.status == "no_data" and outcome.reason == "no captured events in the window"
