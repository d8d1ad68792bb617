"""Population stability index on the bins or categories.

Statistic and effect size: ``PSI = sum((p_cur - p_ref) * ln(p_cur / p_ref))`` over
the cells, with proportions floored at 1e-4 so empty cells stay finite. Floor 0.1
(the customary "moderate shift" level). P-value: the two-sample chi-square test
on the same cells.
"""

from __future__ import annotations

from modelwatch.monitoring.drift.registry import StatTest, TestInput, TestOutcome, register
from modelwatch.monitoring.drift.tables import chi_square_test, proportions

PROPORTION_FLOOR = 1e-4


def population_stability_index(p_ref: object, p_cur: object) -> float:
    """PSI between two proportion vectors (floored at ``PROPORTION_FLOOR``)."""
    import numpy as np

    ref = np.maximum(np.asarray(p_ref, dtype=np.float64), PROPORTION_FLOOR)
    cur = np.maximum(np.asarray(p_cur, dtype=np.float64), PROPORTION_FLOOR)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def psi_test(data: TestInput) -> TestOutcome:
    """PSI, with the chi-square p-value of the cells."""
    chi = chi_square_test(data.table, data.min_expected)
    if data.table.n_reference == 0 or data.table.n_current == 0:
        return TestOutcome(0.0, None, None)
    mask = (data.table.reference + data.table.current) > 0
    p_ref, p_cur = proportions(data.table)
    value = population_stability_index(p_ref[mask], p_cur[mask])
    return TestOutcome(value, chi.p_value, value)


PSI = register(
    StatTest(
        name="psi",
        kinds=frozenset({"numeric", "categorical"}),
        effect_measure="psi",
        default_threshold=0.1,
        needs_raw=False,
        func=psi_test,
        description="population stability index; p-value: chi-square on the cells",
    )
)
