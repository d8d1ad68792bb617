"""Confidence-based performance estimation (CBPE): a window's metrics from its scores, before labels.

The method is NannyML's CBPE: if the probabilities are calibrated, a row scored ``p`` is
positive with chance ``p``, so the expected confusion matrix at the decision rule is a sum
of probabilities, and the metrics follow from it. From a window's score statistics
(``modelwatch.contracts.estimation``), per class and per bin with ``p_b`` the bin's mean
score, calibrated by the reference's calibrator when it has one:

- ``TP = sum(n_b p_b)`` over the predicted bins, ``FP = sum(n_b (1 - p_b))`` over them,
  ``FN = sum(n_b p_b)`` over the other bins and ``TN = sum(n_b (1 - p_b))``;
- accuracy, precision, recall and F1 from those counts (binary: of the positive class;
  multiclass: accuracy is ``sum_c TP_c / n``, precision, recall and F1 are one-vs-rest per
  class and macro-averaged, a class's undefined value counting 0 as in the realized path);
- ROC AUC: bins are ordered by score, positives weighted ``p_b`` and negatives ``1 - p_b``;
  a (positive, negative) pair in different bins is ordered, one in the same bin counts one
  half (multiclass: one-vs-rest per class, macro-averaged).

**The band** is the distribution of the *realized* metric if the labels were drawn from
the calibrated probabilities: ``draws`` (500) seeded draws of ``Binomial(n_b, p_b)``
positives per bin, each turned into its metrics; the band is their ``(1 - band) / 2`` and
``(1 + band) / 2`` quantiles (2.5% and 97.5%). It measures how far the labels can move
the realized figure given this window's scores; it holds as long as calibration does (see
``doubt``). In a multiclass window each class's positives are drawn on their own, which
keeps accuracy's draws exact (every row is in exactly one class's predicted bins) and
ignores the dependence between classes in the macro averages.

``realized_performance`` computes the same metrics from labelled statistics (the labels'
own positives per bin), so estimated and realized figures of a window are comparable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from modelwatch.contracts.estimation import EstimationTask, ScoreStatistics
from modelwatch.monitoring.estimation.doubt import (
    DEFAULT_MAX_OUTSIDE_SHARE,
    DEFAULT_RANGE_COVERAGE,
    doubt_reasons,
)
from modelwatch.monitoring.estimation.reference import EstimationReference
from modelwatch.monitoring.estimation.statistics import class_arrays

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float64]
    IntArray = npt.NDArray[np.int64]

ESTIMATE_SCHEMA_VERSION: Final = 1
DEFAULT_DRAWS: Final = 500
DEFAULT_BAND: Final = 0.95
METRICS: Final = ("accuracy", "precision", "recall", "f1", "roc_auc")
_SPARSE_ROWS_PER_BIN: Final = 4
_SPARSE_MAX_CELLS: Final = 20_000_000


class MetricEstimate(BaseModel):
    """An estimated metric and its band; None where the metric is undefined on the window."""

    model_config = ConfigDict(extra="forbid")

    value: float | None
    lower: float | None
    upper: float | None


class ExpectedConfusion(BaseModel):
    """The expected one-vs-rest confusion counts of one class (binary: the positive class)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    tp: float
    fp: float
    fn: float
    tn: float


class PerformanceEstimate(BaseModel):
    """A window's estimated performance."""

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = ESTIMATE_SCHEMA_VERSION
    task: EstimationTask
    n_rows: int
    averaging: Literal["positive_class", "macro_one_vs_rest"]
    accuracy: MetricEstimate
    precision: MetricEstimate
    recall: MetricEstimate
    f1: MetricEstimate
    roc_auc: MetricEstimate
    confusion: list[ExpectedConfusion]
    band: float
    draws: int
    seed: int
    calibrated_classes: list[str] = Field(
        default_factory=list, description="Classes whose scores went through the reference's calibrator."
    )
    doubtful: bool
    reasons: list[str] = Field(default_factory=list)

    def metric(self, name: str) -> MetricEstimate:
        if name not in METRICS:
            raise KeyError(name)
        estimate: MetricEstimate = getattr(self, name)
        return estimate


def _ratio(numerator: FloatArray, denominator: FloatArray) -> FloatArray:
    import numpy as np

    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1.0), np.nan)


