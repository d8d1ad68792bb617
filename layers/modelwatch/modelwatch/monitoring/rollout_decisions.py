"""What a rollout's evidence decides: the guardrails' states, the always-valid tests, the next share.

:func:`evaluate_rollout` is pure: the rollout job reads the evidence and writes what this
returns. The rules, in order:

0. Serving could not load the candidate (``unavailable``): roll back at once, saying why.
1. Any guardrail breached: roll back (share 0, state ``rolled_back``), naming each breach.
2. A canary whose current step has lasted ``min_minutes`` and seen ``min_requests`` candidate
   requests, with no guardrail breached and the guardrails' own ``min_requests`` reached (a
   guardrail still waiting for samples has not held yet): advance to the next step's share.
3. Otherwise hold (a canary at its last step holds until someone promotes or stops it).

:func:`apply_evaluation` changes only a running rollout that is still where the evaluation found
it (same id, share and step): a rollout stopped, promoted or advanced in between is left alone.

Guardrails on rates and latency wait until the candidate has ``guardrails.min_requests``
requests since the rollout started; the labelled metric's guardrail fires only on an
always-valid "candidate worse" (:mod:`modelwatch.monitoring.rollout_stats`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from modelwatch.contracts.rollout import (
    VARIANTS,
    Agreement,
    GuardrailCheck,
    Moments,
    Rollout,
    RolloutEvaluation,
    SequentialTest,
    Variant,
    VariantTotals,
    WindowEvidence,
)
from modelwatch.monitoring.rollout_stats import compare_means

JOB_ACTOR = "modelwatch-rollout-job"


def _moments(windows: Sequence[WindowEvidence], variant: Variant, field: str) -> Moments:
    total = Moments()
    for window in windows:
        figures = window.variants.get(variant)
        if figures is not None:
            total = total + getattr(figures, field)
    return total


def _histogram(windows: Sequence[WindowEvidence], variant: Variant) -> list[int]:
    counts: list[int] = []
    for window in windows:
        figures = window.variants.get(variant)
        if figures is None or not figures.prediction_histogram:
            continue
        if not counts:
            counts = [0] * len(figures.prediction_histogram)
        if len(figures.prediction_histogram) == len(counts):
            counts = [a + b for a, b in zip(counts, figures.prediction_histogram, strict=True)]
    return counts


def prediction_psi(candidate: Sequence[int], production: Sequence[int]) -> float | None:
    """PSI of the candidate's prediction histogram against production's (None without both)."""
    from modelwatch.monitoring.drift.psi import population_stability_index

    n_c, n_p = sum(candidate), sum(production)
    if not n_c or not n_p or len(candidate) != len(production):
        return None
    return population_stability_index([c / n_p for c in production], [c / n_c for c in candidate])


def _totals(rollout: Rollout, windows: Sequence[WindowEvidence], variant: Variant) -> VariantTotals:
    version = rollout.candidate.version if variant == "candidate" else rollout.production_version
    requests = sum(w.variants[variant].requests for w in windows if variant in w.variants)
    errors = sum(w.variants[variant].errors for w in windows if variant in w.variants)
    metric = _moments(windows, variant, "metric_moments")
    latest = next((w.variants[variant] for w in reversed(windows) if variant in w.variants), None)
    return VariantTotals(
        version=version,
        requests=requests,
        errors=errors,
        error_rate=errors / requests if requests else None,
        latency_p99_ms=latest.latency_p99_ms if latest is not None else None,
        metric_mean=metric.mean,
        labelled=metric.n,
    )


def _agreement(windows: Sequence[WindowEvidence]) -> Agreement:
    total = Agreement()
    for window in windows:
        total = Agreement(
            pairs=total.pairs + window.agreement.pairs,
            identical=total.identical + window.agreement.identical,
            absolute_difference_sum=total.absolute_difference_sum + window.agreement.absolute_difference_sum,
        )
    return total


def sequential_tests(
    rollout: Rollout, windows: Sequence[WindowEvidence], previous: Mapping[str, SequentialTest] | None = None
) -> dict[str, SequentialTest]:
    """The always-valid comparisons on error rate, latency and the labelled metric, since the start."""
    previous = previous or {}
    quantities = {
        "error_rate": ("error_moments", False),
        "latency_ms": ("latency_moments", False),
        rollout.metric.name: ("metric_moments", rollout.metric.higher_is_better),
    }
    return {
        name: compare_means(
            name,
            _moments(windows, "candidate", field),
            _moments(windows, "production", field),
            higher_is_better=higher_is_better,
            alpha=rollout.alpha,
            previous=previous.get(name),
        )
        for name, (field, higher_is_better) in quantities.items()
    }


def check_guardrails(
    rollout: Rollout,
    windows: Sequence[WindowEvidence],
    totals: Mapping[Variant, VariantTotals],
    tests: Mapping[str, SequentialTest],
    drift: float | None,
) -> list[GuardrailCheck]:
    """Each declared guardrail's state against the evidence since the rollout started."""
    rails = rollout.guardrails
    candidate = totals["candidate"]
    production = totals["production"]
    enough = candidate.requests >= rails.min_requests
    waiting = f"{candidate.requests} of {rails.min_requests} candidate requests"
    checks: list[GuardrailCheck] = []

    def limit_check(name: str, value: float | None, limit: float, unit: str) -> GuardrailCheck:
        if not enough or value is None:
            return GuardrailCheck(name=name, state="waiting", value=value, limit=limit, detail=waiting)
        state = "breached" if value > limit else "ok"
        return GuardrailCheck(
            name=name,
            state=state,
            value=value,
            limit=limit,
            detail=f"{value:.4g} {unit} against at most {limit:.4g}",
        )

    if rails.max_error_rate is not None:
        checks.append(
            limit_check("error_rate", candidate.error_rate, rails.max_error_rate, "errors per request")
        )
    if rails.max_p99_latency_ms is not None:
        checks.append(limit_check("p99_latency_ms", candidate.latency_p99_ms, rails.max_p99_latency_ms, "ms"))
    if rails.max_latency_ratio is not None:
        ratio = (
            candidate.latency_p99_ms / production.latency_p99_ms
            if candidate.latency_p99_ms is not None and production.latency_p99_ms
            else None
        )
        checks.append(limit_check("latency_ratio", ratio, rails.max_latency_ratio, "x production's p99"))
    if rails.max_prediction_drift is not None:
        checks.append(limit_check("prediction_drift", drift, rails.max_prediction_drift, "PSI"))
    if rails.metric_worse:
        test = tests.get(rollout.metric.name)
        if test is None or test.estimate is None:
            checks.append(
                GuardrailCheck(name=f"{rollout.metric.name}_worse", state="waiting", detail="no labels yet")
            )
        else:
            worse = test.decision == "candidate worse"
            checks.append(
                GuardrailCheck(
                    name=f"{rollout.metric.name}_worse",
                    state="breached" if worse else "ok",
                    value=test.estimate,
                    limit=0.0,
                    detail=(
                        f"difference {test.estimate:+.4g}, always-valid interval "
                        f"[{test.low if test.low is not None else float('nan'):.4g}, "
                        f"{test.high if test.high is not None else float('nan'):.4g}] over "
                        f"{test.n_candidate} and {test.n_production} labelled instances"
                    ),
                )
            )
    return checks


