"""Always-valid comparisons of a rollout's candidate with production: tests that allow peeking.

A rollout is looked at every evaluation period. A fixed-horizon test repeated at every look
rejects a true "no difference" far more often than its level says (at 20 looks, a 5% z-test
rejects about a quarter of A/A comparisons). The mixture sequential probability ratio test
(mSPRT) of Johari, Koomen, Pekelis and Walsh, "Always Valid Inference: Continuous Monitoring
of A/B Tests" (Operations Research, 2022), keeps its level however often it is read.

For the difference of two means ``delta = mean_candidate - mean_production`` with estimate
``d`` and variance ``V = s_c^2 / n_c + s_p^2 / n_p`` (plug-in), a normal mixing distribution
``N(0, tau^2)`` over ``delta`` gives the likelihood ratio

    Lambda = sqrt(V / (V + tau^2)) * exp(tau^2 d^2 / (2 V (V + tau^2)))

and ``Lambda >= 1 / alpha`` rejects "no difference". Inverting it gives the always-valid
confidence interval

    d +- sqrt(V (V + tau^2) / tau^2 * (2 log(1 / alpha) + log((V + tau^2) / V)))

which is intersected with the interval of every earlier look (a confidence *sequence* holds
at all times at once, so the intersection does too). ``tau`` is the size of a difference
worth detecting: ``effect_size`` standard deviations of the quantity (pooled over both
variants). The interval's width shrinks like ``sqrt(log(n) / n)`` rather than ``sqrt(1 / n)``:
the price of looking at any time.

The variance is not Welch's plug-in ``s_c^2 / n_c + s_p^2 / n_p``: each variant's sample
variance is floored at the pooled one, ``V = max(s_c^2, s^2) / n_c + max(s_p^2, s^2) / n_p``.
A canary's candidate has few requests; with no error among its first 20 (36% of them at an
error rate of 0.05) its sample variance is 0 and the plug-in interval is production's alone.
Seeded A/A simulations at 5% against 95% (tests/unit/monitoring/test_rollout_stats.py, 30
looks of 20 against 380 requests) gave 0.37 false positives at alpha 0.05 for an error rate,
0.09 and 0.22 for heavy-tailed (lognormal) latencies whose small samples mostly miss the tail,
and 0.16 for a canary climbing 5% -> 25% -> 50%; with the floor, at most 0.007.
The floor only widens the interval (never below the plug-in's width), so it stays valid when the
variants' variances truly differ; it costs power only when the candidate is much steadier than
production at a small share.

``tau`` follows the pooled standard deviation at every look (not fixed at the first one, where
a few requests, or none failing, would fix it badly for the whole rollout). Strictly, the mSPRT
is a martingale for a fixed ``tau``; the pooled deviation settles within the first looks, and the
simulations above and the coverage tests (every look covered in >= 98% of rollouts at alpha 0.05)
show the level kept.

A previous look is intersected only if it belongs to the same sequence: same quantity, level
(``alpha``) and ``effect_size``, and no more observations than now. A re-configured rollout
(another level, another mixing scale) or a restarted one starts a fresh intersection: the
current look's interval, computed from all the moments since the start at the current level,
is valid by itself, whereas an earlier interval at a looser level would carry its decision
over (10 looks at alpha 0.3 then 20 at 0.01: 8% of A/A rollouts reported a difference "at 0.01"
at the last look; none with the rule).
Intervals at two mixing scales would each be valid, but their intersection only at ``2 alpha``.

Limits: the test compares means under a normal approximation. A candidate whose latency has
the same mean as production's but a far heavier tail (lognormal sigma 1.5 against 1, 5% of the
traffic) shows a low sample mean most of the time, and its false-positive rate stays above
alpha (0.06 to 0.10 simulated) until its sample sees the tail. p99 guardrails, not this test,
judge tails.

The decision is read from the interval: wholly above zero, the candidate's mean is higher
(better when ``higher_is_better``); wholly below, lower; otherwise "no difference yet".
"""

from __future__ import annotations

import math
from typing import Final

from modelwatch.contracts.rollout import DEFAULT_ALPHA, Decision, Moments, SequentialTest

# The mixing scale, in standard deviations of the compared quantity: the mSPRT is most
# powerful near differences of this size (Johari et al., section 4), and valid for any.
DEFAULT_EFFECT_SIZE: Final = 0.1
MIN_SAMPLES: Final = 2  # per variant: a variance needs two


def always_valid_interval(
    estimate: float, variance: float, tau: float, alpha: float = DEFAULT_ALPHA
) -> tuple[float, float]:
    """The mSPRT's confidence interval of a difference whose estimate has ``variance``."""
    tau_sq = tau * tau
    half = math.sqrt(
        variance
        * (variance + tau_sq)
        / tau_sq
        * (2.0 * math.log(1.0 / alpha) + math.log((variance + tau_sq) / variance))
    )
    return estimate - half, estimate + half


def likelihood_ratio(estimate: float, variance: float, tau: float) -> float:
    """The mixture likelihood ratio ``Lambda`` (``1 / Lambda`` is an always-valid p-value bound)."""
    tau_sq = tau * tau
    exponent = tau_sq * estimate * estimate / (2.0 * variance * (variance + tau_sq))
    return math.sqrt(variance / (variance + tau_sq)) * math.exp(min(exponent, 700.0))


