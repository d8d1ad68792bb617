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

    ``candidate`` and ``production`` are the moments accumulated since the rollout started;
    ``previous`` is this comparison's result at the last look (its interval is intersected).
    Below two observations per variant, or with no variance at all, there is nothing to
    decide yet (the previous interval, if any, stands).
    """
    result = SequentialTest(
        quantity=quantity,
        n_candidate=candidate.n,
        n_production=production.n,
        higher_is_better=higher_is_better,
    )
    mean_c, mean_p = candidate.mean, production.mean
    var_c, var_p = candidate.variance, production.variance
    low, high = (previous.low, previous.high) if previous is not None else (None, None)
    if mean_c is not None and mean_p is not None:
        result.estimate = mean_c - mean_p
    if (
        candidate.n >= MIN_SAMPLES
        and production.n >= MIN_SAMPLES
        and var_c is not None
        and var_p is not None
        and result.estimate is not None
    ):
        variance = var_c / candidate.n + var_p / production.n
        pooled_sd = math.sqrt(
            ((candidate.n - 1) * var_c + (production.n - 1) * var_p) / (candidate.n + production.n - 2)
        )
        if variance > 0.0 and pooled_sd > 0.0:
            new_low, new_high = always_valid_interval(
                result.estimate, variance, effect_size * pooled_sd, alpha
            )
            if low is None or high is None:
                low, high = new_low, new_high
            else:
                # The intersection of every look's interval (kept whole if the plug-in variance
                # ever made them disjoint, which the exact sequence never is).
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
