"""Backfill: the windows covering a range, run here on a bounded pool or queued, each window once."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest

from modelwatch.contracts import layout
from modelwatch.contracts.manifest import ManifestMonitoring, ServingManifest
from modelwatch.contracts.window import Window, window_before
from modelwatch.jobs import runner
from modelwatch.jobs.backfill import (
    MAX_BACKFILL_WINDOWS,
    BackfillError,
    BackfillRequest,
    count_covering_windows,
    covering_windows,
    plan_backfill,
    queue_backfill,
    run_backfill,
)
from modelwatch.jobs.context import JobContext
from modelwatch.jobs.dispatch import DispatchContext
from modelwatch.jobs.outcome import JobOutcome
from modelwatch.jobs.requests import JobRequest
from modelwatch.settings import JobDispatchSettings
from modelwatch.stores.job_queue import InMemoryJobQueues
from modelwatch.stores.manifests import ManifestStore
from modelwatch.stores.objects import InMemoryStorage
from tests.unit.jobs.conftest import EVENTS_BUCKET, MODEL, MODELS_BUCKET, SCHEMA, JobWorld

NOW = datetime(2026, 11, 20, tzinfo=UTC)
HOUR = timedelta(hours=1)


def publish(storage: InMemoryStorage, window_minutes: int | None = None, alias: str = "production") -> None:
    ManifestStore(storage, MODELS_BUCKET).write(
        ServingManifest(
            model=MODEL,
            version="1",
            alias=alias,
            flavor="sklearn",
            artifact_uri=f"s3://{MODELS_BUCKET}/{layout.model_file_key(MODEL, '1', 'sklearn')}",
            input_schema=SCHEMA,
            monitoring=ManifestMonitoring(window_minutes=window_minutes) if window_minutes else None,
        )
    )


def request(**overrides: Any) -> BackfillRequest:
    return BackfillRequest.from_payload(
        {"model": MODEL, "from": "2026-11-01", "to": "2026-11-02", **overrides}
    )


def plan(storage: InMemoryStorage, now: datetime = NOW, **overrides: Any) -> Any:
    return plan_backfill(request(**overrides), ManifestStore(storage, MODELS_BUCKET), 60, now)


# --- the plan ---------------------------------------------------------------------------------


def test_the_windows_are_the_dispatchers_aligned_windows_covering_the_range() -> None:
    length = timedelta(minutes=45)
    start = datetime(2026, 11, 1, 0, 10, tzinfo=UTC)
    end = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)

    windows = list(covering_windows(start, end, length))

    # Each is the window the dispatcher names for the moment it closes, so their keys match
    assert windows == [window_before(w.end, length) for w in windows]
    # They overlap [start, end) and nothing else, without gaps
    assert windows[0].contains(start) and windows[-1].contains(end - timedelta(microseconds=1))
    assert all(a.end == b.start for a, b in pairwise(windows))
    assert count_covering_windows(start, end, length) == len(windows) == 8


def test_a_plan_uses_the_manifests_window_length_and_takes_dates_as_midnight_utc() -> None:
    storage = InMemoryStorage()
    publish(storage, window_minutes=360)

    made = plan(storage, jobs=["quality", "drift"])

    # Jobs in the platform's order, each with the four 6-hour windows of the day
    assert list(made.windows) == ["drift", "quality"]
    starts = [w.start for w in made.windows["drift"]]
    assert starts == [datetime(2026, 11, 1, h, tzinfo=UTC) for h in (0, 6, 12, 18)]
    assert made.windows["quality"] == made.windows["drift"] and made.total == 8
    assert made.window_minutes == 360


def test_without_a_window_in_the_manifest_the_default_length_applies_and_offsets_become_utc() -> None:
    storage = InMemoryStorage()
    publish(storage)

    made = plan(
        storage, **{"from": "2026-11-01T01:30:00+01:00", "to": "2026-11-01T03:00:00Z", "jobs": ["drift"]}
    )

    # 01:30+01:00 is 00:30Z: the window of 00:00 covers it; then 01:00 and 02:00
    assert [w.key for w in made.windows["drift"]] == [
        "2026-11-01T00:00Z",
        "2026-11-01T01:00Z",
        "2026-11-01T02:00Z",
    ]


def test_windows_not_closed_yet_are_left_out_and_counted_with_the_performance_jobs_label_lag() -> None:
    storage = InMemoryStorage()
    publish(storage)
    now = datetime(2026, 11, 1, 12, 2, tzinfo=UTC)

    made = plan_backfill(
        request(), ManifestStore(storage, MODELS_BUCKET), 60, now, label_lag=timedelta(hours=2)
    )

    # 11:00-12:00 ended 2 minutes ago, under the 3-minute delivery lag: the last one is 10:00-11:00
    assert made.windows["drift"][-1].key == "2026-11-01T10:00Z" and made.not_closed["drift"] == 13
    # The performance job's windows wait for their labels two hours more
    assert made.windows["performance"][-1].key == "2026-11-01T08:00Z" and made.not_closed["performance"] == 15


@pytest.mark.parametrize(
    ("payload", "field", "words"),
    [
        ({"from": "2026-11-02", "to": "2026-11-01"}, "from", "is not before to"),
        ({"from": "2026-11-01", "to": "2026-11-01"}, "from", "is not before to"),
        ({"jobs": ["drift", "latency"]}, "jobs.1", "'drift', 'quality' or 'performance'"),
        ({"jobs": []}, "jobs", "at least 1"),
        ({"from": "last tuesday"}, "from", "datetime"),
        ({"model": "../etc"}, "model", "pattern"),
        ({"window": 3}, "window", "not permitted"),
    ],
)
def test_an_invalid_request_names_its_field(payload: dict[str, Any], field: str, words: str) -> None:
    storage = InMemoryStorage()
    publish(storage)

    with pytest.raises(BackfillError, match=words) as raised:
        plan(storage, **payload)

    assert raised.value.field == field and str(raised.value).startswith(f"{field}: ")


def test_a_model_without_a_serving_manifest_is_refused() -> None:
    storage = InMemoryStorage()
    publish(storage, alias="staging")

    with pytest.raises(BackfillError, match="no serving manifest under alias 'production'") as raised:
        plan(storage)

    assert raised.value.field == "model"


def test_more_windows_than_the_bound_is_refused_with_the_count_and_why() -> None:
    storage = InMemoryStorage()
    publish(storage, window_minutes=5)
    # A year of 5-minute windows is 105,120 per job
    with pytest.raises(
        BackfillError, match=r"105,120 windows of 5 min for 3 job\(s\), 315,360 in all"
    ) as raised:
        plan(storage, **{"from": "2025-01-01", "to": "2026-01-01"})
    assert (
        raised.value.field == "to" and "one invocation" in str(raised.value) and "split" in str(raised.value)
    )

    # Just at the bound is accepted: 10,000 windows of one job
    end = datetime(2025, 1, 1, tzinfo=UTC) + MAX_BACKFILL_WINDOWS * timedelta(minutes=5)
    made = plan(storage, now=end + HOUR, **{"from": "2025-01-01", "to": end.isoformat(), "jobs": ["drift"]})
    assert made.total == MAX_BACKFILL_WINDOWS


def test_a_python_date_or_datetime_is_taken_as_well_as_text() -> None:
    parsed = BackfillRequest.from_payload(
        {"model": MODEL, "from": date(2026, 11, 1), "to": datetime(2026, 11, 2)}
    )
    assert parsed.start == datetime(2026, 11, 1, tzinfo=UTC) and parsed.end == datetime(
        2026, 11, 2, tzinfo=UTC
    )
    assert parsed.jobs == ["drift", "quality", "performance"] and parsed.force is False


# --- running a plan here ----------------------------------------------------------------------


class CountingJobs:
    """Job functions that count each (job, window) run; a window in ``failing`` raises."""

    def __init__(self, failing: set[tuple[str, str]] | None = None, empty: set[str] | None = None) -> None:
        self.runs: list[tuple[str, str]] = []
        self.failing = failing or set()
        self.empty = empty or set()
        self.concurrent = 0
        self.most_concurrent = 0
        self._lock = threading.Lock()

    def function(self, job: str) -> Any:
        def run(context: JobContext, model: str, window: Window) -> JobOutcome:
            with self._lock:
                self.runs.append((job, window.key))
                self.concurrent += 1
                self.most_concurrent = max(self.most_concurrent, self.concurrent)
            try:
                time.sleep(0.002)  # long enough for the pool's threads to overlap
                if (job, window.key) in self.failing:
                    raise RuntimeError(f"object store unreachable for {window.key}")
                if window.key in self.empty:
                    return JobOutcome(status="no_data", reason="no events")
                return JobOutcome(status="ok", versions=["1"])
            finally:
                with self._lock:
                    self.concurrent -= 1

        return run


@pytest.fixture
def jobs(monkeypatch: pytest.MonkeyPatch) -> CountingJobs:
    counting = CountingJobs()
    functions = {name: counting.function(name) for name in ("drift", "quality", "performance")}
    monkeypatch.setattr(runner, "_job_functions", lambda: functions)
    return counting


def test_a_second_run_skips_every_computed_window_and_force_recomputes_them(
    world: JobWorld, jobs: CountingJobs
) -> None:
    publish(world.storage)
    made = plan(world.storage)  # 24 hourly windows x 3 jobs

    first = run_backfill(world.context, made, parallel=4)
    second = run_backfill(world.context, made, parallel=4)

    assert first.counts() == {"done": 72, "skipped": 0, "no_data": 0, "failed": 0}
    assert len(jobs.runs) == len(set(jobs.runs)) == 72
    assert second.counts() == {"done": 0, "skipped": 72, "no_data": 0, "failed": 0}
    assert len(jobs.runs) == 72  # nothing ran again
    keys = world.storage.keys(EVENTS_BUCKET, "reports/")
    assert len([key for key in keys if key.endswith("/result.json")]) == 72

    forced = run_backfill(world.context, plan(world.storage, force=True), parallel=4)

    assert forced.counts()["done"] == 72 and len(jobs.runs) == 144


def test_a_failing_window_is_reported_and_every_other_window_completes(
    world: JobWorld, jobs: CountingJobs
) -> None:
    publish(world.storage)
    jobs.failing = {("quality", "2026-11-01T05:00Z"), ("drift", "2026-11-01T17:00Z")}
    jobs.empty = {"2026-11-01T03:00Z"}

    report = run_backfill(world.context, plan(world.storage), parallel=3)

    assert report.counts() == {"done": 67, "skipped": 0, "no_data": 3, "failed": 2}
    assert [(run.job, run.window.key) for run in report.failed] == [
        ("quality", "2026-11-01T05:00Z"),
        ("drift", "2026-11-01T17:00Z"),
    ]
    assert report.failed[0].reason == "RuntimeError: object store unreachable for 2026-11-01T05:00Z"
    assert not report.interrupted and report.summary()["failed_windows"][1]["window"] == "2026-11-01T17:00Z"
    # The failure is stored as failed, so the next run retries those two windows only
    jobs.failing = set()
    again = run_backfill(world.context, plan(world.storage), parallel=3)
    assert again.counts() == {"done": 2, "skipped": 70, "no_data": 0, "failed": 0}


def test_at_most_parallel_windows_run_at_once(world: JobWorld, jobs: CountingJobs) -> None:
    publish(world.storage)

    report = run_backfill(world.context, plan(world.storage), parallel=2)

    assert report.counts()["done"] == 72
    assert 1 <= jobs.most_concurrent <= 2


def test_each_finished_window_is_announced_in_the_calling_thread(world: JobWorld, jobs: CountingJobs) -> None:
    publish(world.storage)
    seen: list[tuple[str, str, str]] = []
    caller = threading.current_thread()

    def on_window(run: Any) -> None:
        assert threading.current_thread() is caller
        seen.append((run.job, run.window.key, run.status))

    report = run_backfill(world.context, plan(world.storage, jobs=["drift"]), on_window=on_window)

    assert sorted(seen) == sorted((r.job, r.window.key, r.status) for r in report.runs) and len(seen) == 24


def test_a_stop_request_starts_no_further_window_and_marks_the_report_interrupted(
    world: JobWorld, jobs: CountingJobs
) -> None:
    publish(world.storage)
    stop = threading.Event()

    def on_window(run: Any) -> None:
        stop.set()

    report = run_backfill(world.context, plan(world.storage), parallel=2, on_window=on_window, stop=stop)

    assert report.interrupted and 0 < len(report.runs) < 72 and report.not_run == 72 - len(report.runs)
    assert len(jobs.runs) == len(report.runs)


def test_parallel_out_of_bounds_is_refused(world: JobWorld) -> None:
    publish(world.storage)
    with pytest.raises(BackfillError, match="parallel: must be 1 to 10"):
        run_backfill(world.context, plan(world.storage), parallel=0)


# --- queueing a plan --------------------------------------------------------------------------

QUEUES = {"drift": "q-drift", "quality": "q-quality", "performance": "q-performance"}


def dispatcher(storage: InMemoryStorage, **settings: Any) -> tuple[DispatchContext, InMemoryJobQueues]:
    queues = InMemoryJobQueues()
    values: dict[str, Any] = {
        "models_bucket": MODELS_BUCKET,
        "events_bucket": EVENTS_BUCKET,
        "job_queue_urls": QUEUES,
        "delivery_lag_minutes": 0,
        **settings,
    }
    context = DispatchContext(
        settings=JobDispatchSettings.model_validate(values), storage=storage, queues=queues, clock=lambda: NOW
    )
    return context, queues


def test_a_backfill_payload_queues_one_request_per_window_on_each_jobs_queue() -> None:
    storage = InMemoryStorage()
    publish(storage, window_minutes=120)
    context, queues = dispatcher(storage)

    queued = queue_backfill(
        context, {"model": MODEL, "from": "2026-11-01", "to": "2026-11-02", "jobs": ["drift", "performance"]}
    )

    assert queued.queued == {"drift": 12, "performance": 12} and "quality" not in queues.sent
    requests = [JobRequest.model_validate_json(body) for body in queues.sent["drift"]]
    assert [r.window_start for r in requests] == [datetime(2026, 11, 1, 2 * i, tzinfo=UTC) for i in range(12)]
    assert {(r.job, r.model, r.window_minutes, r.force) for r in requests} == {("drift", MODEL, 120, False)}
    assert queued.summary()["backfill"]["queued"] == {"drift": 12, "performance": 12}
    # The scheduled dispatch's state is not touched
    assert storage.keys(EVENTS_BUCKET, layout.JOB_DISPATCH_STATE_KEY) == []


def test_a_forced_backfill_asks_each_job_to_recompute() -> None:
    storage = InMemoryStorage()
    publish(storage)
    context, queues = dispatcher(storage)

    queue_backfill(
        context, {"model": MODEL, "from": "2026-11-01T00:00Z", "to": "2026-11-01T02:00Z", "force": True}
    )

    bodies = [json.loads(body) for job in QUEUES for body in queues.sent[job]]
    assert len(bodies) == 6 and all(body["force"] is True for body in bodies)


def test_a_backfill_payload_naming_a_job_without_a_queue_or_a_bad_range_is_refused() -> None:
    storage = InMemoryStorage()
    publish(storage)
    context, queues = dispatcher(storage, job_queue_urls={"drift": "q-drift"})

    with pytest.raises(BackfillError, match="jobs: no queue for quality, performance"):
        queue_backfill(context, {"model": MODEL, "from": "2026-11-01", "to": "2026-11-02"})
    with pytest.raises(BackfillError, match=r"^from: "):
        queue_backfill(context, {"model": MODEL, "from": "2026-11-03", "to": "2026-11-02", "jobs": ["drift"]})
    with pytest.raises(BackfillError, match="backfill: expected an object"):
        queue_backfill(context, ["drift"])
    assert queues.sent == {}