def _auc(positives: FloatArray, counts: FloatArray) -> FloatArray:
    """ROC AUC per row of ``positives`` (draws x bins, bins ordered by score); NaN with one class."""
    import numpy as np

    negatives = counts - positives
    below = np.cumsum(negatives, axis=-1) - negatives
    wins = (positives * (below + 0.5 * negatives)).sum(axis=-1)
    pairs = positives.sum(axis=-1) * negatives.sum(axis=-1)
    return _ratio(wins, pairs)


def _class_metrics(predicted: FloatArray, other: FloatArray, counts: IntArray) -> dict[str, FloatArray]:
    """TP, FN (per draw), the predicted and other row counts and the AUC of one class.

    ``predicted`` and ``other`` are positives per draw and bin (draws x bins); ``counts``
    holds the rows per bin, predicted in row 0 and other in row 1.
    """
    import numpy as np

    tp = predicted.sum(axis=-1)
    return {
        "tp": tp,
        "fn": other.sum(axis=-1),
        "n_predicted": np.full_like(tp, float(counts[0].sum())),
        "n_other": np.full_like(tp, float(counts[1].sum())),
        "auc": _auc(predicted + other, counts.sum(axis=0)),
    }


def _metrics(
    task: EstimationTask, per_class: list[dict[str, FloatArray]], n_rows: int
) -> dict[str, FloatArray]:
    """Accuracy, precision, recall, F1 and ROC AUC per draw from the classes' counts."""
    import numpy as np

    precision = [_ratio(c["tp"], c["n_predicted"]) for c in per_class]
    recall = [_ratio(c["tp"], c["tp"] + c["fn"]) for c in per_class]
    f1 = [_ratio(2 * c["tp"], c["tp"] + c["n_predicted"] + c["fn"]) for c in per_class]
    if task == "binary":
        only = per_class[0]
        return {
            "accuracy": (only["tp"] + only["n_other"] - only["fn"]) / n_rows,
            "precision": precision[0],
            "recall": recall[0],
            "f1": f1[0],
            "roc_auc": only["auc"],
        }
    with np.errstate(invalid="ignore"):
        aucs = np.stack([c["auc"] for c in per_class])
        defined = np.isfinite(aucs)
        auc = np.where(
            defined.any(axis=0), np.nansum(aucs, axis=0) / np.maximum(defined.sum(axis=0), 1), np.nan
        )
    return {
        "accuracy": sum(c["tp"] for c in per_class) / n_rows,
        "precision": np.mean([np.nan_to_num(p) for p in precision], axis=0),
        "recall": np.mean([np.nan_to_num(r) for r in recall], axis=0),
        "f1": np.mean([np.nan_to_num(f) for f in f1], axis=0),
        "roc_auc": auc,
    }


def _draw_positives(rng: np.random.Generator, counts: IntArray, p: FloatArray, draws: int) -> IntArray:
    """``draws`` rows of ``Binomial(counts, p)`` per bin (every count positive).

    Sparse bins (a few rows each, as in a small window) are drawn row by row from uniforms,
    several times faster than numpy's binomial sampler there; the distribution is the same.
    """
    import numpy as np

    rows = int(counts.sum())
    if rows == 0:
        return np.zeros((draws, counts.size), dtype=np.int64)
    if rows > _SPARSE_ROWS_PER_BIN * counts.size or rows * draws > _SPARSE_MAX_CELLS:
        drawn: IntArray = rng.binomial(counts, p, size=(draws, counts.size))
        return drawn
    hits = rng.random((draws, rows)) < np.repeat(p, counts)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    summed: IntArray = np.add.reduceat(hits.view(np.uint8), starts, axis=1, dtype=np.int64)
    return summed


def _draw_independent(rng: np.random.Generator, counts: IntArray, p: FloatArray, draws: int) -> FloatArray:
    """Positives per draw and occupied bin column (draws x 2 x columns), each bin on its own."""
    import numpy as np

    columns = counts.sum(axis=0) > 0
    kept, p_kept = counts[:, columns], p[:, columns]
    occupied = kept > 0
    sample = np.zeros((draws, *kept.shape))
    sample[:, occupied] = _draw_positives(rng, kept[occupied], p_kept[occupied], draws)
    return sample


