"""Performance estimation without labels (CBPE) for binary and multiclass classifiers.

One idea per module: ``statistics`` builds the mergeable score statistics of predictions
(the document is ``modelwatch.contracts.estimation``), ``calibration`` checks the labelled
reference's calibration and fits an isotonic calibrator, ``reference`` keeps both with the
reference's statistics, ``cbpe`` estimates a window's metrics with their bands, and
``doubt`` is the rule that marks an estimate doubtful.

Typical use: at registration ``prepare_reference(binary_statistics(scores, labels=y))``;
per delivered object ``binary_statistics(scores)``; per window
``estimate_performance(merge_statistics(objects), reference)``.
"""

from modelwatch.contracts.estimation import ScoreStatistics, merge_statistics
from modelwatch.monitoring.estimation.calibration import (
    CalibrationCheck,
    IsotonicCalibrator,
    check_calibration,
    fit_calibrator,
)
from modelwatch.monitoring.estimation.cbpe import (
    MetricEstimate,
    PerformanceEstimate,
    estimate_performance,
    realized_performance,
)
from modelwatch.monitoring.estimation.doubt import doubt_reasons
from modelwatch.monitoring.estimation.reference import EstimationReference, prepare_reference
from modelwatch.monitoring.estimation.statistics import binary_statistics, multiclass_statistics

__all__ = [
    "CalibrationCheck",
    "EstimationReference",
    "IsotonicCalibrator",
    "MetricEstimate",
    "PerformanceEstimate",
    "ScoreStatistics",
    "binary_statistics",
    "check_calibration",
    "doubt_reasons",
    "estimate_performance",
    "fit_calibrator",
    "merge_statistics",
    "multiclass_statistics",
    "prepare_reference",
    "realized_performance",
]
