"""No partial result marked complete: a run stopped anywhere leaves no result.json, or a failed one.

result.json is what says a window is computed, so it is written last (ResultStore.write); an
interruption (an exception, or a BaseException such as a timeout signal that ``except
Exception`` does not catch) in the job or in any store write before it leaves the window to
be recomputed by the next run. The job functions' timeout guard records ``failed`` ("timed
out") before Lambda would end the invocation.
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass
from typing import Any

import pytest

from modelwatch.contracts.window import Window
from modelwatch.jobs import runner
from modelwatch.jobs.lambda_handler import JobTimedOut, job_handler
from modelwatch.jobs.outcome import JobOutcome
from modelwatch.jobs.runner import run_job
from modelwatch.stores.objects import InMemoryStorage
from tests.unit.jobs.conftest import EVENTS_BUCKET, MODEL, WINDOW, JobWorld

RESULT_KEY = f"reports/model={MODEL}/job=drift/window={WINDOW.key}/result.json"
PAGES = {"1": "<html>version 1</html>", "2": "<html>version 2</html>"}


class Killed(BaseException):
    """What a timeout signal or the runtime stopping the process looks like to the job: not an Exception."""


class FailingStorage(InMemoryStorage):
    """In-memory storage whose ``fail_at``-th PUT (counting from 1) under ``reports/`` raises ``error``."""

    def __init__(self) -> None:
        super().__init__()
        self.fail_at: int | None = None
        self.error: BaseException = OSError("S3 PUT failed")
        self.report_puts: list[str] = []

    def put(self, bucket: str, key: str, body: bytes, *args: Any, **kwargs: Any) -> Any:
        if key.startswith("reports/"):
            self.report_puts.append(key)
            if self.fail_at is not None and len(self.report_puts) == self.fail_at:
                self.fail_at = None
                raise self.error
        return super().put(bucket, key, body, *args, **kwargs)


class Job:
    """A job function: returns an ok outcome with two pages, or raises ``error`` (once)."""

    def __init__(self) -> None:
        self.error: BaseException | None = None
        self.runs = 0

    def __call__(self, context: object, model: str, window: Window) -> JobOutcome:
        self.runs += 1
        if self.error is not None:
            error, self.error = self.error, None
            raise error
        return JobOutcome(status="ok", versions=["1", "2"], pages=dict(PAGES))


@pytest.fixture
def storage(world: JobWorld) -> FailingStorage:
    world.storage = FailingStorage()
    return world.storage


@pytest.fixture
def job(monkeypatch: pytest.MonkeyPatch) -> Job:
    function = Job()
    monkeypatch.setattr(runner, "_job_functions", lambda: {"drift": function})
    return function


def stored_status(world: JobWorld) -> str | None:
    result = world.context.results.read("drift", MODEL, WINDOW.key)
    return None if result is None else result.status


def test_result_json_is_written_after_every_page_it_names(
    world: JobWorld, storage: FailingStorage, job: Job
) -> None:
    result = run_job(world.context, "drift", MODEL, WINDOW)

    assert storage.report_puts[-1] == RESULT_KEY and len(storage.report_puts) == 3
    assert set(result.report_uris) == {"1", "2"}
    for uri in result.report_uris.values():
        assert storage.body(EVENTS_BUCKET, uri.removeprefix(f"s3://{EVENTS_BUCKET}/"))


@pytest.mark.parametrize(
    ("fail_at", "error"),
    [
        (1, OSError("S3 PUT failed")),  # the first page
        (2, OSError("S3 PUT failed")),  # the second page, the first one written
        (3, OSError("S3 PUT failed")),  # result.json itself
        (2, Killed("timeout signal")),  # killed between the pages
        (3, Killed("timeout signal")),  # killed as result.json is put
    ],
)
def test_a_run_stopped_in_a_store_write_leaves_no_ok_result_and_the_next_run_recomputes(
    world: JobWorld, storage: FailingStorage, job: Job, fail_at: int, error: BaseException
) -> None:
    storage.fail_at, storage.error = fail_at, error

    with pytest.raises(type(error)):
        run_job(world.context, "drift", MODEL, WINDOW)

    assert stored_status(world) in (None, "failed")
    # The next run (a retry, a backfill) computes the window again, completely
    again = run_job(world.context, "drift", MODEL, WINDOW)
    assert job.runs == 2 and again.status == "ok" and stored_status(world) == "ok"
    assert set(again.report_uris) == {"1", "2"}


def test_an_exception_in_the_job_is_stored_as_failed_and_recomputed(
    world: JobWorld, storage: FailingStorage, job: Job
) -> None:
    job.error = RuntimeError("profile unreadable")

    with pytest.raises(RuntimeError):
        run_job(world.context, "drift", MODEL, WINDOW)

    assert stored_status(world) == "failed"
    assert run_job(world.context, "drift", MODEL, WINDOW).status == "ok" and job.runs == 2


def test_a_base_exception_in_the_job_leaves_no_result_at_all(
    world: JobWorld, storage: FailingStorage, job: Job
) -> None:
    job.error = Killed("timeout signal")

    with pytest.raises(Killed):
        run_job(world.context, "drift", MODEL, WINDOW)

    assert storage.report_puts == [] and stored_status(world) is None
    assert run_job(world.context, "drift", MODEL, WINDOW).status == "ok" and job.runs == 2


def test_a_forced_rerun_stopped_in_the_job_keeps_the_previous_complete_result(
    world: JobWorld, storage: FailingStorage, job: Job
) -> None:
    first = run_job(world.context, "drift", MODEL, WINDOW)
    job.error = Killed("timeout signal")

    with pytest.raises(Killed):
        run_job(world.context, "drift", MODEL, WINDOW, force=True)

    # What is there is the earlier run's result, whole: nothing of the stopped run was written
    assert world.context.results.read("drift", MODEL, WINDOW.key) == first
    assert len(storage.report_puts) == 3


# --- the job functions' timeout guard -----------------------------------------------------------


@dataclass
class Invocation:
    """A Lambda context whose deadline is ``budget_ms`` after it is made."""

    budget_ms: int
    function_name: str = "modelwatch-drift"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:modelwatch-drift"
    aws_request_id: str = "request-1"

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.budget_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class SlowJob:
    """A job that works (in small steps) for ``seconds``, then returns ok."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.finished = False

    def __call__(self, context: object, model: str, window: Window) -> JobOutcome:
        until = time.monotonic() + self.seconds
        while time.monotonic() < until:
            time.sleep(0.01)
        self.finished = True
        return JobOutcome(status="ok", pages=dict(PAGES))


