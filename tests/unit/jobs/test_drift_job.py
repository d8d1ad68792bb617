"""The drift job on the in-memory stores: per-object profiles merged per version and tested."""

from __future__ import annotations

from datetime import timedelta

from modelwatch.contracts.profile import ObjectProfile
from modelwatch.jobs.drift_job import run_drift
from modelwatch.jobs.object_profiles import load_or_profile
from tests.unit.jobs.conftest import EVENTS_BUCKET, MODEL, WINDOW, JobWorld, rows

REFERENCE = rows(3000, seed=0)


def test_the_same_distribution_is_not_drift(world: JobWorld) -> None:
    world.publish("1", REFERENCE)
    world.deliver("events", world.predictions(rows(1500, seed=1)))
    world.deliver("events", world.predictions(rows(1500, seed=2)))

    outcome = run_drift(world.context, MODEL, WINDOW)

    assert outcome.status == "ok" and not outcome.alert
    assert outcome.summary["n_current"] == 3000 and outcome.summary["drifted_features"] == []
    assert outcome.versions == ["1"] and set(outcome.pages) == {"1"}


def test_a_shifted_feature_is_drift_and_the_report_names_it(world: JobWorld) -> None:
    world.publish("1", REFERENCE)
    world.deliver("events", world.predictions(rows(2000, seed=3, amount_mean=70.0)))

    outcome = run_drift(world.context, MODEL, WINDOW)

    assert outcome.status == "ok" and outcome.alert
    assert outcome.summary["drifted_features"] == ["amount"]
    amount = next(f for f in outcome.details["1"]["features"] if f["name"] == "amount")
    assert amount["drift_detected"] and amount["p_value"] < 1e-6
    assert "amount" in outcome.pages["1"] and outcome.primary_version == "1"


def test_versions_are_tested_against_their_own_reference(world: JobWorld) -> None:
    world.publish("1", REFERENCE)
    world.publish("2", rows(3000, seed=4, amount_mean=70.0))
    # Both versions served the shifted traffic: only version 1's reference sees a change.
    shifted = rows(2000, seed=5, amount_mean=70.0)
    world.deliver(
        "events",
        world.predictions(shifted[:1000], version="1") + world.predictions(shifted[1000:], version="2"),
    )

    outcome = run_drift(world.context, MODEL, WINDOW)

    amount = {v: next(f for f in outcome.details[v]["features"] if f["name"] == "amount") for v in ("1", "2")}
    assert outcome.versions == ["1", "2"]
    assert amount["1"]["drift_detected"] and not amount["2"]["drift_detected"]
    assert outcome.primary_version == "1"


def test_events_outside_the_window_or_of_unknown_versions_do_not_count(world: JobWorld) -> None:
    world.publish("1", REFERENCE)
    world.publish("2")  # published without a reference profile
    world.deliver("events", world.predictions(rows(200, seed=6), at=WINDOW.start - timedelta(minutes=10)))
    world.deliver("events", world.predictions(rows(300, seed=7), version="2"))

    outcome = run_drift(world.context, MODEL, WINDOW)

    assert outcome.status == "no_data"
    assert outcome.reason == "no reference profile for the versions that served: ['2']"


def test_an_empty_window_is_no_data(world: JobWorld) -> None:
    world.publish("1", REFERENCE)

    outcome = run_drift(world.context, MODEL, WINDOW)

    assert outcome.status == "no_data" and outcome.reason == "no captured events in the window"


def test_each_object_is_profiled_once_and_again_only_when_it_changed(world: JobWorld) -> None:
    world.publish("1", REFERENCE)
    key = world.deliver("events", world.predictions(rows(500, seed=8)))
    context = world.context

    run_drift(context, MODEL, WINDOW)
    profile_key = f"profiles/{key}.json"
    first = ObjectProfile.model_validate_json(world.storage.body(EVENTS_BUCKET, profile_key))
    gets_before = world.storage.calls["get"]
    again = load_or_profile(context.events, context.profiles, key, first.source_etag, context.references())

    # The stored profile is read back (one read), not recomputed from the events
    assert again == first and world.storage.calls["get"] == gets_before + 1
    # An object rewritten under the same key (new ETag) is profiled anew
    world.storage.put(EVENTS_BUCKET, key, b"".join([world.storage.body(EVENTS_BUCKET, key)] * 2))
    new_etag = next(o.etag for o in world.storage.list_objects(EVENTS_BUCKET, key))
    redone = load_or_profile(context.events, context.profiles, key, new_etag, context.references())
    assert redone.n_events == 2 * first.n_events and redone.source_etag == new_etag


def test_a_profile_cache_that_cannot_be_written_does_not_fail_the_job(world: JobWorld) -> None:
    world.publish("1", REFERENCE)
    world.deliver("events", world.predictions(rows(300, seed=9)))

    class ReadOnlyProfiles:
        def __init__(self, inner: object) -> None:
            self.inner = inner

        def read(self, key: str) -> None:
            return None

        def write(self, profile: object) -> None:
            raise PermissionError("AccessDenied")

    context = world.context
    context.profiles = ReadOnlyProfiles(context.profiles)

    outcome = run_drift(context, MODEL, WINDOW)

    assert outcome.status == "ok" and outcome.summary["n_current"] == 300
    assert world.storage.keys(EVENTS_BUCKET, "profiles/") == []