def decide(low: float | None, high: float | None, higher_is_better: bool) -> Decision:
    """The decision an interval of ``candidate - production`` supports."""
    if low is None or high is None:
        return "no difference yet"
    if low > 0.0:
        return "candidate better" if higher_is_better else "candidate worse"
    if high < 0.0:
        return "candidate worse" if higher_is_better else "candidate better"
    return "no difference yet"


def difference_variance(candidate: Moments, production: Moments) -> tuple[float, float] | None:
    """The variance of ``mean_c - mean_p`` and the pooled standard deviation (None without both).

    Each variant's variance is floored at the pooled one (see the module docstring): a small
    variant whose sample happened to show little spread cannot shrink the interval.
    """
    var_c, var_p = candidate.variance, production.variance
    if candidate.n < MIN_SAMPLES or production.n < MIN_SAMPLES or var_c is None or var_p is None:
        return None
    pooled = ((candidate.n - 1) * var_c + (production.n - 1) * var_p) / (candidate.n + production.n - 2)
    variance = max(var_c, pooled) / candidate.n + max(var_p, pooled) / production.n
    if not (math.isfinite(variance) and variance > 0.0):
        return None
    return variance, math.sqrt(pooled)


def _continues(
    previous: SequentialTest | None,
    quantity: str,
    candidate: Moments,
    production: Moments,
    alpha: float,
    effect_size: float,
) -> bool:
    """Whether ``previous`` is an earlier look of this same sequence (so its interval may be intersected)."""
    return (
        previous is not None
        and previous.low is not None
        and previous.high is not None
        and previous.quantity == quantity
        and previous.alpha == alpha
        and previous.effect_size == effect_size
        and previous.n_candidate <= candidate.n
        and previous.n_production <= production.n
    )


def compare_means(
    quantity: str,
    candidate: Moments,
    production: Moments,
    *,
    higher_is_better: bool,
    alpha: float = DEFAULT_ALPHA,
    effect_size: float = DEFAULT_EFFECT_SIZE,
    previous: SequentialTest | None = None,
) -> SequentialTest:
    """Compare the candidate's mean of ``quantity`` with production's, valid at every look.

    Parameters
    ----------
    quantity
        The name of the compared quantity (``error_rate``, ``latency_ms``, the metric's name).
    candidate, production
        The moments accumulated since the rollout started.
    higher_is_better
        Whether a higher mean of ``quantity`` is better (reads the interval's sign as a decision).
    alpha
        The level: the interval misses the true difference at any look with probability at most ``alpha``.
    effect_size
        The mixing scale ``tau`` in pooled standard deviations.
    previous
        This comparison's result at the last look. Its interval is intersected with this look's
        only when it belongs to the same sequence: same quantity, ``alpha`` and ``effect_size``,
        and no more observations than now. Otherwise (a re-configured rollout, a restarted one)
        it is ignored: the interval of this look alone, at this look's level, is still valid,
        because the mSPRT covers every look since the start whatever came before.

    Returns
    -------
    SequentialTest
        The estimate, the always-valid interval (None below two observations per variant or with
        no spread at all; the previous interval stands then, if it continues) and the decision.
    """
    result = SequentialTest(
        quantity=quantity,
        n_candidate=candidate.n,
        n_production=production.n,
        higher_is_better=higher_is_better,
        alpha=alpha,
        effect_size=effect_size,
    )
    mean_c, mean_p = candidate.mean, production.mean
    if mean_c is not None and mean_p is not None and math.isfinite(mean_c - mean_p):
        result.estimate = mean_c - mean_p
    low: float | None = None
    high: float | None = None
    if previous is not None and _continues(previous, quantity, candidate, production, alpha, effect_size):
        low, high = previous.low, previous.high
    spread = difference_variance(candidate, production)
    if result.estimate is not None and spread is not None and spread[1] > 0.0:
        variance, pooled_sd = spread
        new_low, new_high = always_valid_interval(result.estimate, variance, effect_size * pooled_sd, alpha)
        if low is None or high is None:
            low, high = new_low, new_high
        else:
            # The intersection of every look's interval. Disjoint intervals mean the evidence
            # contradicts an earlier look (a change in the traffic, or the alpha-probability
            # miss): the latest look's interval replaces the intersection then.
            merged_low, merged_high = max(low, new_low), min(high, new_high)
            low, high = (merged_low, merged_high) if merged_low <= merged_high else (new_low, new_high)
    result.low, result.high = low, high
    result.decision = decide(low, high, higher_is_better)
    return result


def naive_z_rejects(candidate: Moments, production: Moments, z: float = 1.959963984540054) -> bool:
    """A fixed-horizon two-sample z-test at 5% two-sided: the test that must NOT be repeated.

    Kept to show (tests/unit) how often repeating it rejects a true null, against the mSPRT.
    """
    var_c, var_p = candidate.variance, production.variance
    if var_c is None or var_p is None or candidate.mean is None or production.mean is None:
        return False
    variance = var_c / candidate.n + var_p / production.n
    if variance <= 0.0:
        return False
    return abs(candidate.mean - production.mean) / math.sqrt(variance) > z
