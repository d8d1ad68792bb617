"""The job dispatcher: which windows are due for each model, at its own length, caught up, never doubled."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from modelwatch.contracts import layout
from modelwatch.contracts.manifest import ManifestMonitoring, ServingManifest
from modelwatch.contracts.window import Window
from modelwatch.jobs.dispatch import DispatchContext, DispatchState, due_windows, run_dispatch
from modelwatch.jobs.lambda_handler import job_handler
from modelwatch.jobs.requests import JobRequest
from modelwatch.settings import JobDispatchSettings
from modelwatch.stores.job_queue import InMemoryJobQueues, JobQueueError
from modelwatch.stores.manifests import ManifestStore
from modelwatch.stores.objects import InMemoryStorage
from tests.unit.jobs.conftest import EVENTS_BUCKET, MODEL, MODELS_BUCKET, SCHEMA, WINDOW, JobWorld, rows

HOUR = timedelta(hours=1)
QUEUES = {"drift": "q-drift", "quality": "q-quality", "performance": "q-performance"}


def _settings(**overrides: object) -> JobDispatchSettings:
    values: dict[str, object] = {
        "models_bucket": MODELS_BUCKET,
        "events_bucket": EVENTS_BUCKET,
        "job_queue_urls": QUEUES,
        "window_minutes": 60,
        "dispatch_every_minutes": 5,
        "max_catch_up_windows": 3,
        "delivery_lag_minutes": 0,
        **overrides,
    }
    return JobDispatchSettings.model_validate(values)


def _publish(
    storage: InMemoryStorage, model: str, window_minutes: int | None = None, alias: str = "production"
) -> None:
    ManifestStore(storage, MODELS_BUCKET).write(
        ServingManifest(
            model=model,
            version="1",
            alias=alias,
            flavor="sklearn",
            artifact_uri=f"s3://{MODELS_BUCKET}/{layout.model_file_key(model, '1', 'sklearn')}",
            input_schema=SCHEMA,
            monitoring=ManifestMonitoring(window_minutes=window_minutes) if window_minutes else None,
        )
    )


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _dispatcher(
    storage: InMemoryStorage, clock: Clock, **settings: object
) -> tuple[DispatchContext, InMemoryJobQueues]:
    queues = InMemoryJobQueues()
    return DispatchContext(
        settings=_settings(**settings), storage=storage, queues=queues, clock=clock
    ), queues


def _sent(queues: InMemoryJobQueues, job: str) -> list[tuple[str, str, int]]:
    bodies = [json.loads(body) for body in queues.sent.get(job, [])]
    assert all(body["job"] == job for body in bodies)
    return [(b["model"], b["window_start"], b["window_minutes"]) for b in bodies]


def test_each_window_is_due_once_in_the_tick_after_it_closes() -> None:
    length = timedelta(minutes=60)
    tick = timedelta(minutes=5)
    start = datetime(2026, 11, 26, 9, 50, tzinfo=UTC)

    dispatched = []
    for n in range(1, 30):  # 09:55 .. 12:15, one tick every 5 minutes
        due, skipped = due_windows(length, start + (n - 1) * tick, start + n * tick, timedelta(0), 3)
        assert skipped == 0
        dispatched += [(start + n * tick, w) for w in due]

    assert [(at.strftime("%H:%M"), w.key) for at, w in dispatched] == [
        ("10:00", "2026-11-26T09:00Z"),
        ("11:00", "2026-11-26T10:00Z"),
        ("12:00", "2026-11-26T11:00Z"),
    ]


def test_a_lagged_window_is_due_lag_after_it_closes() -> None:
    due, _ = due_windows(
        HOUR,
        datetime(2026, 11, 26, 11, 55, tzinfo=UTC),
        datetime(2026, 11, 26, 12, 0, tzinfo=UTC),
        2 * HOUR,
        3,
    )
    assert due == [Window(datetime(2026, 11, 26, 9, tzinfo=UTC), datetime(2026, 11, 26, 10, tzinfo=UTC))]


def test_missed_ticks_catch_up_at_most_the_last_n_windows() -> None:
    since = datetime(2026, 11, 26, 0, 0, tzinfo=UTC)  # the dispatcher was down for ten hours
    due, skipped = due_windows(HOUR, since, since + 10 * HOUR + timedelta(minutes=2), timedelta(0), 3)

    assert [w.key for w in due] == ["2026-11-26T07:00Z", "2026-11-26T08:00Z", "2026-11-26T09:00Z"]
    assert skipped == 7


def test_every_model_with_a_manifest_is_dispatched_at_its_own_window_length() -> None:
    storage = InMemoryStorage()
    _publish(storage, "fraud")  # the default: 60 minutes
    _publish(storage, "churn", window_minutes=1440)
    _publish(storage, "quick", window_minutes=15)
    _publish(storage, "staged_only", alias="staging")
    clock = Clock(datetime(2026, 11, 27, 0, 2, tzinfo=UTC))
    context, queues = _dispatcher(storage, clock)

    result = run_dispatch(context)

    expected = [
        ("churn", "2026-11-26T00:00:00+00:00", 1440),
        ("fraud", "2026-11-26T23:00:00+00:00", 60),
        ("quick", "2026-11-26T23:45:00+00:00", 15),
    ]
    for job in ("drift", "quality", "performance"):
        assert _sent(queues, job) == expected
    assert result.models == 3 and result.dispatched == {"drift": 3, "quality": 3, "performance": 3}


def test_scheduled_performance_runs_revisit_late_labels_and_the_other_jobs_do_not() -> None:
    storage = InMemoryStorage()
    _publish(storage, "fraud")
    context, queues = _dispatcher(storage, Clock(datetime(2026, 11, 26, 10, 2, tzinfo=UTC)))
    run_dispatch(context)

    for job in ("drift", "quality", "performance"):
        requests = [JobRequest.model_validate_json(body) for body in queues.sent[job]]
        assert requests and all(r.refresh_late_labels is (job == "performance") for r in requests)
        assert not any(r.force for r in requests)


def test_a_model_published_after_the_last_tick_is_dispatched_at_the_next() -> None:
    storage = InMemoryStorage()
    _publish(storage, "fraud")
    clock = Clock(datetime(2026, 11, 26, 10, 2, tzinfo=UTC))
    context, queues = _dispatcher(storage, clock)
    run_dispatch(context)

    _publish(storage, "churn")
    clock.now = datetime(2026, 11, 26, 11, 3, tzinfo=UTC)
    run_dispatch(context)

    assert _sent(queues, "drift") == [
        ("fraud", "2026-11-26T09:00:00+00:00", 60),
        ("churn", "2026-11-26T10:00:00+00:00", 60),
        ("fraud", "2026-11-26T10:00:00+00:00", 60),
    ]


def test_the_performance_job_waits_for_labels() -> None:
    storage = InMemoryStorage()
    _publish(storage, "fraud")
    context, queues = _dispatcher(
        storage, Clock(datetime(2026, 11, 26, 12, 2, tzinfo=UTC)), label_lag_minutes=120
    )

    run_dispatch(context)

    assert _sent(queues, "drift") == [("fraud", "2026-11-26T11:00:00+00:00", 60)]
    assert _sent(queues, "performance") == [("fraud", "2026-11-26T09:00:00+00:00", 60)]


def test_a_window_waits_for_its_last_deliveries() -> None:
    # Given a window that ended at 12:00 and Firehose delivering up to 90 s after a put
    storage = InMemoryStorage()
    _publish(storage, "fraud")
    early, early_queues = _dispatcher(
        storage, Clock(datetime(2026, 11, 26, 12, 2, tzinfo=UTC)), delivery_lag_minutes=3
    )
    late, late_queues = _dispatcher(
        storage, Clock(datetime(2026, 11, 26, 12, 7, tzinfo=UTC)), delivery_lag_minutes=3
    )

    # When the dispatcher ticks two minutes after the window's end, then five minutes later
    run_dispatch(early)
    run_dispatch(late)

    # Then the 11:00 window is not dispatched before 12:03: the tick at 12:07 dispatches it
    assert _sent(early_queues, "drift") == []
    assert _sent(late_queues, "drift") == [("fraud", "2026-11-26T11:00:00+00:00", 60)]


def test_the_default_delivery_lag_covers_firehose_dynamic_partitioning() -> None:
    assert JobDispatchSettings.model_fields["delivery_lag_minutes"].default * 60 >= 1.5 * 60


def test_a_tick_run_twice_dispatches_nothing_the_second_time() -> None:
    storage = InMemoryStorage()
    _publish(storage, "fraud")
    clock = Clock(datetime(2026, 11, 26, 10, 2, tzinfo=UTC))
    context, queues = _dispatcher(storage, clock)

    run_dispatch(context)
    again = run_dispatch(context)  # EventBridge delivered the schedule twice

    assert len(queues.sent["drift"]) == 1
    assert again.dispatched == {}
    saved, _ = context.state.load()
    assert saved == DispatchState(dispatched_through=clock.now)


def test_a_failed_send_saves_nothing_so_the_retry_dispatches_the_same_windows() -> None:
    storage = InMemoryStorage()
    _publish(storage, "fraud")
    clock = Clock(datetime(2026, 11, 26, 10, 2, tzinfo=UTC))
    context, _ = _dispatcher(storage, clock)
    context.queues = InMemoryJobQueues(fail_on="quality")

    with pytest.raises(JobQueueError, match="quality"):
        run_dispatch(context)
    assert context.state.load() == (DispatchState(), None)

    context.queues = retry = InMemoryJobQueues()
    run_dispatch(context)
    assert _sent(retry, "quality") == [("fraud", "2026-11-26T09:00:00+00:00", 60)]


def test_a_broken_manifest_is_named_and_the_other_models_are_dispatched() -> None:
    storage = InMemoryStorage()
    _publish(storage, "fraud")
    storage.put(MODELS_BUCKET, layout.manifest_key("broken", "production"), b'{"model": "broken"}')
    context, queues = _dispatcher(storage, Clock(datetime(2026, 11, 26, 10, 2, tzinfo=UTC)))

    result = run_dispatch(context)

    assert _sent(queues, "drift") == [("fraud", "2026-11-26T09:00:00+00:00", 60)]
    assert set(result.unreadable_manifests) == {"broken"}
    assert "ValidationError" in result.unreadable_manifests["broken"]


def test_the_same_window_dispatched_twice_is_computed_once(
    world: JobWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a window dispatched twice (two overlapping ticks), delivered as two SQS records
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    world.publish("1")
    world.deliver("events", world.predictions(rows(20, seed=1)))
    body = json.dumps(
        {"job": "quality", "model": MODEL, "window_start": WINDOW.start.isoformat(), "window_minutes": 60}
    )
    handler = job_handler("quality", lambda: world.context)

    # When the job consumes both
    first = handler(_sqs_event(("m1", body)), _Context())
    writes, pushes, events = world.storage.calls.get("put", 0), world.sink.pushes, len(world.bus.events)
    second = handler(_sqs_event(("m2", body)), _Context())

    # Then the second finds the result and writes nothing, sends no second metric or event
    assert first == second == {"batchItemFailures": []}
    assert world.storage.calls.get("put", 0) == writes and writes > 0
    assert world.sink.pushes == pushes == 1
    assert len(world.bus.events) == events


def test_a_failing_record_is_reported_and_the_others_of_the_batch_are_done(
    world: JobWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    world.publish("1")
    world.deliver("events", world.predictions(rows(20, seed=1)))
    good = JobRequest(
        job="quality", model=MODEL, window_start=WINDOW.start, window_minutes=60
    ).model_dump_json()
    wrong_job = json.dumps({"job": "drift", "model": MODEL, "window_start": WINDOW.start.isoformat()})
    not_json = "{nope"
    handler = job_handler("quality", lambda: world.context)

    answer = handler(_sqs_event(("ok", good), ("wrong", wrong_job), ("bad", not_json)), _Context())

    assert answer == {"batchItemFailures": [{"itemIdentifier": "wrong"}, {"itemIdentifier": "bad"}]}
    assert world.context.results.read("quality", MODEL, WINDOW.key) is not None


def _sqs_event(*messages: tuple[str, str]) -> dict[str, object]:
    """What Lambda's SQS event source delivers: one record per message."""
    return {
        "Records": [
            {
                "messageId": message_id,
                "receiptHandle": f"handle-{message_id}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1764150000000"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:modelwatch-quality",
                "awsRegion": "us-east-1",
            }
            for message_id, body in messages
        ]
    }


