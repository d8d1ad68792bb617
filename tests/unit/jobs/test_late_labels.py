"""Late labels converge a window: scheduled performance runs revisit earlier windows at doubling ages."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from modelwatch.contracts.window import Window
from modelwatch.jobs import runner
from modelwatch.jobs.lambda_handler import run_request as handle_request
from modelwatch.jobs.requests import JobRequest
from modelwatch.jobs.runner import refresh_late_labels, revisit_ages, run_job
from modelwatch.settings import MonitoringSettings
from modelwatch.stores.sql import Query, QueryError, QueryResult
from tests.unit.jobs.conftest import EVENTS_BUCKET, MODEL, MODELS_BUCKET, WINDOW, rows
from tests.unit.jobs.lake_world import CountingEngine, LakeWorld

HOUR = timedelta(hours=1)


@pytest.fixture
def lake(tmp_path: Path) -> LakeWorld:
    world = LakeWorld(
        settings=MonitoringSettings(
            events_bucket=EVENTS_BUCKET, models_bucket=MODELS_BUCKET, label_horizon_days=2
        ),
        root=tmp_path,
        engine=CountingEngine(tmp_path),
    )
    world.publish("1")
    return world


def label_records(events: list[dict[str, Any]], received: datetime) -> list[dict[str, Any]]:
    return [
        {
            "schema_version": 1,
            "event_id": f"l-{received:%d%H}-{i}",
            "model": MODEL,
            "request_id": event["request_id"],
            "index": event["index"],
            "label": int(event["features"]["channel"] == "online"),
            "timestamp": received.isoformat(),
        }
        for i, event in enumerate(events)
    ]


def scheduled(lake: LakeWorld, at: datetime) -> None:
    """The hourly schedule firing at ``at``: the window before it, then the refresh."""
    lake.now = at
    request = JobRequest(model=MODEL, time=at, refresh_late_labels=True)
    runner.run_request(lake.context, "performance", request)


def labelled(lake: LakeWorld, window: Window = WINDOW) -> int | None:
    stored = lake.context.results.read("performance", MODEL, window.key)
    return None if stored is None else stored.summary.get("n_labelled")


def test_the_revisits_double_up_to_the_horizon() -> None:
    ages = revisit_ages(HOUR, timedelta(days=7))
    assert [age // HOUR for age in ages] == [1, 2, 4, 8, 16, 32, 64, 128, 168]
    assert [age // HOUR for age in revisit_ages(HOUR, timedelta(days=2))] == [1, 2, 4, 8, 16, 32, 48]
    assert revisit_ages(timedelta(days=1), timedelta(days=0)) == []


def test_labels_arriving_over_days_converge_the_windows_figures(lake: LakeWorld) -> None:
    # Given 100 predictions in the window, and labels for them arriving over a day and more
    lake.settings = lake.settings.model_copy(
        update={"label_horizon_days": 1}
    )  # revisits at 1, 2, 4, 8, 16, 24 h
    events = lake.predictions(rows(100, seed=1))
    lake.deliver("events", events)
    batches = {  # hours after the window's end -> the predictions labelled then
        0: events[:10],
        5: events[10:40],
        12: events[40:70],
        20: events[70:90],
        26: events[90:],  # past the 1-day horizon: never counts
    }
    seen: list[int | None] = []
    queries_per_run: list[int] = []
    # When the hourly schedule runs for 30 hours (labels delivered as they arrive)
    assert lake.engine is not None
    for hour in range(30):
        moment = WINDOW.end + hour * HOUR
        if hour in batches:
            received = moment + timedelta(minutes=10)
            lake.deliver("labels", label_records(batches[hour], received), at=received)
        before = len(lake.engine.queries)
        scheduled(lake, moment + timedelta(hours=1, minutes=5))  # runs the window after ours, then revisits
        queries_per_run.append(len(lake.engine.queries) - before)
        seen.append(labelled(lake))

    # Then the window's stored figures follow the labels, at its revisits, up to the horizon
    assert seen[0] == 10  # first computed at age 1, just after the first labels
    distinct = [n for i, n in enumerate(seen) if i == 0 or n != seen[i - 1]]
    assert distinct == [10, 40, 70, 90]
    # each batch is counted by the first revisit after it (runs 0, 1, 3, 7, 15 and 23 revisit it)
    assert seen[6] == 10 and seen[7] == 40 and seen[14] == 40 and seen[15] == 70 and seen[23] == 90
    assert seen[-1] == 90  # the labels past the horizon never count
    final = lake.context.results.read("performance", MODEL, WINDOW.key)
    assert final is not None and final.summary["labelled_share"] == 0.9
    # And no run issued more queries than its own window plus one per revisit
    assert max(queries_per_run) <= 1 + len(revisit_ages(HOUR, timedelta(days=1)))


def test_a_revisit_without_new_label_objects_issues_no_query(lake: LakeWorld) -> None:
    events = lake.predictions(rows(30, seed=2))
    lake.deliver("events", events)
    received = WINDOW.end + timedelta(minutes=10)
    lake.deliver("labels", label_records(events, received), at=received)
    lake.now = WINDOW.end + timedelta(hours=3)
    current = Window(WINDOW.start + 2 * HOUR, WINDOW.end + 2 * HOUR)
    first = refresh_late_labels(lake.context, MODEL, current)  # windows without a result: computed
    assert lake.engine is not None and len(first) == len(lake.engine.queries) > 0

    lake.now += timedelta(minutes=20)
    again = refresh_late_labels(lake.context, MODEL, current)

    assert again == [] and len(lake.engine.queries) == len(first)


def test_new_label_objects_recompute_only_the_revisited_windows(lake: LakeWorld) -> None:
    events = lake.predictions(rows(30, seed=3))
    lake.deliver("events", events)
    lake.now = WINDOW.end + timedelta(hours=40)
    current = Window(WINDOW.start + 32 * HOUR, WINDOW.end + 32 * HOUR)  # the window is 32 h before it
    refresh_late_labels(lake.context, MODEL, current)
    assert labelled(lake) == 0  # no label yet
    stored = lake.context.results.read("performance", MODEL, WINDOW.key)
    assert stored is not None and stored.status == "no_data"

    lake.now += timedelta(hours=2)
    lake.deliver("labels", label_records(events, lake.now - timedelta(minutes=30)), at=lake.now)
    assert lake.engine is not None
    before = len(lake.engine.queries)
    recomputed = refresh_late_labels(lake.context, MODEL, current)

    assert len(recomputed) == len(lake.engine.queries) - before <= len(revisit_ages(HOUR, timedelta(days=2)))
    assert WINDOW.key in {r.window_start.strftime("%Y-%m-%dT%H:%MZ") for r in recomputed}
    assert labelled(lake) == 30


def test_a_window_past_the_horizon_is_final(lake: LakeWorld) -> None:
    events = lake.predictions(rows(30, seed=4))
    lake.deliver("events", events)
    lake.now = WINDOW.end + timedelta(minutes=5)
    run_job(lake.context, "performance", MODEL, WINDOW)
    late = WINDOW.end + timedelta(days=2, hours=3)  # past the horizon
    lake.deliver("labels", label_records(events, late), at=late)
    lake.now = late + timedelta(hours=1)
    assert lake.engine is not None
    before = len(lake.engine.queries)

    # The window is 51 h before the current one: beyond the last revisit (48 h)
    current = Window(WINDOW.start + 51 * HOUR, WINDOW.end + 51 * HOUR)
    recomputed = refresh_late_labels(lake.context, MODEL, current)

    assert not any(WINDOW.key in q.description for q in lake.engine.queries[before:])
    assert all(r.window_start != WINDOW.start for r in recomputed)
    stored = lake.context.results.read("performance", MODEL, WINDOW.key)
    assert stored is not None and stored.status == "no_data"


def test_a_window_computed_after_its_horizon_is_not_recomputed_even_if_labels_arrive(lake: LakeWorld) -> None:
    lake.deliver("events", lake.predictions(rows(10, seed=5)))
    lake.now = WINDOW.end + timedelta(days=3)
    run_job(lake.context, "performance", MODEL, WINDOW)  # a backfill, after the horizon
    lake.deliver("labels", label_records(lake.predictions(rows(10, seed=5)), lake.now), at=lake.now)
    lake.now += HOUR
    assert lake.engine is not None
    before = len(lake.engine.queries)

    current = Window(WINDOW.start + 48 * HOUR, WINDOW.end + 48 * HOUR)
    refresh_late_labels(lake.context, MODEL, current)

    assert not any(WINDOW.key in q.description for q in lake.engine.queries[before:])


def test_only_a_performance_request_with_the_flag_refreshes(
    lake: LakeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    refreshed: list[Window] = []
    monkeypatch.setattr(
        runner, "refresh_late_labels", lambda context, model, window: refreshed.append(window)
    )
    lake.deliver("events", lake.predictions(rows(5, seed=6)))

    handle_request(lake.context, "performance", JobRequest(model=MODEL, window_start=WINDOW.start))
    assert refreshed == []
    handle_request(
        lake.context,
        "performance",
        JobRequest(model=MODEL, window_start=WINDOW.start, refresh_late_labels=True),
    )
    assert refreshed == [WINDOW]


class FailingOn(CountingEngine):
    """Fails the queries of one window."""

    def __init__(self, root: Path, window: Window) -> None:
        super().__init__(root)
        self.window = window

    def run(self, query: Query) -> QueryResult:
        if self.window.key in query.description:
            self.queries.append(query)
            raise QueryError(f"{query.description}: the engine is down")
        return super().run(query)


def test_a_failed_recompute_ends_the_refresh_and_is_retried_at_the_next(lake: LakeWorld) -> None:
    lake.deliver("events", lake.predictions(rows(5, seed=7)))
    lake.now = WINDOW.end + timedelta(hours=5)
    engine = lake.engine = FailingOn(lake.root, WINDOW)
    current = Window(WINDOW.start + 4 * HOUR, WINDOW.end + 4 * HOUR)  # the window is revisited at age 4 h

    recomputed = refresh_late_labels(lake.context, MODEL, current)  # no exception: the run's result stands

    assert [r.window_start for r in recomputed] == [current.start - HOUR, current.start - 2 * HOUR]
    stored = lake.context.results.read("performance", MODEL, WINDOW.key)
    assert stored is not None and stored.status == "failed" and "the engine is down" in (stored.reason or "")
    # the next refresh tries the failed window again, then the ones the first refresh did not reach
    engine.window = Window(WINDOW.start - 365 * 24 * HOUR, WINDOW.end - 365 * 24 * HOUR)  # the engine is back
    again = refresh_late_labels(lake.context, MODEL, current)
    assert [r.window_start for r in again] == [
        current.start - age for age in revisit_ages(HOUR, timedelta(days=2))
    ][2:]
    stored = lake.context.results.read("performance", MODEL, WINDOW.key)
    assert stored is not None and stored.status == "no_data"
