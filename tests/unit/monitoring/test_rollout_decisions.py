"""Guardrails, rollback and canary advancement, judged on evidence built from seeded simulations.

The evidence is what the rollout job hands ``evaluate_rollout``: one ``WindowEvidence`` per window
since the rollout started, built here by hand from simulated requests (errors, latencies,
predictions and labels per variant), so every figure the guardrails read comes from data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from modelwatch.contracts.rollout import (
    CanaryStep,
    Guardrails,
    Moments,
    Rollout,
    RolloutCandidate,
    RolloutEvaluation,
    VariantWindow,
    WindowEvidence,
)
from modelwatch.contracts.schema import FeatureSpec, FeatureType, InputSchema
from modelwatch.monitoring.rollout_decisions import JOB_ACTOR, apply_evaluation, evaluate_rollout

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=5)
EDGES = np.linspace(0.0, 1.0, 11)
NO_GUARDRAILS: dict[str, Any] = {
    "max_error_rate": None,
    "max_p99_latency_ms": None,
    "max_latency_ratio": None,
    "max_prediction_drift": None,
    "metric_worse": False,
}


@dataclass(frozen=True)
class Behaviour:
    """How a variant behaves on simulated traffic."""

    error_rate: float = 0.01
    latency_mu: float = 3.0  # log-milliseconds: median 20 ms
    latency_sigma: float = 0.5
    prediction_a: float = 2.0  # predictions ~ Beta(a, b)
    prediction_b: float = 5.0
    accuracy: float = 0.9
    labelled_share: float = 0.5


GOOD = Behaviour()


def variant_window(
    rng: np.random.Generator, variant: Any, version: str, requests: int, behaviour: Behaviour
) -> VariantWindow:
    failed = rng.random(requests) < behaviour.error_rate
    latency = rng.lognormal(behaviour.latency_mu, behaviour.latency_sigma, requests)
    predictions = rng.beta(behaviour.prediction_a, behaviour.prediction_b, requests)
    labelled = int(requests * behaviour.labelled_share)
    correct = (rng.random(labelled) < behaviour.accuracy).astype(np.float64)
    errors = int(failed.sum())
    return VariantWindow(
        variant=variant,
        version=version,
        requests=requests,
        errors=errors,
        instances=requests,
        latency_p50_ms=float(np.quantile(latency, 0.5)) if requests else None,
        latency_p95_ms=float(np.quantile(latency, 0.95)) if requests else None,
        latency_p99_ms=float(np.quantile(latency, 0.99)) if requests else None,
        error_moments=Moments(n=requests, total=float(errors), total_sq=float(errors)),
        latency_moments=Moments(n=requests, total=float(latency.sum()), total_sq=float((latency**2).sum())),
        metric_moments=Moments(n=labelled, total=float(correct.sum()), total_sq=float(correct.sum())),
        prediction_histogram=[int(c) for c in np.histogram(predictions, EDGES)[0]],
    )


def evidence(
    seed: int,
    windows: int,
    per_window: int = 400,
    share: float = 0.5,
    candidate: Behaviour = GOOD,
    production: Behaviour = GOOD,
    start: datetime = T0,
) -> list[WindowEvidence]:
    """``windows`` consecutive 5-minute windows, ``share`` of ``per_window`` requests to the candidate."""
    rng = np.random.default_rng(seed)
    n_c = round(per_window * share)
    result = []
    for i in range(windows):
        begin = start + i * WINDOW
        result.append(
            WindowEvidence(
                window_start=begin,
                window_end=begin + WINDOW,
                share=share,
                variants={
                    "candidate": variant_window(rng, "candidate", "2", n_c, candidate),
                    "production": variant_window(rng, "production", "1", per_window - n_c, production),
                },
                histogram_edges=EDGES.tolist(),
            )
        )
    return result


def make_rollout(mode: Any = "ab", share: float = 0.5, **update: Any) -> Rollout:
    fields: dict[str, Any] = {
        "id": "fraud-2-vs-1",
        "mode": mode,
        "candidate": RolloutCandidate(
            version="2",
            flavor="sklearn",
            artifact_uri="s3://artifacts/fraud/2/model.joblib",
            input_schema=InputSchema(features=[FeatureSpec(name="amount", type=FeatureType.NUMBER)]),
            prediction_type="probability",
        ),
        "production_version": "1",
        "share": share,
        "started_at": T0,
        "step_started_at": T0,
        **update,
    }
    return Rollout.model_validate(fields)


def canary(step: int = 0, step_started_at: datetime = T0, **update: Any) -> Rollout:
    steps = [CanaryStep(share=s, min_minutes=10, min_requests=200) for s in (0.05, 0.25, 0.5, 1.0)]
    return make_rollout(
        "canary", share=steps[step].share, steps=steps, step=step, step_started_at=step_started_at, **update
    )


def only(**rails: Any) -> Guardrails:
    """The guardrails with only ``rails`` watched."""
    return Guardrails(**{**NO_GUARDRAILS, "min_requests": 100, **rails})


def check(evaluation: RolloutEvaluation, name: str) -> Any:
    [found] = [c for c in evaluation.guardrails if c.name == name]
    return found


# ----------------------------------------------------------------------------------- guardrails

SLOW = Behaviour(latency_mu=4.5)  # median 90 ms: p99 about 290 ms against production's 65 ms
SHIFTED = Behaviour(prediction_a=5.0, prediction_b=2.0)  # predictions mirrored: PSI well above 1
WRONG = Behaviour(accuracy=0.7)


@pytest.mark.parametrize(
    ("name", "rails", "bad"),
    [
        ("error_rate", {"max_error_rate": 0.05}, Behaviour(error_rate=0.12)),
        ("p99_latency_ms", {"max_p99_latency_ms": 150.0}, SLOW),
        ("latency_ratio", {"max_latency_ratio": 2.0}, SLOW),
        ("prediction_drift", {"max_prediction_drift": 0.25}, SHIFTED),
    ],
)
def test_limit_guardrails_ok_breached_and_waiting(name: str, rails: dict[str, Any], bad: Behaviour) -> None:
    rollout = make_rollout(guardrails=only(**rails))
    now = T0 + timedelta(hours=1)

    healthy = evaluate_rollout(rollout, evidence(1, windows=3), now)
    assert check(healthy, name).state == "ok"
    assert healthy.action == "hold" and healthy.share_after == 0.5

    broken = evaluate_rollout(rollout, evidence(2, windows=3, candidate=bad), now)
    breach = check(broken, name)
    assert breach.state == "breached"
    assert breach.value is not None and breach.limit is not None and breach.value > breach.limit
    assert broken.action == "rollback"

    # 2 windows of 40 candidate requests: below the guardrails' 100, however bad the candidate
    early = evaluate_rollout(rollout, evidence(3, windows=2, per_window=80, candidate=bad), now)
    assert check(early, name).state == "waiting"
    assert "80 of 100 candidate requests" in check(early, name).detail
    assert early.action == "hold"


def test_metric_guardrail_ok_breached_and_waiting() -> None:
    """The labelled metric breaches only on an always-valid "candidate worse"."""
    rollout = make_rollout(guardrails=only(metric_worse=True))
    now = T0 + timedelta(hours=1)

    same = evaluate_rollout(rollout, evidence(4, windows=6), now)
    assert check(same, "accuracy_worse").state == "ok"
    assert same.tests["accuracy"].decision == "no difference yet"

    worse = evaluate_rollout(rollout, evidence(5, windows=6, candidate=WRONG), now)
    assert check(worse, "accuracy_worse").state == "breached"
    assert worse.tests["accuracy"].decision == "candidate worse"
    assert worse.action == "rollback" and "accuracy_worse" in worse.reason

    better = evaluate_rollout(rollout, evidence(6, windows=6, production=WRONG), now)
    assert check(better, "accuracy_worse").state == "ok"
    assert better.tests["accuracy"].decision == "candidate better"

    unlabelled = Behaviour(labelled_share=0.0)
    waiting = evaluate_rollout(
        rollout, evidence(7, windows=6, candidate=unlabelled, production=unlabelled), now
    )
    assert check(waiting, "accuracy_worse").state == "waiting"
    assert waiting.action == "hold"


def test_a_lower_is_better_metric_breaches_when_it_rises() -> None:
    """A cost (lower is better) as the rollout's metric: the candidate's higher mean is worse."""
    rollout = make_rollout(
        guardrails=only(metric_worse=True),
        metric={"name": "cost", "builtin": None, "expression": "label", "higher_is_better": False},
    )
    # metric_moments carry a per-instance 0/1 "accuracy" draw: read here as a cost of 1
    worse = evaluate_rollout(rollout, evidence(8, windows=6, production=WRONG), T0 + timedelta(hours=1))
    assert worse.tests["cost"].decision == "candidate worse"
    assert check(worse, "cost_worse").state == "breached"


# ------------------------------------------------------------------------------------- rollback


def test_rollback_sets_share_zero_and_names_each_breach() -> None:
    rollout = make_rollout(
        guardrails=only(max_error_rate=0.05, max_p99_latency_ms=150.0, max_latency_ratio=2.0)
    )
    bad = Behaviour(error_rate=0.15, latency_mu=4.5)
    evaluation = evaluate_rollout(rollout, evidence(9, windows=3, candidate=bad), T0 + timedelta(minutes=15))
    assert (evaluation.action, evaluation.share_after, evaluation.state_after) == (
        "rollback",
        0.0,
        "rolled_back",
    )
    assert {c.name for c in evaluation.breached} == {"error_rate", "p99_latency_ms", "latency_ratio"}
    for name in ("error_rate", "p99_latency_ms", "latency_ratio"):
        assert name in evaluation.reason

    now = T0 + timedelta(minutes=16)
    after = apply_evaluation(rollout, evaluation, now)
    assert after is not None
    assert (after.share, after.state, after.reason) == (0.0, "rolled_back", evaluation.reason)
    assert not after.active
    [transition] = after.history
    assert (transition.action, transition.actor) == ("rollback", JOB_ACTOR)
    assert (transition.from_share, transition.to_share, transition.reason) == (0.5, 0.0, evaluation.reason)


def test_an_unloadable_candidate_rolls_back_at_once() -> None:
    """No sample size to wait for: 3 requests routed to a candidate serving could not load."""
    windows = evidence(10, windows=1, per_window=10)
    windows[0].variants["candidate"] = (
        windows[0]
        .variants["candidate"]
        .model_copy(
            update={"requests": 0, "unavailable": 3, "unavailable_reason": "ModuleNotFoundError: xgboost"}
        )
    )
    rollout = canary()
    evaluation = evaluate_rollout(rollout, windows, T0 + timedelta(minutes=5))
    assert (evaluation.action, evaluation.share_after, evaluation.state_after) == (
        "rollback",
        0.0,
        "rolled_back",
    )
    assert "could not be loaded" in evaluation.reason and "xgboost" in evaluation.reason
    after = apply_evaluation(rollout, evaluation, T0 + timedelta(minutes=5))
    assert after is not None and after.state == "rolled_back" and after.share == 0.0


# --------------------------------------------------------------------------------------- canary


def test_canary_waits_for_its_minutes() -> None:
    windows = evidence(11, windows=1, per_window=6000, share=0.05)  # 300 candidate requests
    evaluation = evaluate_rollout(canary(), windows, T0 + timedelta(minutes=9))
    assert (evaluation.action, evaluation.share_after, evaluation.step) == ("hold", 0.05, 0)
    assert "9.0 of 10 minutes" in evaluation.reason
    assert apply_evaluation(canary(), evaluation, T0 + timedelta(minutes=9)) is None


def test_canary_waits_for_its_requests() -> None:
    windows = evidence(12, windows=3, per_window=1200, share=0.05)  # 3 x 60 = 180 of 200
    evaluation = evaluate_rollout(canary(), windows, T0 + timedelta(minutes=30))
    assert (evaluation.action, evaluation.share_after) == ("hold", 0.05)
    assert "180 of 200 candidate requests" in evaluation.reason


def test_canary_advances_after_both_and_records_the_transition() -> None:
    windows = evidence(13, windows=3, per_window=1600, share=0.05)  # 3 x 80 = 240
    rollout = canary()
    now = T0 + timedelta(minutes=15)
    evaluation = evaluate_rollout(rollout, windows, now)
    assert (evaluation.action, evaluation.share_after, evaluation.step) == ("advance", 0.25, 1)
    after = apply_evaluation(rollout, evaluation, now)
    assert after is not None
    assert (after.share, after.step, after.step_started_at, after.state) == (0.25, 1, now, "running")
    [transition] = after.history
    assert (transition.action, transition.actor, transition.from_share, transition.to_share) == (
        "advance",
        JOB_ACTOR,
        0.05,
        0.25,
    )
    assert transition.reason == evaluation.reason and "5% -> 25%" in transition.reason


def test_canary_counts_only_its_current_step_requests() -> None:
    """Requests from before the step started do not count towards it."""
    step_start = T0 + timedelta(minutes=15)
    before = evidence(14, windows=3, per_window=1600, share=0.05)  # 240 requests at step 0
    during = evidence(15, windows=3, per_window=200, share=0.25, start=step_start)  # 3 x 50 = 150
    rollout = canary(step=1, step_started_at=step_start)
    evaluation = evaluate_rollout(rollout, before + during, step_start + timedelta(minutes=20))
    assert evaluation.action == "hold"
    assert "150 of 200 candidate requests" in evaluation.reason


def test_canary_holds_while_its_guardrails_wait() -> None:
    """A step with low requirements does not advance before the guardrails have judged anything."""
    steps = [CanaryStep(share=s, min_minutes=1, min_requests=10) for s in (0.05, 0.5)]
    rollout = make_rollout("canary", share=0.05, steps=steps, guardrails=Guardrails(min_requests=100))
    windows = evidence(16, windows=2, per_window=600, share=0.05)  # 60 candidate requests
    evaluation = evaluate_rollout(rollout, windows, T0 + timedelta(minutes=30))
    assert evaluation.action == "hold" and evaluation.share_after == 0.05
    assert "wait for 100 candidate requests (60 so far)" in evaluation.reason
    assert [c.state for c in evaluation.guardrails if c.name != "accuracy_worse"] == ["waiting"] * 3


def test_canary_never_passes_its_last_step() -> None:
    rollout = canary(step=3)
    windows = evidence(17, windows=6, per_window=400, share=1.0)
    evaluation = evaluate_rollout(rollout, windows, T0 + timedelta(hours=5))
    assert (evaluation.action, evaluation.share_after, evaluation.step) == ("hold", 1.0, 3)
    assert "last step" in evaluation.reason
    assert apply_evaluation(rollout, evaluation, T0 + timedelta(hours=5)) is None


def test_a_simulated_canary_climbs_its_steps_or_is_rolled_back() -> None:
    """The job's loop: a window every 5 minutes, an evaluation after each, the manifest updated.

    A healthy candidate climbs 5% -> 25% -> 50% -> 100% and holds there; one failing 12% of its
    requests is rolled back at the first evaluation with 100 candidate requests and stays there.
    """
    for behaviour, seed in ((GOOD, 18), (Behaviour(error_rate=0.12), 19)):
        rng_seed = seed
        rollout = canary()
        windows: list[WindowEvidence] = []
        shares = [rollout.share]
        for i in range(40):
            start = T0 + i * WINDOW
            windows += evidence(
                rng_seed + 100 * i,
                windows=1,
                per_window=1000,
                share=rollout.share,
                candidate=behaviour,
                start=start,
            )
            evaluation = evaluate_rollout(rollout, windows, start + WINDOW)
            rollout = apply_evaluation(rollout, evaluation, start + WINDOW) or rollout
            shares.append(rollout.share)
        if behaviour is GOOD:
            assert rollout.state == "running" and rollout.step == 3
            assert sorted(set(shares)) == [0.05, 0.25, 0.5, 1.0]
            assert shares == sorted(shares)  # never down
            assert [t.action for t in rollout.history] == ["advance"] * 3
            for transition in rollout.history:
                assert transition.actor == JOB_ACTOR
        else:
            assert rollout.state == "rolled_back" and rollout.share == 0.0
            assert [t.action for t in rollout.history] == ["rollback"]
            # 50 candidate requests a window: judged (and rolled back) after the second window
            assert shares[:2] == [0.05, 0.05] and shares.index(0.0) == 2 and shares[-1] == 0.0


# ------------------------------------------------------------------------- who and what may change


@pytest.mark.parametrize("state", ["rolled_back", "stopped", "promoted"])
def test_a_rollout_that_is_not_running_is_never_changed(state: str) -> None:
    rollout = canary(state=state)
    bad = evidence(20, windows=4, per_window=4000, share=0.05, candidate=Behaviour(error_rate=0.5))
    evaluation = evaluate_rollout(rollout, bad, T0 + timedelta(hours=1))
    assert (evaluation.action, evaluation.share_after, evaluation.state_after) == ("none", 0.05, state)
    assert apply_evaluation(rollout, evaluation, T0 + timedelta(hours=1)) is None


def test_an_evaluation_made_before_the_rollout_changed_is_not_applied() -> None:
    """Stopped, promoted or advanced between the evaluation and its application: left alone."""
    rollout = make_rollout(guardrails=only(max_error_rate=0.05))
    evaluation = evaluate_rollout(
        rollout, evidence(21, windows=3, candidate=Behaviour(error_rate=0.2)), T0 + timedelta(minutes=15)
    )
    assert evaluation.action == "rollback"
    stopped = rollout.with_transition("stop", "someone", "enough", state="stopped")
    assert apply_evaluation(stopped, evaluation, T0 + timedelta(minutes=16)) is None
    other = make_rollout(id="another-rollout")
    assert apply_evaluation(other, evaluation, T0 + timedelta(minutes=16)) is None

    climbing = canary()
    advance = evaluate_rollout(
        climbing, evidence(22, windows=3, per_window=1600, share=0.05), T0 + timedelta(minutes=15)
    )
    assert advance.action == "advance"
    moved = climbing.with_transition("advance", "someone", "by hand", share=0.25, step=1)
    assert apply_evaluation(moved, advance, T0 + timedelta(minutes=16)) is None


@pytest.mark.parametrize("mode", ["shadow", "ab"])
def test_shadow_and_ab_never_advance(mode: str) -> None:
    rollout = make_rollout(mode, share=0.5)
    evaluation = evaluate_rollout(rollout, evidence(23, windows=12, per_window=2000), T0 + timedelta(days=1))
    assert (evaluation.action, evaluation.share_after, evaluation.step) == ("hold", 0.5, None)
    assert apply_evaluation(rollout, evaluation, T0 + timedelta(days=1)) is None


def test_a_shadow_rollout_is_rolled_back_on_a_breach() -> None:
    rollout = make_rollout("shadow", share=1.0, guardrails=only(max_prediction_drift=0.25))
    evaluation = evaluate_rollout(
        rollout, evidence(24, windows=3, candidate=SHIFTED), T0 + timedelta(minutes=15)
    )
    assert evaluation.action == "rollback" and evaluation.prediction_drift is not None
    after = apply_evaluation(rollout, evaluation, T0 + timedelta(minutes=15))
    assert after is not None and (after.share, after.state) == (0.0, "rolled_back")
