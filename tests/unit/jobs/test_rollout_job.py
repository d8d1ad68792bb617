"""The rollout job on in-memory storage and DuckDB: evidence stored per window, guardrails acted on."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from modelwatch.contracts import layout
from modelwatch.contracts.manifest import ServingManifest
from modelwatch.contracts.rollout import CanaryStep, Guardrails, Rollout, RolloutCandidate, RolloutMetric
from modelwatch.contracts.window import Window
from modelwatch.jobs.rollout_job import NoQueryEngine, run_rollout
from modelwatch.jobs.runner import run_job
from modelwatch.settings import MonitoringSettings
from modelwatch.stores.manifests import ManifestStore
from modelwatch.stores.rollout_evidence import RolloutEvidence
from tests.unit.jobs.conftest import EVENTS_BUCKET, MODEL, MODELS_BUCKET, SCHEMA, WINDOW
from tests.unit.jobs.lake_world import CountingEngine, LakeWorld

FIVE = timedelta(minutes=5)
FIRST = Window(WINDOW.start, WINDOW.start + FIVE)


@pytest.fixture
def lake(tmp_path: Path) -> LakeWorld:
    world = LakeWorld(
        settings=MonitoringSettings(events_bucket=EVENTS_BUCKET, models_bucket=MODELS_BUCKET),
        root=tmp_path,
        engine=CountingEngine(tmp_path),
    )
    world.now = FIRST.end + timedelta(minutes=1)
    return world


def start_rollout(lake: LakeWorld, mode: str = "ab", share: float = 0.5, **fields: Any) -> Rollout:
    production = lake.publish("1")
    rollout = Rollout(
        id="r-7",
        mode=mode,  # type: ignore[arg-type]
        candidate=RolloutCandidate(
            version="2",
            flavor="sklearn",
            artifact_uri="s3://models/2",
            input_schema=SCHEMA,
            prediction_type="probability",
        ),
        production_version="1",
        share=share,
        started_at=FIRST.start - timedelta(minutes=1),
        step_started_at=FIRST.start - timedelta(minutes=1),
        **fields,
    )
    ManifestStore(lake.storage, MODELS_BUCKET).write(production.model_copy(update={"rollout": rollout}))
    return rollout


def traffic(
    lake: LakeWorld,
    window: Window,
    n: int,
    seed: int,
    candidate_errors: int = 0,
    candidate_latency: float = 5.0,
) -> None:
    """``n`` requests in ``window``, every other one the candidate's; and ``candidate_errors`` failures."""
    rng = random.Random(seed)
    at = window.start + timedelta(minutes=2)
    events = []
    for i in range(n):
        candidate = i % 2 == 1
        events.append(
            {
                "schema_version": 1,
                "event_id": f"e-{seed}-{i}",
                "request_id": f"q-{seed}-{i}",
                "index": 0,
                "model": MODEL,
                "version": "2" if candidate else "1",
                "timestamp": at.isoformat(),
                "features": {"amount": 10.0, "channel": "online"},
                "prediction": rng.random(),
                "latency_ms": rng.gauss(candidate_latency if candidate else 5.0, 0.5),
                "variant": "candidate" if candidate else "production",
                "served": True,
            }
        )
    lake.deliver("events", events, at=at)
    failures = [
        {
            "schema_version": 1,
            "event_id": f"x-{seed}-{i}",
            "request_id": f"f-{seed}-{i}",
            "model": MODEL,
            "version": "2",
            "timestamp": at.isoformat(),
            "reason": "candidate_failed",
            "status_code": 200,
            "errors": [{"type": "prediction_failed", "message": "boom"}],
            "body": "{}",
            "body_truncated": False,
            "variant": "candidate",
        }
        for i in range(candidate_errors)
    ]
    if failures:
        lake.deliver("rejected", failures, at=at)


def manifest(lake: LakeWorld) -> ServingManifest:
    found = ManifestStore(lake.storage, MODELS_BUCKET).current(MODEL, "production")
    assert found is not None
    return found


def evidence(lake: LakeWorld, rollout_id: str = "r-7") -> RolloutEvidence:
    body = lake.storage.get(EVENTS_BUCKET, layout.rollout_evidence_key(MODEL, rollout_id))
    assert body is not None
    return RolloutEvidence.model_validate_json(body.body)


def test_without_a_running_rollout_the_job_has_no_data(lake: LakeWorld) -> None:
    lake.publish("1")

    outcome = run_rollout(lake.context, MODEL, FIRST)

    assert outcome.status == "no_data" and "no running rollout" in (outcome.reason or "")
    assert lake.engine is not None and lake.engine.queries == []