def _spread(rng: np.random.Generator, totals: IntArray, shares: FloatArray) -> IntArray:
    """Per draw, ``totals[draw]`` items spread over bins by a multinomial draw with ``shares``.

    Few items (a small window) are placed one by one by inverse sampling, much faster than
    numpy's multinomial sampler, which costs a binomial draw per bin; the distribution is the same.
    """
    import numpy as np

    items = int(totals.sum())
    if items > totals.size * shares.size:
        drawn: IntArray = rng.multinomial(totals, shares)
        return drawn
    cumulative = np.cumsum(shares)
    picks = np.searchsorted(cumulative, rng.random(items) * cumulative[-1], side="right")
    cells = np.repeat(np.arange(totals.size), totals) * shares.size + np.minimum(picks, shares.size - 1)
    placed: IntArray = np.bincount(cells, minlength=totals.size * shares.size).reshape(totals.size, -1)
    return placed


def _shares(weights: FloatArray, fallback: FloatArray) -> FloatArray:
    import numpy as np

    chosen = weights if weights.sum() > 0 else fallback
    return np.asarray(chosen / chosen.sum(), dtype=np.float64)


def _draw_joint(
    rng: np.random.Generator,
    window: ScoreStatistics,
    counts_by_class: list[IntArray],
    p_by_class: list[FloatArray],
    draws: int,
) -> list[FloatArray]:
    """Multiclass positives per draw, tied across classes through the expected confusion matrix.

    Per class ``d``, the right rows among those predicted ``d`` are drawn bin by bin
    (``Binomial(n_b, p_b)``); the wrong ones are shared among the other classes by a
    multinomial draw with the expected confusion row ``sums_by_predicted`` as weights, so a
    row counted right for ``d`` is never also a positive of another class. Each class's
    share is then spread over its other-rows bins by a multinomial draw weighted ``n_b p_b``.
    The confusion row holds the raw scores' sums: with a calibrator, the shares of the wrong
    rows among the other classes are those of the uncalibrated scores.
    """
    import numpy as np

    from modelwatch.contracts.estimation import SCORE_SUM_SCALE

    k = len(counts_by_class)
    by_class = np.array([c.sums_by_predicted or [0] * k for c in window.classes], dtype=np.float64)
    confusion = by_class.T / SCORE_SUM_SCALE  # [predicted d, class c]
    samples, missed = [], np.zeros((draws, k))
    for d in range(k):
        counts, p = counts_by_class[d], p_by_class[d]
        columns = counts.sum(axis=0) > 0
        kept = counts[:, columns]
        sample = np.zeros((draws, *kept.shape))
        occupied = kept[0] > 0
        sample[:, 0, occupied] = _draw_positives(rng, kept[0][occupied], p[0][columns][occupied], draws)
        samples.append(sample)
        wrong = (int(kept[0].sum()) - sample[:, 0, :].sum(axis=1)).astype(np.int64)
        others = [c for c in range(k) if c != d]
        if others and wrong.any():
            shares = _shares(confusion[d, others], np.ones(len(others)))
            missed[:, others] += rng.multinomial(wrong, shares)
    for c in range(k):
        counts, p = counts_by_class[c], p_by_class[c]
        columns = counts.sum(axis=0) > 0
        kept, p_kept = counts[:, columns], p[:, columns]
        occupied = kept[1] > 0
        if occupied.any() and missed[:, c].any():
            weights = _shares((kept[1] * p_kept[1])[occupied], kept[1][occupied].astype(np.float64))
            samples[c][:, 1, occupied] = _spread(rng, missed[:, c].astype(np.int64), weights)
    return samples


def _probabilities(window: ScoreStatistics, index: int, reference: EstimationReference | None) -> FloatArray:
    _, means, _ = class_arrays(window, index)
    if reference is None or reference.calibrator is None:
        return means
    return reference.calibrator.apply(window.class_names[index], means)


def _value(values: FloatArray) -> float | None:
    import numpy as np

    value = float(values.reshape(-1)[0])
    return value if np.isfinite(value) else None


def _check_shapes(window: ScoreStatistics, reference: EstimationReference | None) -> None:
    if reference is None:
        return
    ref = reference.statistics
    if (ref.task, ref.n_bins, ref.threshold, ref.class_names) != (
        window.task,
        window.n_bins,
        window.threshold,
        window.class_names,
    ):
        raise ValueError(
            "the window's score statistics do not match the reference's: "
            f"({window.task}, {window.n_bins} bins, threshold {window.threshold}, "
            f"classes {window.class_names}) "
            f"against ({ref.task}, {ref.n_bins} bins, threshold {ref.threshold}, classes {ref.class_names})"
        )


