"""Jensen-Shannon distance on the bins or categories.

Statistic and effect size: the Jensen-Shannon distance (square root of the
divergence, base 2, between 0 and 1). Floor 0.1. P-value: the two-sample
chi-square test on the same cells.
"""

from __future__ import annotations

import math

from modelwatch.monitoring.drift.registry import StatTest, TestInput, TestOutcome, register
from modelwatch.monitoring.drift.tables import chi_square_test, proportions


def jensen_shannon_distance(p_ref: object, p_cur: object) -> float:
    """Jensen-Shannon distance (base 2) between two proportion vectors."""
    import numpy as np

    ref = np.asarray(p_ref, dtype=np.float64)
    cur = np.asarray(p_cur, dtype=np.float64)
    middle = (ref + cur) / 2

    def _kl(p: object, q: object) -> float:
        p_, q_ = np.asarray(p), np.asarray(q)
        mask = p_ > 0
        return float(np.sum(p_[mask] * np.log2(p_[mask] / q_[mask])))

    divergence = max(0.0, (_kl(ref, middle) + _kl(cur, middle)) / 2)
    return math.sqrt(min(divergence, 1.0))


def jensenshannon_test(data: TestInput) -> TestOutcome:
    """Jensen-Shannon distance, with the chi-square p-value of the cells."""
    chi = chi_square_test(data.table, data.min_expected)
    if data.table.n_reference == 0 or data.table.n_current == 0:
        return TestOutcome(0.0, None, None)
    p_ref, p_cur = proportions(data.table)
    value = jensen_shannon_distance(p_ref, p_cur)
    return TestOutcome(value, chi.p_value, value)


JENSENSHANNON = register(
    StatTest(
        name="jensenshannon",
        kinds=frozenset({"numeric", "categorical"}),
        effect_measure="jensenshannon_distance",
        default_threshold=0.1,
        needs_raw=False,
        func=jensenshannon_test,
        description="Jensen-Shannon distance (base 2); p-value: chi-square on the cells",
    )
)
