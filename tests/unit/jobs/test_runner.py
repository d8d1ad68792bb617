"""Running a job: one result per window, failures stored and raised, metrics pushed, alerts announced."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from modelwatch.contracts.window import Window
from modelwatch.jobs import runner
from modelwatch.jobs.outcome import JobOutcome
from modelwatch.jobs.requests import JobRequest
from modelwatch.jobs.runner import run_job, window_of
from modelwatch.metrics.provider import InMemorySink
from tests.unit.jobs.conftest import EVENTS_BUCKET, MODEL, WINDOW, JobWorld

RESULT_KEY = "reports/model=fraud/job=drift/window=2026-11-26T09:00Z/result.json"


class ScriptedJob:
    """A job function that returns (or raises) what it is told, counting its runs."""

    def __init__(self, outcome: JobOutcome | Exception) -> None:
        self.outcome = outcome
        self.runs = 0

    def __call__(self, context: object, model: str, window: Window) -> JobOutcome:
        self.runs += 1
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


@pytest.fixture
def drift(monkeypatch: pytest.MonkeyPatch) -> ScriptedJob:
    job = ScriptedJob(JobOutcome(status="ok", alert=True, versions=["1"], summary={"drift_share": 0.5}))
    functions = {"drift": job, "quality": job, "performance": job}
    monkeypatch.setattr(runner, "_job_functions", lambda: functions)
    return job


def test_a_window_is_computed_once_stored_announced_and_measured(world: JobWorld, drift: ScriptedJob) -> None:
    # When the same window is run twice
    first = run_job(world.context, "drift", MODEL, WINDOW)
    second = run_job(world.context, "drift", MODEL, WINDOW)

    # Then the job ran once, its result is stored where the layout says, and the second run read it back
    assert drift.runs == 1
    assert first == second and first.status == "ok" and first.alert
    assert first.result_uri == f"s3://{EVENTS_BUCKET}/{RESULT_KEY}"
    assert world.storage.keys(EVENTS_BUCKET, "reports/") == [RESULT_KEY]
    # And the alert went on the bus once, with the job's figures
    ((detail_type, detail),) = world.bus.events
    assert detail_type == "DriftDetected" and detail["drift_share"] == 0.5 and detail["model"] == MODEL
    assert world.sink.last("modelwatch_job_last_run_success", job="drift", model=MODEL) == 1.0


def test_force_recomputes_a_window_that_has_a_result(world: JobWorld, drift: ScriptedJob) -> None:
    run_job(world.context, "drift", MODEL, WINDOW)
    drift.outcome = JobOutcome(status="no_data", reason="nothing")

    again = run_job(world.context, "drift", MODEL, WINDOW, force=True)

    assert drift.runs == 2 and again.status == "no_data" and again.reason == "nothing"


def test_a_failure_is_stored_as_a_failed_result_then_raised_and_retried(
    world: JobWorld, drift: ScriptedJob
) -> None:
    drift.outcome = RuntimeError("profile store unreachable")

    with pytest.raises(RuntimeError, match="unreachable"):
        run_job(world.context, "drift", MODEL, WINDOW)

    stored = world.context.results.read("drift", MODEL, WINDOW.key)
    assert stored is not None and stored.status == "failed"
    assert stored.reason == "RuntimeError: profile store unreachable"
    assert world.sink.last("modelwatch_job_last_run_success", job="drift", model=MODEL) == 0.0
    assert world.bus.events == []
    # A failed window is not "done": the retry runs the job again.
    drift.outcome = JobOutcome(status="ok")
    assert run_job(world.context, "drift", MODEL, WINDOW).status == "ok" and drift.runs == 2


def test_a_metrics_outage_never_fails_the_run(world: JobWorld, drift: ScriptedJob) -> None:
    world.sink = InMemorySink(fail_with="connection refused")

    result = run_job(world.context, "drift", MODEL, WINDOW)

    assert result.status == "ok" and world.sink.pushes == 1
    assert world.context.results.read("drift", MODEL, WINDOW.key) == result


def test_window_of_a_schedule_is_the_last_complete_one_lagged_for_performance(world: JobWorld) -> None:
    world.settings = world.settings.model_copy(update={"label_lag_minutes": 120})
    fired = datetime(2026, 11, 26, 10, 0, 20, tzinfo=UTC)

    drift = window_of(world.context, "drift", JobRequest(model=MODEL, time=fired))
    performance = window_of(world.context, "performance", JobRequest(model=MODEL, time=fired))
    daily = window_of(world.context, "quality", JobRequest(model=MODEL, time=fired, window_minutes=1440))

    assert (drift.start, drift.end) == (WINDOW.start, WINDOW.end)
    assert performance.end == WINDOW.end - timedelta(hours=2)
    assert (daily.start, daily.end) == (
        datetime(2026, 11, 25, tzinfo=UTC),
        datetime(2026, 11, 26, tzinfo=UTC),
    )


def test_window_of_an_on_demand_run_starts_where_asked(world: JobWorld) -> None:
    request = JobRequest(model=MODEL, window_start=datetime(2026, 11, 20, 7, 0), window_minutes=30)

    window = window_of(world.context, "performance", request)

    assert (window.start, window.end) == (
        datetime(2026, 11, 20, 7, 0, tzinfo=UTC),
        datetime(2026, 11, 20, 7, 30, tzinfo=UTC),
    )