class _Context:
    function_name = "modelwatch-quality"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:modelwatch-quality"
    aws_request_id = "request-1"


def _with_rollout(storage: InMemoryStorage, model: str, state: str = "running") -> None:
    from modelwatch.contracts.rollout import Rollout, RolloutCandidate

    store = ManifestStore(storage, MODELS_BUCKET)
    current = store.current(model, "production")
    assert current is not None
    rollout = Rollout(
        id=f"{model}-r",
        mode="ab",
        candidate=RolloutCandidate(
            version="2", flavor="sklearn", artifact_uri="s3://m/2", input_schema=SCHEMA
        ),
        production_version="1",
        share=0.2,
        state=state,  # type: ignore[arg-type]
    )
    store.write(current.model_copy(update={"rollout": rollout}))


def test_rollout_windows_are_dispatched_for_running_rollouts_only_every_window_since_the_last_tick() -> None:
    storage = InMemoryStorage()
    for model in ("fraud", "churn", "quiet"):
        _publish(storage, model)
    _with_rollout(storage, "fraud")
    _with_rollout(storage, "churn", state="rolled_back")
    clock = Clock(datetime(2026, 11, 26, 10, 2, tzinfo=UTC))
    context, queues = _dispatcher(
        storage, clock, job_queue_urls={**QUEUES, "rollout": "q-rollout"}, rollout_window_minutes=5
    )
    context.state.save(DispatchState(dispatched_through=datetime(2026, 11, 26, 9, 47, tzinfo=UTC)), None)

    result = run_dispatch(context)

    # 09:47 .. 10:02: the windows that closed at 09:50, 09:55 and 10:00 (three: the catch-up limit)
    assert _sent(queues, "rollout") == [
        ("fraud", "2026-11-26T09:45:00+00:00", 5),
        ("fraud", "2026-11-26T09:50:00+00:00", 5),
        ("fraud", "2026-11-26T09:55:00+00:00", 5),
    ]
    assert result.dispatched["rollout"] == 3 and result.dispatched["drift"] == 3


def test_without_a_rollout_queue_no_rollout_window_is_dispatched() -> None:
    storage = InMemoryStorage()
    _publish(storage, "fraud")
    _with_rollout(storage, "fraud")
    context, queues = _dispatcher(storage, Clock(datetime(2026, 11, 26, 10, 2, tzinfo=UTC)))

    result = run_dispatch(context)

    assert "rollout" not in queues.sent and "rollout" not in result.dispatched
