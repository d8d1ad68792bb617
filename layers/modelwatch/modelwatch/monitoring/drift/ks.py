"""Two-sample Kolmogorov-Smirnov test on raw values (small samples).

Statistic: the KS distance D; p-value: scipy's ``ks_2samp`` (exact for small
samples). Effect size: the Wasserstein-1 distance between the two samples divided
by the reference's standard deviation ("normalised Wasserstein", in standard
deviations: a mean shift of 0.5 sd gives 0.5), floor 0.1.
"""

from __future__ import annotations

from modelwatch.monitoring.drift.registry import StatTest, TestInput, TestOutcome, register
from modelwatch.monitoring.drift.scale import reference_scale


def ks_test(data: TestInput) -> TestOutcome:
    """KS statistic and p-value, with the normalised Wasserstein distance as effect size."""
    from scipy.stats import ks_2samp, wasserstein_distance

    ref, cur = data.reference_values, data.current_values
    if ref is None or cur is None or ref.size == 0 or cur.size == 0 or data.reference.numeric is None:
        return TestOutcome(0.0, None, None)
    result = ks_2samp(ref, cur)
    distance = float(wasserstein_distance(ref, cur))
    return TestOutcome(
        float(result.statistic),
        float(result.pvalue),
        distance / reference_scale(data.reference.numeric.moments),
    )


KS = register(
    StatTest(
        name="ks",
        kinds=frozenset({"numeric"}),
        effect_measure="wasserstein_normed",
        default_threshold=0.1,
        needs_raw=True,
        func=ks_test,
        description="Kolmogorov-Smirnov on raw values; effect: Wasserstein distance / reference sd",
    )
)
