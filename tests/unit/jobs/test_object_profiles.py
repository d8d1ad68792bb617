"""What the profile function does with one delivered object: one read, a profile and quality counts."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from modelwatch.contracts import layout
from modelwatch.contracts.object_quality import ObjectQuality
from modelwatch.jobs.object_profiles import belongs_to_window, process_delivered_object
from modelwatch.monitoring.datasets import columns_from_events
from modelwatch.monitoring.object_profile import (
    check_object_quality,
    profile_and_check_events,
    profile_events,
)
from modelwatch.monitoring.quality import check_quality, quality_counts
from tests.unit.jobs.conftest import EVENTS_BUCKET, MODEL, WINDOW, JobWorld, rows

REFERENCE = rows(2000, seed=0)


def _etag(world: JobWorld, key: str) -> str:
    return next(o.etag for o in world.storage.list_objects(EVENTS_BUCKET, key))


def _recorded_reads(world: JobWorld, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    read: list[str] = []
    original = world.storage.get

    def recording(bucket: str, key: str, if_none_match: str | None = None) -> Any:
        read.append(key)
        return original(bucket, key, if_none_match)

    monkeypatch.setattr(world.storage, "get", recording)
    return read


def test_an_events_object_is_read_once_for_its_profile_and_its_quality_counts(
    world: JobWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.publish("1", REFERENCE)
    served = world.predictions(rows(300, seed=1) + [{"amount": -3.0, "channel": "fax"}] * 7)
    key = world.deliver("events", served + world.predictions(rows(20, seed=2), version="9"))
    context, etag = world.context, _etag(world, key)
    reads = _recorded_reads(world, monkeypatch)

    done = process_delivered_object(context.events, context.profiles, key, etag, context.references())

    assert reads.count(key) == 1
    records = context.events.read(key)
    assert done.kind == "events" and done.profile is not None
    assert done.profile == profile_events(records, context.references(), key, etag)
    expected = check_object_quality("events", records, context.references(), key, etag)
    assert done.quality == expected
    by_version = {c.version: c for c in done.quality.versions}
    assert by_version["9"].checked is False and by_version["9"].n_rows == 20
    channel = {f.name: f for f in by_version["1"].features}["channel"]
    assert (channel.n, channel.unseen_category, channel.unseen_examples) == (307, 7, ["fax"])
    assert context.profiles.read(key) == done.profile
    assert context.profiles.read_quality(key) == done.quality


def test_an_object_already_done_is_not_read_or_written_again(
    world: JobWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.publish("1", REFERENCE)
    key = world.deliver("events", world.predictions(rows(100, seed=3)))
    context, etag = world.context, _etag(world, key)
    first = process_delivered_object(context.events, context.profiles, key, etag, context.references())
    puts = world.storage.calls["put"]
    reads = _recorded_reads(world, monkeypatch)

    again = process_delivered_object(context.events, context.profiles, key, etag, context.references())

    assert again == first and key not in reads and world.storage.calls["put"] == puts


def test_a_rejected_object_gets_quality_counts_of_its_schema_violations_only(world: JobWorld) -> None:
    world.publish("1", REFERENCE)
    stamp = (WINDOW.start + timedelta(minutes=5)).isoformat()

    def refused(model: str, reason: str, body: str, version: str | None = "1") -> dict[str, Any]:
        return {"model": model, "version": version, "timestamp": stamp, "reason": reason, "body": body}

    instances = json.dumps({"instances": [{"amount": "lots", "channel": "online"}, {"amount": 5.0}, 3]})
    key = world.deliver(
        "rejected",
        [
            refused(MODEL, "schema_violation", instances),
            refused(MODEL, "schema_violation", "{not json"),  # no instances to count
            refused(MODEL, "too_many_instances", instances),  # not a schema problem
            refused(MODEL, "schema_violation", instances, version=None),  # no version: no schema
            refused("churn", "schema_violation", instances),  # another model, counted apart
        ],
        model=MODEL,  # one object holding two models' records, on purpose
    )
    context = world.context

    done = process_delivered_object(
        context.events, context.profiles, key, _etag(world, key), context.references()
    )

    assert done.kind == "rejected" and done.profile is None
    assert (
        context.profiles.read(key) is None
        and world.storage.keys(EVENTS_BUCKET, layout.profile_key(key)) == []
    )
    assert done.quality.n_records == 5 and done.quality.first_timestamp == stamp
    ours = done.quality.of_model(MODEL)
    assert [(c.version, c.n_rows, c.checked) for c in ours] == [("1", 2, True)]
    amount = {f.name: f for f in ours[0].features}["amount"]
    channel = {f.name: f for f in ours[0].features}["channel"]
    assert (amount.type_error, channel.missing) == (1, 1)
    assert [(c.version, c.n_rows, c.checked) for c in done.quality.of_model("churn")] == [("1", 2, False)]
    assert (
        ObjectQuality.model_validate_json(world.storage.body(EVENTS_BUCKET, layout.object_quality_key(key)))
        == done.quality
    )


def test_only_events_and_rejected_objects_are_processed(world: JobWorld) -> None:
    context = world.context
    with pytest.raises(ValueError, match="labels/"):
        process_delivered_object(context.events, context.profiles, "labels/x", "", context.references())


def test_an_object_belongs_to_the_window_of_its_first_record_or_a_corrupt_one_to_its_delivery_hour() -> None:
    inside = (WINDOW.start + timedelta(minutes=59)).isoformat()
    after = WINDOW.end.isoformat()
    hour_of_window = layout.partitioned_key("events", WINDOW.start, "x", MODEL)
    next_hour = layout.partitioned_key("events", WINDOW.end, "x", MODEL)

    assert belongs_to_window(inside, next_hour, 0, WINDOW)  # delivered late: still its window
    assert not belongs_to_window(after, hour_of_window, 3, WINDOW)
    assert belongs_to_window(None, hour_of_window, 1, WINDOW)
    assert not belongs_to_window(None, next_hour, 1, WINDOW)
    assert not belongs_to_window(None, hour_of_window, 0, WINDOW)  # empty, nothing to name


def test_numbers_counted_as_arrays_give_the_profile_and_counts_of_the_json_values(world: JobWorld) -> None:
    world.publish("1", REFERENCE)
    mixed: list[dict[str, Any]] = []
    for i, row in enumerate(rows(400, seed=5)):
        if i % 7 == 0:
            row["amount"] = None  # missing
        elif i % 11 == 0:
            row["amount"] = int(row["amount"])  # an int among floats
        elif i % 13 == 0:
            del row["amount"]  # absent
        mixed.append(row)
    with_text = [*mixed, {"amount": "12", "channel": "online"}]  # a string: counted value by value
    context = world.context
    for features in (mixed, with_text):
        records = world.predictions(features)
        profile, quality = profile_and_check_events(records, context.references(), "k", "e")

        assert profile == profile_events(records, context.references(), "k", "e")
        reference = context.references().get(MODEL, "1")
        assert reference is not None
        expected = check_quality(reference.manifest.input_schema, columns_from_events(records))
        assert quality.versions == [quality_counts(expected, MODEL, "1")]
        amount = {f.name: f for f in quality.versions[0].features}["amount"]
        assert amount.missing == sum(1 for r in features if r.get("amount") is None) > 0
