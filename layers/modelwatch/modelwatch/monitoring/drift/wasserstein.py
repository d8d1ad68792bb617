"""Normalised Wasserstein distance on the binned profile (numeric, any sample size).

Statistic and effect size: the Wasserstein-1 distance between the two binned
distributions (values spread uniformly within each bin; the under- and overflow
bins reach the smallest and largest value seen) divided by the reference's
standard deviation, floor 0.1 (a tenth of a standard deviation). P-value: the
two-sample chi-square test on the same bins.
"""

from __future__ import annotations

from modelwatch.monitoring.drift.registry import StatTest, TestInput, TestOutcome, register
from modelwatch.monitoring.drift.scale import reference_scale
from modelwatch.monitoring.drift.tables import chi_square_test


def binned_wasserstein(data: TestInput) -> float | None:
    """Wasserstein-1 distance between the binned reference and current distributions (not normalised)."""
    import numpy as np

    ref, cur = data.reference.numeric, data.current.numeric
    if ref is None or cur is None:
        return None
    n_ref, n_cur = sum(ref.counts), sum(cur.counts)
    if n_ref == 0 or n_cur == 0 or not ref.edges:
        return None
    edges = np.asarray(ref.edges, dtype=np.float64)
    lows = [v for v in (ref.moments.min, cur.moments.min) if v is not None]
    highs = [v for v in (ref.moments.max, cur.moments.max) if v is not None]
    low = min([*lows, float(edges[0])])
    high = max([*highs, float(edges[-1])])
    points = np.concatenate([[low], edges, [high]])
    cdf_ref = np.concatenate([[0.0], np.cumsum(ref.counts) / n_ref])
    cdf_cur = np.concatenate([[0.0], np.cumsum(cur.counts) / n_cur])
    diff = cdf_cur - cdf_ref
    widths = np.diff(points)
    a, b = np.abs(diff[:-1]), np.abs(diff[1:])
    same_sign = diff[:-1] * diff[1:] >= 0
    with np.errstate(invalid="ignore", divide="ignore"):
        crossing = np.where(a + b > 0, (a * a + b * b) / (2 * (a + b)), 0.0)
    areas = np.where(same_sign, (a + b) / 2, crossing) * widths
    return float(areas.sum())


def wasserstein_test(data: TestInput) -> TestOutcome:
    """Normalised binned Wasserstein distance, with the chi-square p-value of the bins."""
    distance = binned_wasserstein(data)
    chi = chi_square_test(data.table, data.min_expected)
    if distance is None or data.reference.numeric is None:
        return TestOutcome(0.0, chi.p_value, None)
    effect = distance / reference_scale(data.reference.numeric.moments)
    return TestOutcome(effect, chi.p_value, effect)


WASSERSTEIN = register(
    StatTest(
        name="wasserstein",
        kinds=frozenset({"numeric"}),
        effect_measure="wasserstein_normed",
        default_threshold=0.1,
        needs_raw=False,
        func=wasserstein_test,
        description="Wasserstein distance / reference sd on the bins; p-value: chi-square on the bins",
    )
)
