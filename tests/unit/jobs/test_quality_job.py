"""The quality job on the in-memory stores: per-object counts of served and rejected instances, merged."""

from __future__ import annotations

import gzip
import json
from datetime import timedelta
from typing import Any

import pytest

from modelwatch.contracts import layout
from modelwatch.contracts.monitoring_config import QualityThresholds
from modelwatch.contracts.object_quality import ObjectQuality
from modelwatch.contracts.profile import ObjectProfile
from modelwatch.jobs.drift_job import run_drift
from modelwatch.jobs.quality_job import run_quality
from tests.unit.jobs.conftest import EVENTS_BUCKET, MODEL, WINDOW, JobWorld, rows


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


# --- per-object counts --------------------------------------------------------------------------


def _quality_of(world: JobWorld, key: str) -> ObjectQuality:
    return ObjectQuality.model_validate_json(
        world.storage.body(EVENTS_BUCKET, layout.object_quality_key(key))
    )


def _reads_of(world: JobWorld, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The keys the storage is asked for from now on."""
    read: list[str] = []
    original = world.storage.get

    def recording(bucket: str, key: str, if_none_match: str | None = None) -> Any:
        read.append(key)
        return original(bucket, key, if_none_match)

    monkeypatch.setattr(world.storage, "get", recording)
    return read


def test_each_object_is_counted_once_and_the_job_merges_the_stored_counts(
    world: JobWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.publish("1")
    served = [world.deliver("events", world.predictions(rows(200, seed=10 + i))) for i in range(3)]
    refused = world.deliver("rejected", [rejection([{"amount": "lots", "channel": "online"}] * 4)])

    first = run_quality(world.context, MODEL, WINDOW)

    assert first.summary["n_objects"] == 4 and first.summary["n_rows"] == 604
    for key in [*served, refused]:
        assert _quality_of(world, key).source_key == key
    assert [c.n_rows for c in _quality_of(world, refused).versions] == [4]
    assert _quality_of(world, refused).kind == "rejected"
    # When the job runs again, it reads the stored counts and no captured object
    reads = _reads_of(world, monkeypatch)
    again = run_quality(world.context, MODEL, WINDOW)
    assert again.summary == first.summary
    assert not [key for key in reads if key in (*served, refused)]
    assert sorted(k for k in reads if k.endswith(".quality.json")) == sorted(
        layout.object_quality_key(k) for k in (*served, refused)
    )


def test_stored_counts_are_what_the_job_merges_and_a_changed_object_is_counted_anew(world: JobWorld) -> None:
    world.publish("1")
    key = world.deliver("events", world.predictions(rows(100, seed=20)))
    run_quality(world.context, MODEL, WINDOW)
    stored = _quality_of(world, key)
    # counts stored for the object's current ETag are trusted as they are
    doubled = stored.model_copy(
        update={"versions": [c.model_copy(update={"n_rows": 2 * c.n_rows}) for c in stored.versions]}
    )
    world.context.profiles.write_quality(doubled)
    assert run_quality(world.context, MODEL, WINDOW).summary["n_rows"] == 200

    # the object rewritten under its key (a new ETag): counted again from its records
    world.storage.put(EVENTS_BUCKET, key, world.storage.body(EVENTS_BUCKET, key) * 3)

    assert run_quality(world.context, MODEL, WINDOW).summary["n_rows"] == 300
    assert _quality_of(world, key).source_etag != stored.source_etag


def test_rows_counted_before_their_version_was_published_are_checked_once_it_is(world: JobWorld) -> None:
    key = world.deliver("events", world.predictions(rows(50, seed=21) + [{"amount": -1.0}] * 10))

    early = run_quality(world.context, MODEL, WINDOW)
    assert early.status == "no_data" and early.versions == ["1"]
    assert [(c.checked, c.n_rows) for c in _quality_of(world, key).versions] == [(False, 60)]

    world.publish("1")
    late = run_quality(world.context, MODEL, WINDOW)

    assert late.status == "ok" and late.summary["n_rows"] == 60 and late.alert
    assert ("amount", "out_of_range") in {(v["feature"], v["check"]) for v in late.summary["violations"]}


# --- corrupt objects ----------------------------------------------------------------------------


def _corrupt_lines(world: JobWorld, key: str, lines: bytes) -> None:
    world.storage.put(EVENTS_BUCKET, key, world.storage.body(EVENTS_BUCKET, key) + lines)


def test_a_corrupt_object_is_counted_on_its_readable_lines_and_named(world: JobWorld) -> None:
    world.publish("1", rows(2000, seed=30))
    clean = world.deliver("events", world.predictions(rows(300, seed=31)))
    partly = world.deliver("events", world.predictions(rows(200, seed=32)))
    _corrupt_lines(world, partly, b'{"schema_version": 1, "trunc\nnot json at all\n')
    whole = world.deliver("events", [])
    world.storage.put(EVENTS_BUCKET, whole, gzip.compress(b'{"a": 1}\n' * 50)[:-20])  # a bad gzip body
    refused = world.deliver("rejected", [rejection([{"amount": "x", "channel": "online"}] * 3)])
    _corrupt_lines(world, refused, b"\x00\x01garbage\n")

    quality = run_quality(world.context, MODEL, WINDOW)
    drift = run_drift(world.context, MODEL, WINDOW)

    assert quality.status == "ok" and quality.summary["n_rows"] == 503
    assert quality.summary["n_rejected_instances"] == 3
    assert quality.summary["unreadable"] == sorted(
        [{"key": partly, "lines": 2}, {"key": whole, "lines": 1}, {"key": refused, "lines": 1}],
        key=lambda item: str(item["key"]),
    )
    assert quality.summary["n_unreadable_objects"] == 3 and quality.summary["n_unreadable_lines"] == 4
    assert drift.status == "ok" and drift.summary["n_current"] == 500
    assert drift.summary["unreadable"] == sorted(
        [{"key": partly, "lines": 2}, {"key": whole, "lines": 1}], key=lambda item: str(item["key"])
    )
    assert clean not in {item["key"] for item in drift.summary["unreadable"]}
    assert _quality_of(world, partly).unreadable_lines == 2
    profile = ObjectProfile.model_validate_json(world.storage.body(EVENTS_BUCKET, layout.profile_key(partly)))
    assert profile.unreadable_lines == 2 and profile.n_events == 200


def test_at_most_20_corrupt_objects_are_listed_and_all_are_counted(world: JobWorld) -> None:
    world.publish("1")
    world.deliver("events", world.predictions(rows(40, seed=33)))
    for _ in range(25):
        _corrupt_lines(world, world.deliver("events", world.predictions(rows(2, seed=34))), b"{\n{\n")

    outcome = run_quality(world.context, MODEL, WINDOW)

    assert outcome.status == "ok" and outcome.summary["n_rows"] == 90
    assert len(outcome.summary["unreadable"]) == 20
    assert outcome.summary["n_unreadable_objects"] == 25 and outcome.summary["n_unreadable_lines"] == 50


def test_a_window_of_only_corrupt_objects_is_no_data_that_names_them(world: JobWorld) -> None:
    world.publish("1")
    key = world.deliver("events", [])
    world.storage.put(EVENTS_BUCKET, key, b"\x1f\x8b not really gzip")
    elsewhere = world.deliver("events", [], at=WINDOW.end + timedelta(hours=1, minutes=5))
    world.storage.put(EVENTS_BUCKET, elsewhere, b"\x1f\x8b not really gzip")

    outcome = run_quality(world.context, MODEL, WINDOW)

    assert outcome.status == "no_data"
    assert outcome.summary["unreadable"] == [{"key": key, "lines": 1}]  # the next hour's is not this window's