def test_the_job_needs_a_query_engine(lake: LakeWorld) -> None:
    start_rollout(lake)
    context = lake.context
    context.sql = None
    with pytest.raises(NoQueryEngine):
        run_rollout(context, MODEL, FIRST)


def test_guardrails_holding_keep_the_share_and_store_the_window_once(lake: LakeWorld) -> None:
    start_rollout(lake)
    traffic(lake, FIRST, 400, seed=1)

    first = run_rollout(lake.context, MODEL, FIRST)
    again = run_rollout(lake.context, MODEL, FIRST)  # a rerun replaces its own window

    assert first.status == again.status == "ok" and not again.alert
    assert again.summary["action"] == "hold" and again.summary["share_after"] == 0.5
    stored = evidence(lake)
    assert list(stored.windows) == [FIRST.key]
    window = stored.windows[FIRST.key]
    assert window.variants["production"].requests == 200 and window.variants["candidate"].requests == 200
    assert stored.latest is not None and stored.latest.totals["candidate"].requests == 200  # not 400
    assert set(stored.tests) == {"error_rate", "latency_ms", "accuracy"}
    assert manifest(lake).rollout is not None and manifest(lake).rollout.share == 0.5  # type: ignore[union-attr]


def test_a_breach_rolls_the_candidate_back_and_alerts_on_the_bus(lake: LakeWorld) -> None:
    start_rollout(lake, guardrails=Guardrails(max_error_rate=0.05, min_requests=50))
    traffic(lake, FIRST, 400, seed=2, candidate_errors=40)

    result = run_job(lake.context, "rollout", MODEL, FIRST)

    assert result.status == "ok" and result.alert
    assert result.summary["action"] == "rollback" and result.summary["share_after"] == 0.0
    assert "error_rate" in result.summary["breached"]
    rollout = manifest(lake).rollout
    assert rollout is not None and rollout.state == "rolled_back" and rollout.share == 0.0
    assert rollout.history[-1].action == "rollback" and "error_rate" in rollout.history[-1].reason
    (event,) = lake.bus.events
    assert event[0] == "RolloutRolledBack" and event[1]["rollout_id"] == "r-7"
    assert result.details["window"]["variants"]["candidate"]["errors"] == 40


