"""The rule that marks an estimate doubtful, with its reasons.

An estimate is doubtful when any of these holds (each adds a reason):

1. there is no labelled reference, so calibration was never checked;
2. the reference failed the calibration check for a class and no calibrator maps that class;
3. the window's scores leave the reference's range: for some class, more than
   ``max_outside_share`` (10%) of the window's rows score outside the bins that hold the
   reference's central ``range_coverage`` (99%) of rows, a share that is about 1% while the
   window looks like the reference. Calibration (checked, or fitted) holds only where the
   reference had scores; beyond them the calibrator is extrapolated as a constant.

A covariate shift that keeps the scores within the reference's range is what CBPE is for and
is not doubtful by itself.
"""

from __future__ import annotations

from typing import Final

from modelwatch.contracts.estimation import ScoreStatistics
from modelwatch.monitoring.estimation.reference import EstimationReference

DEFAULT_RANGE_COVERAGE: Final = 0.99
DEFAULT_MAX_OUTSIDE_SHARE: Final = 0.10


def reference_range(counts: list[int], coverage: float = DEFAULT_RANGE_COVERAGE) -> tuple[int, int]:
    """First and last bin of the central ``coverage`` of the rows counted per bin in ``counts``.

    The bins below the first hold at most ``(1 - coverage) / 2`` of the rows, and so do those
    above the last.
    """
    total = sum(counts)
    tail = (1.0 - coverage) / 2.0 * total
    below = 0
    first = 0
    while first < len(counts) - 1 and below + counts[first] <= tail:
        below += counts[first]
        first += 1
    above = 0
    last = len(counts) - 1
    while last > 0 and above + counts[last] <= tail:
        above += counts[last]
        last -= 1
    return first, max(first, last)


def _pooled_counts(statistics: ScoreStatistics, index: int) -> list[int]:
    scores = statistics.classes[index]
    return [a + b for a, b in zip(scores.predicted.counts, scores.other.counts, strict=True)]


def doubt_reasons(
    window: ScoreStatistics,
    reference: EstimationReference | None,
    *,
    range_coverage: float = DEFAULT_RANGE_COVERAGE,
    max_outside_share: float = DEFAULT_MAX_OUTSIDE_SHARE,
) -> list[str]:
    """Why an estimate of ``window`` against ``reference`` is doubtful (empty: it is not)."""
    if reference is None:
        return ["no labelled reference: the scores' calibration was never checked"]
    reasons = []
    mapped = set() if reference.calibrator is None else {b.name for b in reference.calibrator.classes}
    unmapped = [name for name in reference.check.failed if name not in mapped]
    if unmapped:
        reasons.append(
            f"the reference is not calibrated for {', '.join(unmapped)} and no calibrator was applied"
        )
    if window.n_rows == 0:
        return reasons
    for index, name in enumerate(window.class_names):
        first, last = reference_range(_pooled_counts(reference.statistics, index), range_coverage)
        counts = _pooled_counts(window, index)
        outside = sum(counts[:first]) + sum(counts[last + 1 :])
        share = outside / window.n_rows
        if share > max_outside_share:
            edges = window.edges
            reasons.append(
                f"{share:.1%} of the window's scores of {name} lie outside the reference's central "
                f"{range_coverage:.0%} [{edges[first]:.3f}, {edges[last + 1]:.3f}) (at most "
                f"{max_outside_share:.0%} allowed)"
            )
    return reasons
