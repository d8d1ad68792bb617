"""Two-proportion z-test, for the missing-share and unseen-category signals.

The share of missing values (or of values outside the reference's categories)
in the window is compared with the reference's; the signal is raised when the
change is significant (within the run's Benjamini-Hochberg family) and the
absolute difference reaches its floor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from modelwatch.monitoring.drift.distributions import normal_two_sided_p


@dataclass(frozen=True)
class ProportionTest:
    share_reference: float
    share_current: float
    difference: float
    p_value: float | None


def two_proportion_test(k_reference: int, n_reference: int, k_current: int, n_current: int) -> ProportionTest:
    """Pooled two-proportion z-test of ``k_reference / n_reference`` against ``k_current / n_current``.

    ``p_value`` is None when either sample is empty or both shares are 0 or 1 (nothing to test).
    """
    share_ref = k_reference / n_reference if n_reference else 0.0
    share_cur = k_current / n_current if n_current else 0.0
    difference = share_cur - share_ref
    if n_reference == 0 or n_current == 0:
        return ProportionTest(share_ref, share_cur, difference, None)
    pooled = (k_reference + k_current) / (n_reference + n_current)
    if pooled <= 0.0 or pooled >= 1.0:
        return ProportionTest(share_ref, share_cur, difference, None)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_reference + 1 / n_current))
    return ProportionTest(share_ref, share_cur, difference, normal_two_sided_p(difference / se))
