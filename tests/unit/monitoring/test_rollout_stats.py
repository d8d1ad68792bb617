"""The always-valid (mSPRT) comparison of a rollout's variants, by seeded simulation.

Every simulation runs ``compare_means`` itself, look after look, on moments accumulated the way
the rollout job accumulates them (count, sum, sum of squares per variant since the start), each
look passing the previous look's result. The data are drawn with numpy, vectorised over the
replications; only the comparison runs once per replication and look.

Figures observed with the seeds below (``REPS`` = 1,000 replications of ``LOOKS`` = 30 looks,
200 requests per variant and look unless said otherwise) are in each test's docstring; the
Monte-Carlo standard error of a rate ``p`` over 1,000 replications is ``sqrt(p (1 - p) / 1000)``
(0.0069 at 0.05, 0.0031 at 0.01).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest

from modelwatch.contracts.rollout import Decision, Moments, SequentialTest
from modelwatch.monitoring.rollout_stats import (
    DEFAULT_EFFECT_SIZE,
    always_valid_interval,
    compare_means,
    decide,
    likelihood_ratio,
    naive_z_rejects,
)

REPS = 1000
LOOKS = 30
PER_LOOK = 200
NO_DECISION: Decision = "no difference yet"

# (rng, replications, n) -> (sum, sum of squares) of n draws per replication
Sampler = Callable[[np.random.Generator, int, int], tuple[np.ndarray, np.ndarray]]


def bernoulli(p: float) -> Sampler:
    """Per-request failures (1) and successes (0): an error rate, or an accuracy."""

    def draw(rng: np.random.Generator, reps: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        k = rng.binomial(n, p, size=reps).astype(np.float64)
        return k, k

    return draw


def normal(mean: float, sd: float) -> Sampler:
    def draw(rng: np.random.Generator, reps: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        x = rng.normal(mean, sd, size=(reps, n))
        return x.sum(axis=1), (x * x).sum(axis=1)

    return draw


def lognormal(mu: float, sigma: float) -> Sampler:
    """Heavy-tailed latencies (sigma 1: skewness 6.2, kurtosis 111)."""

    def draw(rng: np.random.Generator, reps: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        x = rng.lognormal(mu, sigma, size=(reps, n))
        return x.sum(axis=1), (x * x).sum(axis=1)

    return draw


@dataclass
class Run:
    """What a simulation saw, per replication, for each level (alpha) it was read at."""

    rejected: dict[float, np.ndarray] = field(default_factory=dict)  # any look decided
    first: dict[float, list[Decision]] = field(default_factory=dict)  # the first decision taken
    final: dict[float, list[Decision]] = field(default_factory=dict)  # the decision at the last look
    covered: dict[float, np.ndarray] = field(default_factory=dict)  # truth in the interval at every look
    nested: dict[float, np.ndarray] = field(default_factory=dict)  # every interval inside the one before
    naive: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # z-test at any look

    def rate(self, alpha: float) -> float:
        return float(self.rejected[alpha].mean())

    def share(self, alpha: float, decision: Decision, which: str = "final") -> float:
        decisions = self.final[alpha] if which == "final" else self.first[alpha]
        return sum(d == decision for d in decisions) / len(decisions)


def simulate(
    candidate: Sampler,
    production: Sampler,
    *,
    true_difference: float,
    seed: int,
    per_look: Callable[[int], tuple[int, int]] = lambda look: (PER_LOOK, PER_LOOK),
    higher_is_better: bool = False,
    alphas: tuple[float, ...] = (0.05, 0.01),
    reps: int = REPS,
    looks: int = LOOKS,
    alpha_at: Callable[[int, float], float] | None = None,
    effect_at: Callable[[int], float] | None = None,
) -> Run:
    """Run ``compare_means`` at every look of ``reps`` seeded rollouts.

    ``per_look(look)`` gives the candidate's and production's requests in that look;
    ``alpha_at``/``effect_at`` re-configure the rollout at some look (the level read at each
    look for the nominal level ``alpha``, and the effect size): see the re-configuration tests.
    """
    rng = np.random.default_rng(seed)
    sums = np.zeros((2, 3, reps))  # variant x (n, total, total_sq) x replication
    run = Run(naive=np.zeros(reps, dtype=bool))
    previous: dict[float, list[SequentialTest | None]] = {a: [None] * reps for a in alphas}
    for alpha in alphas:
        run.rejected[alpha] = np.zeros(reps, dtype=bool)
        run.first[alpha] = [NO_DECISION] * reps
        run.final[alpha] = [NO_DECISION] * reps
        run.covered[alpha] = np.ones(reps, dtype=bool)
        run.nested[alpha] = np.ones(reps, dtype=bool)
    for look in range(looks):
        for index, (sampler, n) in enumerate(zip((candidate, production), per_look(look), strict=True)):
            total, total_sq = sampler(rng, reps, n)
            sums[index, 0] += n
            sums[index, 1] += total
            sums[index, 2] += total_sq
        for r in range(reps):
            c = Moments(n=int(sums[0, 0, r]), total=float(sums[0, 1, r]), total_sq=float(sums[0, 2, r]))
            p = Moments(n=int(sums[1, 0, r]), total=float(sums[1, 1, r]), total_sq=float(sums[1, 2, r]))
            run.naive[r] |= naive_z_rejects(c, p)
            for alpha in alphas:
                before = previous[alpha][r]
                test = compare_means(
                    "q",
                    c,
                    p,
                    higher_is_better=higher_is_better,
                    alpha=alpha_at(look, alpha) if alpha_at else alpha,
                    effect_size=effect_at(look) if effect_at else DEFAULT_EFFECT_SIZE,
                    previous=before,
                )
                previous[alpha][r] = test
                if test.decision != NO_DECISION and not run.rejected[alpha][r]:
                    run.rejected[alpha][r] = True
                    run.first[alpha][r] = test.decision
                run.final[alpha][r] = test.decision
                if test.low is not None and test.high is not None:
                    if not test.low <= true_difference <= test.high:
                        run.covered[alpha][r] = False
                    earlier = (before.low, before.high) if before is not None else (None, None)
                    if (
                        earlier[0] is not None
                        and earlier[1] is not None
                        and not (earlier[0] <= test.low and test.high <= earlier[1])
                    ):
                        run.nested[alpha][r] = False
    return run


# ------------------------------------------------------------------------------------------ A/A


def test_aa_error_rate_keeps_its_level_while_the_naive_test_does_not() -> None:
    """A/A, error rate 0.05 then 0.20, 30 looks of 200 requests per variant.

    Observed: mSPRT any-look false positives 0.010 (p = 0.05) and 0.013 (p = 0.20) at alpha
    0.05, 0.003 and 0.001 at alpha 0.01 (Monte-Carlo margin, 3 standard errors: 0.010 +- 0.009,
    0.013 +- 0.011, 0.003 +- 0.005); the 5% z-test repeated at every look on the same data:
    0.284 and 0.283.
    """
    for p, seed in ((0.05, 11), (0.20, 12)):
        run = simulate(bernoulli(p), bernoulli(p), true_difference=0.0, seed=seed)
        assert run.rate(0.05) <= 0.05, p
        assert run.rate(0.01) <= 0.01, p
        assert run.naive.mean() > 0.15, p
        assert run.rate(0.01) <= run.rate(0.05)


def test_aa_gaussian_latency_keeps_its_level() -> None:
    """A/A, latency N(50 ms, 10 ms). Observed: 0.019 (alpha 0.05), 0.006 (0.01); naive 0.270."""
    run = simulate(normal(50.0, 10.0), normal(50.0, 10.0), true_difference=0.0, seed=21)
    assert run.rate(0.05) <= 0.05
    assert run.rate(0.01) <= 0.01
    assert run.naive.mean() > 0.15


def test_aa_heavy_tailed_latency_keeps_its_level() -> None:
    """A/A, lognormal latency (mu 3, sigma 1: mean 33 ms, sd 43 ms, kurtosis 111).

    Observed: 0.007 (alpha 0.05), 0.002 (0.01); naive 0.280.
    """
    run = simulate(lognormal(3.0, 1.0), lognormal(3.0, 1.0), true_difference=0.0, seed=31)
    assert run.rate(0.05) <= 0.05
    assert run.rate(0.01) <= 0.01
    assert run.naive.mean() > 0.15


def canary_share(look: int) -> tuple[int, int]:
    """400 requests a look, 5% of them to the candidate (20 against 380)."""
    return 20, 380


@pytest.mark.parametrize(
    ("name", "sampler", "seed"),
    [
        ("error rate 0.05", bernoulli(0.05), 41),
        ("lognormal latency", lognormal(3.0, 1.0), 42),
        ("heavier lognormal latency", lognormal(3.0, 1.5), 43),
    ],
)
def test_aa_unequal_allocation_keeps_its_level(name: str, sampler: Sampler, seed: int) -> None:
    """A canary's 5% against 95%: the small variant's plug-in variance must not shrink the interval.

    With each variant's own sample variance (Welch's plug-in), this failed: a candidate with no
    error in its first 20 requests (36% of them at p = 0.05) has variance 0, and the interval
    is then production's alone: 0.369 false positives at alpha 0.05 (error rate), 0.093 and 0.221
    (lognormal sigma 1 and 1.5, whose small samples mostly miss the tail). With the variance
    floored at the pooled one (rollout_stats' docstring), observed: 0.004, 0.001 and 0.000 at
    alpha 0.05, 0.000 at 0.01; naive 0.488, 0.362 and 0.492.
    """
    run = simulate(sampler, sampler, true_difference=0.0, seed=seed, per_look=canary_share)
    assert run.rate(0.05) <= 0.05, name
    assert run.rate(0.01) <= 0.01, name
    assert run.naive.mean() > 0.15, name


def canary_steps(look: int) -> tuple[int, int]:
    """A canary climbing 5% -> 25% -> 50% of 400 requests a look, 10 looks per step."""
    share = (0.05, 0.25, 0.5)[min(look // 10, 2)]
    return round(400 * share), 400 - round(400 * share)


def test_aa_canary_climbing_its_steps_keeps_its_level() -> None:
    """The allocation changing with the canary's steps (error rate 0.1 both).

    Observed: 0.007 (alpha 0.05), 0.001 (0.01); naive 0.414 (Welch's plug-in variance: 0.160).
    """
    run = simulate(bernoulli(0.1), bernoulli(0.1), true_difference=0.0, seed=51, per_look=canary_steps)
    assert run.rate(0.05) <= 0.05
    assert run.rate(0.01) <= 0.01
    assert run.naive.mean() > 0.15


# ---------------------------------------------------------------------------------------- power


@pytest.mark.parametrize(
    ("name", "candidate", "production", "difference", "higher_is_better", "expected", "seed"),
    [
        ("error rate up", bernoulli(0.13), bernoulli(0.10), 0.03, False, "candidate worse", 61),
        ("error rate down", bernoulli(0.10), bernoulli(0.13), -0.03, False, "candidate better", 62),
        ("latency +0.3 sd", normal(53.0, 10.0), normal(50.0, 10.0), 3.0, False, "candidate worse", 63),
        ("latency -0.3 sd", normal(47.0, 10.0), normal(50.0, 10.0), -3.0, False, "candidate better", 64),
        ("accuracy up", bernoulli(0.80), bernoulli(0.77), 0.03, True, "candidate better", 65),
        ("accuracy down", bernoulli(0.77), bernoulli(0.80), -0.03, True, "candidate worse", 66),
    ],
)
def test_power_finds_a_real_difference_in_the_right_direction(
    name: str,
    candidate: Sampler,
    production: Sampler,
    difference: float,
    higher_is_better: bool,
    expected: Decision,
    seed: int,
) -> None:
    """A real difference is decided by the last look in >= 80% of rollouts, never the wrong way.

    Error rate 0.10 against 0.13 (either way round), latency shifted by 0.3 sd, an accuracy
    0.80 against 0.77 (higher is better): 500 rollouts of 30 looks, 200 requests per variant
    and look. Observed (alpha 0.05): 0.994, 0.974, 1.000, 1.000, 0.852 and 0.872 decided
    the right way at the last look (Monte-Carlo standard error <= 0.016), none the wrong way at
    any look; the interval covered the true difference at every look in 0.982 to 0.990 of them.
    """
    run = simulate(
        candidate,
        production,
        true_difference=difference,
        seed=seed,
        higher_is_better=higher_is_better,
        alphas=(0.05,),
        reps=500,
    )
    wrong: Decision = "candidate better" if expected == "candidate worse" else "candidate worse"
    assert run.share(0.05, expected) >= 0.80, name
    assert run.share(0.05, wrong, which="first") == 0.0, name
    assert run.share(0.05, wrong) == 0.0, name
    assert run.covered[0.05].mean() >= 0.95, name


# ------------------------------------------------------------------------------ interval properties


@pytest.mark.parametrize(
    ("name", "candidate", "production", "difference", "seed"),
    [
        ("A/A error rate", bernoulli(0.1), bernoulli(0.1), 0.0, 71),
        ("error rate 0.12 vs 0.10", bernoulli(0.12), bernoulli(0.10), 0.02, 72),
        ("latency +0.1 sd", normal(51.0, 10.0), normal(50.0, 10.0), 1.0, 73),
        ("lognormal latency, canary", lognormal(3.0, 1.0), lognormal(3.0, 1.0), 0.0, 74),
    ],
)
def test_interval_covers_the_truth_at_every_look_and_never_widens(
    name: str, candidate: Sampler, production: Sampler, difference: float, seed: int
) -> None:
    """The always-valid interval holds the true difference at all 30 looks at once.

    Observed coverage at alpha 0.05 (0.01), 500 rollouts: 0.984 (1.000), 0.990 (1.000), 0.982
    (0.998), 0.998 (1.000); the interval of each look lies inside the one before in every one.
    """
    per_look = canary_share if "canary" in name else (lambda look: (PER_LOOK, PER_LOOK))
    run = simulate(candidate, production, true_difference=difference, seed=seed, per_look=per_look, reps=500)
    assert run.covered[0.05].mean() >= 0.95, name
    assert run.covered[0.01].mean() >= 0.99, name
    assert run.nested[0.05].all(), name
    assert run.nested[0.01].all(), name


def test_interval_matches_the_mixture_likelihood_ratio() -> None:
    """The interval's ends are where Lambda = 1 / alpha; inside it Lambda < 1 / alpha."""
    variance, tau, alpha = 4e-4, 0.03, 0.05
    low, high = always_valid_interval(0.01, variance, tau, alpha)
    assert low < 0.01 < high
    for end in (low, high):
        # the difference d - delta at the end of the interval is what the ratio sees
        assert likelihood_ratio(0.01 - end, variance, tau) == pytest.approx(1 / alpha, rel=1e-9)
    assert likelihood_ratio(0.0, variance, tau) < 1 / alpha
    assert always_valid_interval(0.01, variance, tau, 0.01)[0] < low  # a stricter level: wider


@pytest.mark.parametrize(
    ("low", "high", "higher_is_better", "expected"),
    [
        (0.01, 0.05, True, "candidate better"),
        (0.01, 0.05, False, "candidate worse"),
        (-0.05, -0.01, True, "candidate worse"),
        (-0.05, -0.01, False, "candidate better"),
        (-0.01, 0.05, True, "no difference yet"),
        (-0.01, 0.05, False, "no difference yet"),
        (0.0, 0.05, True, "no difference yet"),  # touching zero is not excluding it
        (-0.05, 0.0, False, "no difference yet"),
        (None, None, True, "no difference yet"),
        (0.01, None, False, "no difference yet"),
    ],
)
def test_decide_reads_the_interval(
    low: float | None, high: float | None, higher_is_better: bool, expected: Decision
) -> None:
    assert decide(low, high, higher_is_better) == expected


def moments(values: list[float]) -> Moments:
    return Moments(n=len(values), total=sum(values), total_sq=sum(v * v for v in values))


@pytest.mark.parametrize(
    ("name", "candidate", "production", "estimate"),
    [
        ("both empty", Moments(), Moments(), None),
        ("candidate empty", Moments(), moments([0.0, 1.0, 0.0, 0.0]), None),
        ("production empty", moments([1.0, 1.0, 0.0]), Moments(), None),
        ("one observation each", moments([1.0]), moments([0.0]), 1.0),
        ("one candidate observation", moments([1.0]), moments([0.0] * 500), 1.0),
        ("no variance anywhere", moments([0.0] * 300), moments([0.0] * 300), 0.0),
        ("no variance, different constants", moments([1.0] * 300), moments([0.0] * 300), 1.0),
        ("a non-finite sum", Moments(n=10, total=math.inf, total_sq=math.inf), moments([1.0, 2.0]), None),
    ],
)
def test_degenerate_inputs_decide_nothing(
    name: str, candidate: Moments, production: Moments, estimate: float | None
) -> None:
    test = compare_means("error_rate", candidate, production, higher_is_better=False)
    assert test.decision == NO_DECISION, name
    assert test.low is None and test.high is None, name
    assert test.estimate == estimate, name
    assert (test.n_candidate, test.n_production) == (candidate.n, production.n)


def test_zero_variance_in_the_small_variant_does_not_decide() -> None:
    """No error in the candidate's 30 requests against 5% in production's 3,000: not evidence."""
    test = compare_means(
        "error_rate", moments([0.0] * 30), moments([1.0] * 150 + [0.0] * 2850), higher_is_better=False
    )
    assert test.decision == NO_DECISION
    assert test.low is not None and test.high is not None and test.low < 0.0 < test.high


def test_a_look_without_new_evidence_keeps_the_previous_interval() -> None:
    decided = compare_means(
        "error_rate", moments([1.0] * 100 + [0.0] * 900), moments([0.0] * 1000), higher_is_better=False
    )
    assert decided.decision == "candidate worse"
    # Then the counts reach the job in a form that cannot be compared (no spread): the interval stands.
    again = compare_means(
        "error_rate", moments([1.0] * 1000), moments([0.0] * 1000), higher_is_better=False, previous=decided
    )
    assert (again.low, again.high, again.decision) == (decided.low, decided.high, "candidate worse")


def test_disjoint_intervals_give_the_latest_look() -> None:
    """An earlier interval the evidence now contradicts is replaced, not kept or merged."""
    data_c, data_p = moments([1.0] * 100 + [0.0] * 900), moments([1.0] * 100 + [0.0] * 900)
    earlier = SequentialTest(
        quantity="error_rate",
        low=0.2,
        high=0.3,
        n_candidate=500,
        n_production=500,
        alpha=0.05,
        effect_size=DEFAULT_EFFECT_SIZE,
    )
    test = compare_means("error_rate", data_c, data_p, higher_is_better=False, previous=earlier)
    alone = compare_means("error_rate", data_c, data_p, higher_is_better=False)
    assert (test.low, test.high) == (alone.low, alone.high)
    assert test.decision == NO_DECISION


# ----------------------------------------------------------------- a re-configured rollout (previous)


def wide_and_narrow() -> tuple[Moments, Moments]:
    """Error rates 0.123 against 0.100 over 3,000 requests each: decided at alpha 0.3, not at 0.01."""
    return moments([1.0] * 369 + [0.0] * 2631), moments([1.0] * 300 + [0.0] * 2700)


def test_same_configuration_intersects_with_the_previous_look() -> None:
    """An earlier look of the same sequence narrower on one side: its bound is kept."""
    c, p = wide_and_narrow()
    alone = compare_means("error_rate", c, p, higher_is_better=False)
    assert alone.low is not None and alone.high is not None
    earlier = SequentialTest(
        quantity="error_rate",
        low=alone.low - 0.01,
        high=alone.high - 0.005,
        n_candidate=c.n // 2,
        n_production=p.n // 2,
        alpha=0.05,
        effect_size=DEFAULT_EFFECT_SIZE,
    )
    test = compare_means("error_rate", c, p, higher_is_better=False, previous=earlier)
    assert (test.low, test.high) == (alone.low, earlier.high)
    # and where the earlier bound excludes zero, its decision stands
    decided = earlier.model_copy(update={"low": 0.001})
    test = compare_means("error_rate", c, p, higher_is_better=False, previous=decided)
    assert (test.low, test.decision) == (0.001, "candidate worse")


@pytest.mark.parametrize(
    ("name", "update"),
    [
        ("a looser level before", {"alpha": 0.3}),
        ("another effect size before", {"effect_size": 1.0}),
        ("a document without its level", {"alpha": None}),
        ("more requests before than now", {"n_candidate": 10**6}),
        ("another quantity", {"quantity": "latency_ms"}),
    ],
)
def test_a_previous_look_of_another_configuration_is_not_intersected(
    name: str, update: dict[str, object]
) -> None:
    """A re-configured rollout: the earlier interval was at another level or mixing scale, or of
    another sequence. Intersecting it would carry its decision over (at alpha 0.3, this data says
    "candidate worse"); the look is judged at its own configuration alone instead.
    """
    c, p = wide_and_narrow()
    loose = compare_means("error_rate", c, p, higher_is_better=False, alpha=0.3)
    assert loose.decision == "candidate worse"  # the premise: the looser level decides
    strict_alone = compare_means("error_rate", c, p, higher_is_better=False, alpha=0.01)
    assert strict_alone.decision == NO_DECISION
    previous = loose.model_copy(update={"alpha": 0.01, **update})
    test = compare_means("error_rate", c, p, higher_is_better=False, alpha=0.01, previous=previous)
    assert test.decision == NO_DECISION, name
    assert (test.low, test.high) == (strict_alone.low, strict_alone.high), name
    assert (test.alpha, test.effect_size) == (0.01, DEFAULT_EFFECT_SIZE)


def test_re_configured_level_keeps_the_new_level_under_continuous_monitoring() -> None:
    """A/A: 10 looks at alpha 0.3, then the rollout is re-configured to alpha 0.01 for 20 looks.

    Intersecting across the change carried the 0.3-level intervals' decisions over (about a
    tenth of the rollouts would then report a difference at the 0.01 level: 0.084 did at the
    last look with the intersect-whatever-came-before rule). Observed: 0.064 decided something during
    the alpha-0.3 looks, 0.000 at the last look (at most 0.01 allowed).
    """
    run = simulate(
        bernoulli(0.1),
        bernoulli(0.1),
        true_difference=0.0,
        seed=81,
        alphas=(0.01,),
        reps=500,
        alpha_at=lambda look, alpha: 0.3 if look < 10 else alpha,
    )
    assert 1 - run.share(0.01, NO_DECISION) <= 0.01


def test_re_configured_effect_size_keeps_the_level() -> None:
    """A/A: 10 looks mixing at 1 sd, then 20 at 0.1 sd. Observed: 0.012 decided at any look."""
    run = simulate(
        normal(50.0, 10.0),
        normal(50.0, 10.0),
        true_difference=0.0,
        seed=82,
        alphas=(0.05,),
        reps=500,
        effect_at=lambda look: 1.0 if look < 10 else DEFAULT_EFFECT_SIZE,
    )
    assert run.rate(0.05) <= 0.05