def test_a_stop_made_while_the_job_ran_wins(lake: LakeWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    start_rollout(lake, guardrails=Guardrails(max_error_rate=0.05, min_requests=50))
    traffic(lake, FIRST, 400, seed=3, candidate_errors=40)
    from modelwatch.jobs import rollout_job

    real = rollout_job._evaluate

    def evaluate_then_stop(*args: Any, **kwargs: Any) -> Any:
        found = real(*args, **kwargs)
        current = manifest(lake)
        assert current.rollout is not None
        stopped = current.rollout.with_transition("stop", "someone", "by hand", share=0.0, state="stopped")
        ManifestStore(lake.storage, MODELS_BUCKET).write(current.model_copy(update={"rollout": stopped}))
        return found

    monkeypatch.setattr(rollout_job, "_evaluate", evaluate_then_stop)

    outcome = run_rollout(lake.context, MODEL, FIRST)

    assert not outcome.alert and outcome.summary["action"] == "none"
    rollout = manifest(lake).rollout
    assert rollout is not None and rollout.state == "stopped" and rollout.history[-1].actor == "someone"


def test_a_canary_advances_after_its_step_and_windows_accumulate(lake: LakeWorld) -> None:
    steps = [CanaryStep(share=0.1, min_minutes=5, min_requests=100), CanaryStep(share=0.5)]
    start_rollout(lake, mode="canary", share=0.1, steps=steps)
    second = Window(FIRST.end, FIRST.end + FIVE)
    traffic(lake, FIRST, 120, seed=4)
    traffic(lake, second, 120, seed=5)

    held = run_rollout(lake.context, MODEL, FIRST)  # 60 candidate requests: not enough yet
    lake.now = second.end + timedelta(minutes=1)
    advanced = run_rollout(lake.context, MODEL, second)

    assert held.summary["action"] == "hold"
    assert advanced.summary["action"] == "advance" and advanced.summary["share_after"] == 0.5
    rollout = manifest(lake).rollout
    assert rollout is not None and rollout.step == 1 and rollout.share == 0.5
    assert list(evidence(lake).windows) == [FIRST.key, second.key]


def test_a_metric_expression_that_is_not_one_fails_the_job_saying_why(lake: LakeWorld) -> None:
    start_rollout(lake, metric=RolloutMetric(name="cost", builtin=None, expression="(SELECT 1)"))
    traffic(lake, FIRST, 10, seed=6)

    outcome = run_rollout(lake.context, MODEL, FIRST)

    assert outcome.status == "failed" and "not a query" in (outcome.reason or "")


def test_the_runner_uses_the_rollout_window_length(lake: LakeWorld) -> None:
    from modelwatch.jobs.requests import JobRequest
    from modelwatch.jobs.runner import window_of

    lake.now = WINDOW.start + timedelta(minutes=12)
    window = window_of(lake.context, "rollout", JobRequest(model=MODEL))

    assert window.end - window.start == timedelta(minutes=lake.settings.rollout_window_minutes) == FIVE
    assert window.end == WINDOW.start + timedelta(minutes=10)


def _series(lake: LakeWorld, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {tuple(sorted(dict(s.labels).items())): s.value for s in lake.sink.samples if s.name == name}


def test_the_run_pushes_per_variant_figures_guardrail_states_and_decisions(lake: LakeWorld) -> None:
    start_rollout(lake, guardrails=Guardrails(max_error_rate=0.05, min_requests=50))
    traffic(lake, FIRST, 400, seed=8, candidate_errors=40, candidate_latency=9.0)

    run_job(lake.context, "rollout", MODEL, FIRST)

    requests = _series(lake, "modelwatch_rollout_window_requests")
    assert requests == {
        (("model", MODEL), ("variant", "candidate"), ("version", "2")): 240.0,
        (("model", MODEL), ("variant", "production"), ("version", "1")): 200.0,
    }
    rates = _series(lake, "modelwatch_rollout_error_rate_ratio")
    assert rates[(("model", MODEL), ("variant", "candidate"), ("version", "2"))] == pytest.approx(40 / 240)
    p99 = _series(lake, "modelwatch_rollout_latency_seconds")
    candidate_p99 = p99[(("model", MODEL), ("quantile", "0.99"), ("variant", "candidate"), ("version", "2"))]
    production_p99 = p99[
        (("model", MODEL), ("quantile", "0.99"), ("variant", "production"), ("version", "1"))
    ]
    assert candidate_p99 > production_p99 > 0.004
    states = _series(lake, "modelwatch_rollout_guardrail_state")
    assert states[(("guardrail", "error_rate"), ("model", MODEL), ("version", "2"))] == 1.0
    assert states[(("guardrail", "accuracy_worse"), ("model", MODEL), ("version", "2"))] == -1.0
    decisions = _series(lake, "modelwatch_rollout_decision")
    assert set(dict(k)["test"] for k in decisions) == {"error_rate", "latency_ms", "accuracy"}
    assert _series(lake, "modelwatch_rollout_rolled_back") == {(("model", MODEL), ("version", "2")): 1.0}
    assert _series(lake, "modelwatch_rollout_share_ratio") == {(("model", MODEL), ("version", "2")): 0.0}
    samples = _series(lake, "modelwatch_rollout_test_samples")
    assert (
        samples[(("model", MODEL), ("test", "error_rate"), ("variant", "candidate"), ("version", "2"))] == 240
    )
    success = _series(lake, "modelwatch_job_last_run_success")
    assert success == {(("job", "rollout"), ("model", MODEL)): 1.0}


def test_a_stop_landing_between_the_jobs_read_and_its_write_wins(
    lake: LakeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The job's write is conditional on the ETag of its last read: a stop written after that read
    (here: just after the job re-reads the manifest to write its rollback) is kept."""
    start_rollout(lake, guardrails=Guardrails(max_error_rate=0.05, min_requests=50))
    traffic(lake, FIRST, 400, seed=3, candidate_errors=40)
    real_read = ManifestStore.read
    reads: list[str] = []

    def read_then_someone_stops(
        self: ManifestStore, model: str, alias: str, if_none_match: str | None = None
    ) -> Any:
        found = real_read(self, model, alias, if_none_match)
        reads.append(alias)
        if len(reads) == 2 and found is not None and found.manifest.rollout is not None:
            stopped = found.manifest.rollout.with_transition(
                "stop", "someone", "by hand", share=0.0, state="stopped"
            )
            ManifestStore(lake.storage, MODELS_BUCKET).write(
                found.manifest.model_copy(update={"rollout": stopped})
            )
        return found

    monkeypatch.setattr(ManifestStore, "read", read_then_someone_stops)

    outcome = run_rollout(lake.context, MODEL, FIRST)

    assert len(reads) == 2, "the job reads the manifest twice: to judge, and again to write"
    assert outcome.summary["action"] == "none" and not outcome.alert
    rollout = manifest(lake).rollout
    assert rollout is not None and rollout.state == "stopped" and rollout.history[-1].actor == "someone"