@pytest.fixture
def slow(monkeypatch: pytest.MonkeyPatch) -> SlowJob:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    function = SlowJob(seconds=5.0)
    monkeypatch.setattr(runner, "_job_functions", lambda: {"drift": function})
    return function


def on_demand() -> dict[str, Any]:
    return {"model": MODEL, "window_start": WINDOW.start.isoformat(), "force": True}


def test_a_run_reaching_the_margin_before_the_timeout_is_stored_failed_timed_out(
    world: JobWorld, slow: SlowJob
) -> None:
    context = world.context
    handler = job_handler("drift", lambda: context, timeout_margin_seconds=1.0)

    started = time.monotonic()
    with pytest.raises(JobTimedOut):
        handler(on_demand(), Invocation(budget_ms=1_500))

    # Stopped at 1.0 s (the margin is at most a third of the time left), not after 5 s
    assert not slow.finished and time.monotonic() - started < 1.4
    stored = context.results.read("drift", MODEL, WINDOW.key)
    assert stored is not None and stored.status == "failed"
    assert stored.reason is not None and "timed out" in stored.reason
    assert signal.getitimer(signal.ITIMER_REAL)[0] == 0  # the timer is disarmed
    assert signal.getsignal(signal.SIGALRM) is signal.SIG_DFL


def test_from_the_queue_a_timed_out_record_is_reported_for_a_retry(world: JobWorld, slow: SlowJob) -> None:
    context = world.context
    handler = job_handler("drift", lambda: context, timeout_margin_seconds=1.0)
    body = f'{{"job": "drift", "model": "{MODEL}", "window_start": "{WINDOW.start.isoformat()}"}}'
    record = {
        "messageId": "m-1",
        "receiptHandle": "r-1",
        "body": body,
        "attributes": {},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:modelwatch-drift-jobs",
        "awsRegion": "us-east-1",
    }

    answer = handler({"Records": [record]}, Invocation(budget_ms=1_500))

    assert answer == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    stored = context.results.read("drift", MODEL, WINDOW.key)
    assert stored is not None and stored.status == "failed" and "timed out" in (stored.reason or "")


def test_a_run_is_not_started_without_time_left(world: JobWorld, slow: SlowJob) -> None:
    context = world.context
    handler = job_handler("drift", lambda: context, timeout_margin_seconds=1.0)

    with pytest.raises(JobTimedOut, match="no time left"):
        handler(on_demand(), Invocation(budget_ms=0))

    assert world.storage.keys(EVENTS_BUCKET, "reports/") == []


def test_a_run_within_its_time_is_untouched_by_the_guard(world: JobWorld, slow: SlowJob) -> None:
    slow.seconds = 0.05
    context = world.context
    handler = job_handler("drift", lambda: context, timeout_margin_seconds=1.0)

    answer = handler(on_demand(), Invocation(budget_ms=60_000))

    assert answer["status"] == "ok" and slow.finished
    assert signal.getitimer(signal.ITIMER_REAL)[0] == 0