def estimate_performance(
    window: ScoreStatistics,
    reference: EstimationReference | None,
    *,
    band: float = DEFAULT_BAND,
    draws: int = DEFAULT_DRAWS,
    seed: int = 0,
    range_coverage: float = DEFAULT_RANGE_COVERAGE,
    max_outside_share: float = DEFAULT_MAX_OUTSIDE_SHARE,
) -> PerformanceEstimate:
    """The window's expected confusion counts and metrics, each with its band, and whether to doubt them.

    Parameters
    ----------
    window:
        The window's merged score statistics (labels, if any, are ignored).
    reference:
        The version's prepared reference (``reference.prepare_reference``): its calibrator is
        applied and its check and range decide ``doubtful``; None estimates from the raw
        scores and is doubtful.
    band:
        Probability content of the band (0.95: the 2.5% and 97.5% quantiles of the draws).
    draws:
        Seeded draws of the labels behind the band.
    seed:
        Seed of the draws (the same statistics and seed give the same band).
    range_coverage, max_outside_share:
        The range rule of ``doubt``.

    Returns
    -------
    PerformanceEstimate

    Raises
    ------
    ValueError
        When ``band`` is not in (0, 1), ``draws < 1``, or the window's shape differs from the reference's.
    """
    import numpy as np

    if not 0.0 < band < 1.0:
        raise ValueError(f"band must be in (0, 1), got {band}")
    if draws < 1:
        raise ValueError(f"draws must be at least 1, got {draws}")
    _check_shapes(window, reference)
    reasons = doubt_reasons(
        window, reference, range_coverage=range_coverage, max_outside_share=max_outside_share
    )
    calibrated = [] if reference is None or reference.calibrator is None else reference.calibrator.mapped
    rng = np.random.default_rng(seed)
    expected_classes, confusion = [], []
    counts_by_class, p_by_class = [], []
    for index, name in enumerate(window.class_names):
        counts, _, _ = class_arrays(window, index)
        p = _probabilities(window, index, reference)
        counts_by_class.append(counts)
        p_by_class.append(p)
        expected = counts * p
        expected_classes.append(_class_metrics(expected[0][None, :], expected[1][None, :], counts))
        tp, fn = float(expected[0].sum()), float(expected[1].sum())
        confusion.append(
            ExpectedConfusion(
                name=name, tp=tp, fp=float(counts[0].sum()) - tp, fn=fn, tn=float(counts[1].sum()) - fn
            )
        )
    if window.task == "binary":
        samples = [_draw_independent(rng, counts_by_class[0], p_by_class[0], draws)]
    else:
        samples = _draw_joint(rng, window, counts_by_class, p_by_class, draws)
    drawn_classes = [
        _class_metrics(sample[:, 0, :], sample[:, 1, :], counts[:, counts.sum(axis=0) > 0])
        for sample, counts in zip(samples, counts_by_class, strict=True)
    ]
    n_rows = max(window.n_rows, 1)
    point = _metrics(window.task, expected_classes, n_rows)
    spread = _metrics(window.task, drawn_classes, n_rows)
    tail = (1.0 - band) / 2.0
    metrics = {}
    for metric in METRICS:
        value = _value(point[metric]) if window.n_rows else None
        values = spread[metric][np.isfinite(spread[metric])]
        if value is None or values.size == 0:
            metrics[metric] = MetricEstimate(value=value, lower=None, upper=None)
            continue
        low, high = np.quantile(values, [tail, 1.0 - tail])
        metrics[metric] = MetricEstimate(value=value, lower=float(low), upper=float(high))
    return PerformanceEstimate(
        task=window.task,
        n_rows=window.n_rows,
        averaging="positive_class" if window.task == "binary" else "macro_one_vs_rest",
        confusion=confusion,
        band=band,
        draws=draws,
        seed=seed,
        calibrated_classes=calibrated,
        doubtful=bool(reasons),
        reasons=reasons,
        **metrics,
    )


def realized_performance(window: ScoreStatistics) -> dict[str, float | None]:
    """The realized metrics of labelled statistics, computed as the estimate is (bins, ties, averaging).

    Raises
    ------
    ValueError
        When the statistics carry no labels.
    """
    if not window.labelled:
        raise ValueError("the score statistics carry no labels: nothing realized to compute")
    per_class = []
    for index in range(len(window.classes)):
        counts, _, positives = class_arrays(window, index)
        assert positives is not None
        observed = positives.astype(float)
        per_class.append(_class_metrics(observed[0][None, :], observed[1][None, :], counts))
    if window.n_rows == 0:
        return dict.fromkeys(METRICS)
    values = _metrics(window.task, per_class, window.n_rows)
    return {metric: _value(values[metric]) for metric in METRICS}
