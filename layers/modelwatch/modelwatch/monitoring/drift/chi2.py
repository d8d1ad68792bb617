"""Two-sample chi-square test of homogeneity on the count table (categorical, or numeric bins).

Statistic: Pearson's chi-square of the 2 x k table after merging sparse cells;
p-value from the chi-square distribution. Effect size: Cohen's w computed from
proportions, ``sqrt(sum((p_cur - p_ref)^2 / p_pooled))`` with
``p_pooled = (p_ref + p_cur) / 2``; unlike Cramér's V it does not shrink when the
reference is much larger than the window. Floor 0.1 (Cohen's "small").
"""

from __future__ import annotations

import math

from modelwatch.monitoring.drift.registry import StatTest, TestInput, TestOutcome, register
from modelwatch.monitoring.drift.tables import chi_square_test, proportions


def cohens_w(p_ref: object, p_cur: object) -> float:
    """Cohen's w between two proportion vectors, against their average."""
    import numpy as np

    ref = np.asarray(p_ref, dtype=np.float64)
    cur = np.asarray(p_cur, dtype=np.float64)
    pooled = (ref + cur) / 2
    mask = pooled > 0
    return math.sqrt(float(np.sum((cur[mask] - ref[mask]) ** 2 / pooled[mask])))


def chi2_test(data: TestInput) -> TestOutcome:
    """Chi-square statistic and p-value, with Cohen's w as effect size."""
    chi = chi_square_test(data.table, data.min_expected)
    if chi.p_value is None:
        return TestOutcome(chi.statistic, None, None)
    p_ref, p_cur = proportions(chi.table)
    return TestOutcome(chi.statistic, chi.p_value, cohens_w(p_ref, p_cur))


CHI2 = register(
    StatTest(
        name="chi2",
        kinds=frozenset({"numeric", "categorical"}),
        effect_measure="cohens_w",
        default_threshold=0.1,
        needs_raw=False,
        func=chi2_test,
        description="chi-square test of homogeneity on the bins or categories; effect: Cohen's w",
    )
)