def _step_requests(windows: Sequence[WindowEvidence], since: datetime) -> int:
    return sum(
        w.variants["candidate"].requests
        for w in windows
        if w.window_start >= since and "candidate" in w.variants
    )


def evaluate_rollout(
    rollout: Rollout,
    windows: Sequence[WindowEvidence],
    now: datetime,
    previous_tests: Mapping[str, SequentialTest] | None = None,
) -> RolloutEvaluation:
    """Judge ``rollout`` on ``windows`` (every window of evidence since it started, oldest first)."""
    totals: dict[Variant, VariantTotals] = {
        variant: _totals(rollout, windows, variant) for variant in VARIANTS
    }
    tests = sequential_tests(rollout, windows, previous_tests)
    drift = prediction_psi(_histogram(windows, "candidate"), _histogram(windows, "production"))
    checks = check_guardrails(rollout, windows, totals, tests, drift)
    evaluation = RolloutEvaluation(
        rollout_id=rollout.id,
        mode=rollout.mode,
        candidate_version=rollout.candidate.version,
        production_version=rollout.production_version,
        action="none",
        share_before=rollout.share,
        share_after=rollout.share,
        state_after=rollout.state,
        step=rollout.step if rollout.mode == "canary" else None,
        totals=totals,
        tests=tests,
        guardrails=checks,
        prediction_drift=drift,
        agreement=_agreement(windows),
        windows=len(windows),
    )
    if rollout.state != "running":
        evaluation.reason = f"the rollout is {rollout.state}"
        return evaluation
    unloadable = [w.variants["candidate"] for w in windows if "candidate" in w.variants]
    unloadable = [figures for figures in unloadable if figures.unavailable]
    if unloadable:  # no sample size to wait for: serving could not load the candidate at all
        evaluation.action = "rollback"
        evaluation.share_after = 0.0
        evaluation.state_after = "rolled_back"
        evaluation.reason = (
            f"the candidate could not be loaded ({sum(f.unavailable for f in unloadable)} requests answered "
            f"by production): {unloadable[-1].unavailable_reason or 'no reason given'}"
        )
        return evaluation
    breached = evaluation.breached
    if breached:
        evaluation.action = "rollback"
        evaluation.share_after = 0.0
        evaluation.state_after = "rolled_back"
        evaluation.reason = "guardrail breached: " + "; ".join(f"{c.name} ({c.detail})" for c in breached)
        return evaluation
    evaluation.action = "hold"
    if rollout.mode != "canary":
        evaluation.reason = "guardrails hold"
        return evaluation
    step = rollout.steps[rollout.step]
    if rollout.step + 1 >= len(rollout.steps):
        evaluation.reason = f"at the last step ({step.share:.0%}): promote or stop the rollout"
        return evaluation
    elapsed = now - rollout.step_started_at
    requests = _step_requests(windows, rollout.step_started_at)
    since_start = totals["candidate"].requests
    if since_start < rollout.guardrails.min_requests:
        evaluation.reason = (
            f"step {rollout.step + 1} of {len(rollout.steps)} ({step.share:.0%}): the guardrails wait for "
            f"{rollout.guardrails.min_requests} candidate requests ({since_start} so far)"
        )
        return evaluation
    if elapsed < timedelta(minutes=step.min_minutes) or requests < step.min_requests:
        evaluation.reason = (
            f"step {rollout.step + 1} of {len(rollout.steps)} ({step.share:.0%}): "
            f"{elapsed.total_seconds() / 60:.1f} of {step.min_minutes:g} minutes, "
            f"{requests} of {step.min_requests} candidate requests"
        )
        return evaluation
    following = rollout.steps[rollout.step + 1]
    evaluation.action = "advance"
    evaluation.share_after = following.share
    evaluation.step = rollout.step + 1
    evaluation.reason = (
        f"step {rollout.step + 1} held for {elapsed.total_seconds() / 60:.1f} minutes and {requests} "
        f"candidate requests with every guardrail holding: {step.share:.0%} -> {following.share:.0%}"
    )
    return evaluation


def apply_evaluation(rollout: Rollout, evaluation: RolloutEvaluation, now: datetime) -> Rollout | None:
    """The rollout after ``evaluation`` (None when nothing changes), its transition recorded.

    None too when the rollout is no longer where the evaluation found it: not running, another
    rollout, or its share or step changed since (stopped, promoted or advanced in between).
    """
    if (
        rollout.state != "running"
        or rollout.id != evaluation.rollout_id
        or rollout.share != evaluation.share_before
    ):
        return None
    if evaluation.action == "rollback":
        return rollout.with_transition(
            "rollback", JOB_ACTOR, evaluation.reason, share=0.0, state="rolled_back"
        )
    if evaluation.action == "advance" and evaluation.step == rollout.step + 1:
        return rollout.with_transition(
            "advance",
            JOB_ACTOR,
            evaluation.reason,
            share=evaluation.share_after,
            step=evaluation.step,
            step_started_at=now,
        )
    return None
