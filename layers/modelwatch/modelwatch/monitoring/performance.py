"""Model performance from late labels, per model version (pure numpy, no scikit-learn).

Labels (``{"request_id", "index", "label"}``, from the feedback endpoint) are
joined to prediction events by ``(request_id, index)``; a label sent twice keeps
its last value; labels without a prediction in the window are counted as
unmatched. Then, per model version:

- ``prediction_type="probability"`` (P(positive class) of a binary classifier):
  ROC AUC (None when the window holds a single class), accuracy, precision, recall
  and F1 of ``score >= threshold`` (0.5), and log-loss with probabilities clipped
  to ``[1e-15, 1 - 1e-15]``. Labels must be 0/1 (or booleans, or "0"/"1"/"true"/"false").
- ``prediction_type="label"``: accuracy; precision, recall and F1 of class 1 for
  0/1 labels, macro-averaged over the classes seen otherwise.
- ``prediction_type="value"`` (regression): RMSE and MAE.

A metric that is undefined on the window (precision with no predicted positive,
AUC with one class) is None, with the reason in ``notes``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from itertools import pairwise
from typing import TYPE_CHECKING, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float64]

PERFORMANCE_SCHEMA_VERSION: Final = 1
LOG_LOSS_EPS: Final = 1e-15

PredictionType = Literal["probability", "label", "value"]


class ClassificationMetrics(BaseModel):
    model_config = ConfigDict(extra="forbid")

    auc: float | None = None
    accuracy: float | None = None
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    log_loss: float | None = None
    positive_rate: float | None = Field(None, description="Share of labels equal to 1 (binary only).")


class RegressionMetrics(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rmse: float | None = None
    mae: float | None = None


class VersionPerformance(BaseModel):
    """Performance of one model version over the labelled predictions of the window."""

    model_config = ConfigDict(extra="forbid")

    version: str
    n_predictions: int
    n_labelled: int
    classification: ClassificationMetrics | None = None
    regression: RegressionMetrics | None = None
    notes: list[str] = Field(default_factory=list)


class PerformanceReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = PERFORMANCE_SCHEMA_VERSION
    prediction_type: PredictionType
    threshold: float
    n_predictions: int
    n_labelled: int
    n_unmatched_labels: int
    versions: list[VersionPerformance]
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


# ----------------------------------------------------------------------------- metrics


def _average_ranks(values: FloatArray) -> FloatArray:
    """1-based ranks, ties sharing their average rank."""
    import numpy as np

    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    boundaries = np.concatenate([[True], ordered[1:] != ordered[:-1], [True]])
    starts = np.flatnonzero(boundaries)
    ranks_sorted = np.empty(values.size, dtype=np.float64)
    for start, stop in pairwise(starts):
        ranks_sorted[start:stop] = (start + stop + 1) / 2.0
    ranks = np.empty(values.size, dtype=np.float64)
    ranks[order] = ranks_sorted
    return ranks


def roc_auc(y_true: Any, scores: Any) -> float | None:
    """Area under the ROC curve (Mann-Whitney U / (n_pos * n_neg)); None with a single class."""
    import numpy as np

    y = np.asarray(y_true, dtype=np.float64)
    s = np.asarray(scores, dtype=np.float64)
    n_pos = int((y == 1).sum())
    n_neg = int(y.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = _average_ranks(s)
    u = float(ranks[y == 1].sum()) - n_pos * (n_pos + 1) / 2.0
    return u / (n_pos * n_neg)


def log_loss(y_true: Any, probabilities: Any, eps: float = LOG_LOSS_EPS) -> float:
    """Mean binary cross-entropy with probabilities clipped to ``[eps, 1 - eps]``."""
    import numpy as np

    y = np.asarray(y_true, dtype=np.float64)
    p = np.clip(np.asarray(probabilities, dtype=np.float64), eps, 1 - eps)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def binary_metrics(y_true: Any, y_pred: Any) -> tuple[float, float | None, float | None, float | None]:
    """Accuracy, precision, recall and F1 of class 1 (None where undefined)."""
    import numpy as np

    y = np.asarray(y_true, dtype=np.int64)
    p = np.asarray(y_pred, dtype=np.int64)
    tp = int(((y == 1) & (p == 1)).sum())
    fp = int(((y == 0) & (p == 1)).sum())
    fn = int(((y == 1) & (p == 0)).sum())
    accuracy = float((y == p).mean())
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)
    f1 = _ratio(2 * tp, 2 * tp + fp + fn)
    return accuracy, precision, recall, f1


def macro_metrics(y_true: list[str], y_pred: list[str]) -> tuple[float, float, float, float]:
    """Accuracy and macro-averaged precision, recall and F1 over the classes of both lists.

    A class's undefined precision or recall (no prediction or no label of it) counts as 0.
    """
    classes = sorted(set(y_true) | set(y_pred))
    precisions, recalls, f1s = [], [], []
    for cls in classes:
        tp = sum(t == cls and p == cls for t, p in zip(y_true, y_pred, strict=True))
        fp = sum(t != cls and p == cls for t, p in zip(y_true, y_pred, strict=True))
        fn = sum(t == cls and p != cls for t, p in zip(y_true, y_pred, strict=True))
        precisions.append(_ratio(tp, tp + fp) or 0.0)
        recalls.append(_ratio(tp, tp + fn) or 0.0)
        f1s.append(_ratio(2 * tp, 2 * tp + fp + fn) or 0.0)
    accuracy = sum(t == p for t, p in zip(y_true, y_pred, strict=True)) / len(y_true)
    k = len(classes)
    return accuracy, sum(precisions) / k, sum(recalls) / k, sum(f1s) / k


def regression_metrics(y_true: Any, y_pred: Any) -> RegressionMetrics:
    """RMSE and MAE."""
    import numpy as np

    errors = np.asarray(y_pred, dtype=np.float64) - np.asarray(y_true, dtype=np.float64)
    if errors.size == 0:
        return RegressionMetrics()
    return RegressionMetrics(rmse=math.sqrt(float(np.mean(errors**2))), mae=float(np.mean(np.abs(errors))))


# ----------------------------------------------------------------------------- join and report


def _binary(value: Any) -> int | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)) and value in (0, 1):
        return int(value)
    if isinstance(value, str) and value.strip().lower() in ("0", "1", "true", "false"):
        return 1 if value.strip().lower() in ("1", "true") else 0
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer of hundreds of digits, stored before labels were bounded
        return None
    return number if math.isfinite(number) else None


def join_labels(
    events: Iterable[Mapping[str, Any]], labels: Iterable[Mapping[str, Any]]
) -> tuple[list[tuple[str, Any, Any]], dict[str, int], int]:
    """Join labels to prediction events by ``(request_id, index)``.

    Returns
    -------
    tuple
        ``(version, prediction, label)`` per labelled prediction, the number of
        predictions per version, and the number of labels without a prediction.
    """
    by_key: dict[tuple[str, int], Any] = {}
    for label in labels:
        by_key[(str(label["request_id"]), int(label["index"]))] = label["label"]
    joined: list[tuple[str, Any, Any]] = []
    predictions: dict[str, int] = {}
    matched: set[tuple[str, int]] = set()
    for event in events:
        version = str(event.get("version", ""))
        predictions[version] = predictions.get(version, 0) + 1
        key = (str(event["request_id"]), int(event["index"]))
        if key in by_key and key not in matched:
            matched.add(key)
            joined.append((version, event.get("prediction"), by_key[key]))
    return joined, predictions, len(by_key) - len(matched)


def _classification_probability(
    pairs: list[tuple[Any, Any]], threshold: float, notes: list[str]
) -> ClassificationMetrics:
    import numpy as np

    kept = [
        (s, y)
        for s, y in ((_number(p), _binary(label)) for p, label in pairs)
        if s is not None and y is not None
    ]
    if len(kept) < len(pairs):
        notes.append(
            f"{len(pairs) - len(kept)} labelled predictions skipped (non-numeric score or non-binary label)"
        )
    if not kept:
        return ClassificationMetrics()
    scores = np.asarray([s for s, _ in kept], dtype=np.float64)
    y = np.asarray([label for _, label in kept], dtype=np.int64)
    accuracy, precision, recall, f1 = binary_metrics(y, (scores >= threshold).astype(np.int64))
    auc = roc_auc(y, scores)
    if auc is None:
        notes.append("auc: the labels hold a single class")
    if precision is None:
        notes.append("precision: no predicted positive")
    if recall is None:
        notes.append("recall: no positive label")
    return ClassificationMetrics(
        auc=auc,
        accuracy=accuracy,
        precision=precision,
        recall=recall,
        f1=f1,
        log_loss=log_loss(y, scores),
        positive_rate=float(y.mean()),
    )


def _classification_label(pairs: list[tuple[Any, Any]], notes: list[str]) -> ClassificationMetrics:
    from modelwatch.monitoring.profile import category_key

    notes.append("auc and log_loss need probabilities (prediction_type 'probability')")
    binary = [
        (p, y)
        for p, y in ((_binary(p), _binary(label)) for p, label in pairs)
        if p is not None and y is not None
    ]
    if len(binary) == len(pairs):
        y_true, y_pred = [y for _, y in binary], [p for p, _ in binary]
        accuracy, precision, recall, f1 = binary_metrics(y_true, y_pred)
        return ClassificationMetrics(
            accuracy=accuracy,
            precision=precision,
            recall=recall,
            f1=f1,
            positive_rate=sum(y_true) / len(y_true),
        )
    notes.append("precision, recall and f1 are macro-averaged over the classes")
    accuracy, precision, recall, f1 = macro_metrics(
        [category_key(label) for _, label in pairs], [category_key(p) for p, _ in pairs]
    )
    return ClassificationMetrics(accuracy=accuracy, precision=precision, recall=recall, f1=f1)


def _regression(pairs: list[tuple[Any, Any]], notes: list[str]) -> RegressionMetrics:
    kept = [
        (p, y)
        for p, y in ((_number(p), _number(label)) for p, label in pairs)
        if p is not None and y is not None
    ]
    if len(kept) < len(pairs):
        notes.append(f"{len(pairs) - len(kept)} labelled predictions skipped (non-numeric)")
    return regression_metrics([y for _, y in kept], [p for p, _ in kept])


def compute_performance(
    events: Iterable[Mapping[str, Any]],
    labels: Iterable[Mapping[str, Any]],
    prediction_type: PredictionType,
    threshold: float = 0.5,
) -> PerformanceReport:
    """Performance per model version of the labelled predictions among ``events``.

    Parameters
    ----------
    events:
        Prediction event records (``request_id``, ``index``, ``version``, ``prediction``).
    labels:
        Label records (``request_id``, ``index``, ``label``), possibly from later days.
    prediction_type:
        The manifest's prediction type: ``probability``, ``label`` or ``value``.
    threshold:
        Score at or above which a probability counts as a positive prediction.

    Returns
    -------
    PerformanceReport
    """
    joined, predictions, unmatched = join_labels(events, labels)
    by_version: dict[str, list[tuple[Any, Any]]] = {version: [] for version in predictions}
    for version, prediction, label in joined:
        by_version[version].append((prediction, label))
    versions: list[VersionPerformance] = []
    for version in sorted(by_version):
        pairs = by_version[version]
        notes: list[str] = []
        result = VersionPerformance(
            version=version, n_predictions=predictions[version], n_labelled=len(pairs)
        )
        if not pairs:
            notes.append("no labelled prediction")
        elif prediction_type == "probability":
            result.classification = _classification_probability(pairs, threshold, notes)
        elif prediction_type == "label":
            result.classification = _classification_label(pairs, notes)
        else:
            result.regression = _regression(pairs, notes)
        result.notes = notes
        versions.append(result)
    return PerformanceReport(
        prediction_type=prediction_type,
        threshold=threshold,
        n_predictions=sum(predictions.values()),
        n_labelled=len(joined),
        n_unmatched_labels=unmatched,
        versions=versions,
    )


# ----------------------------------------------------------------------------- from aggregates
# The SQL path (modelwatch.monitoring.performance_sql) brings back counts and sums, never
# rows; these turn them into the same metrics and notes as the in-memory path above.


def auc_from_histogram(positives: list[int], negatives: list[int]) -> tuple[float | None, float]:
    """ROC AUC from per-bin counts of positive and negative labels, and its error bound.

    Bins are ordered by score. A (positive, negative) pair in different bins is ordered
    exactly; a pair in the same bin counts one half, as a tie does in :func:`roc_auc`. The
    exact AUC differs from this one only through same-bin pairs of different scores, each
    off by at most one half, so ``|auc - exact| <= sum_b(P_b * N_b) / (2 * P * N)``: the
    returned bound (0 when every bin holds a single score; loose where many tied scores
    share a bin, since ties are counted exactly).

    Returns
    -------
    tuple
        ``(auc, bound)``; ``auc`` is None with a single class (bound 0).
    """
    n_pos, n_neg = sum(positives), sum(negatives)
    if n_pos == 0 or n_neg == 0:
        return None, 0.0
    below = 0  # negatives in lower bins
    wins = 0.0
    same_bin = 0
    for p, n in zip(positives, negatives, strict=True):
        wins += p * below + 0.5 * p * n
        same_bin += p * n
        below += n
    pairs = n_pos * n_neg
    return wins / pairs, same_bin / (2.0 * pairs)


def classification_from_counts(
    *,
    scored: int,
    skipped: int,
    tp: int,
    fp: int,
    fn: int,
    loss_sum: float,
    positives: list[int],
    negatives: list[int],
    notes: list[str],
) -> tuple[ClassificationMetrics, float]:
    """Metrics of a probability model from its confusion counts, log-loss sum and score histogram.

    ``scored`` labelled predictions had a numeric score and a binary label, ``skipped`` did
    not (the same note as the in-memory path). Returns the metrics and the AUC's error bound.
    """
    if skipped:
        notes.append(f"{skipped} labelled predictions skipped (non-numeric score or non-binary label)")
    if not scored:
        return ClassificationMetrics(), 0.0
    tn = scored - tp - fp - fn
    auc, bound = auc_from_histogram(positives, negatives)
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)
    if auc is None:
        notes.append("auc: the labels hold a single class")
    if precision is None:
        notes.append("precision: no predicted positive")
    if recall is None:
        notes.append("recall: no positive label")
    metrics = ClassificationMetrics(
        auc=auc,
        accuracy=(tp + tn) / scored,
        precision=precision,
        recall=recall,
        f1=_ratio(2 * tp, 2 * tp + fp + fn),
        log_loss=loss_sum / scored,
        positive_rate=(tp + fn) / scored,
    )
    return metrics, bound


def regression_from_sums(
    *, scored: int, skipped: int, squared_sum: float, absolute_sum: float, notes: list[str]
) -> RegressionMetrics:
    """RMSE and MAE from the sums of squared and absolute errors of ``scored`` predictions."""
    if skipped:
        notes.append(f"{skipped} labelled predictions skipped (non-numeric)")
    if not scored:
        return RegressionMetrics()
    return RegressionMetrics(rmse=math.sqrt(squared_sum / scored), mae=absolute_sum / scored)


def classification_from_pairs(
    pairs: list[tuple[Any, Any, int]], notes: list[str], rest: int = 0, rest_correct: int = 0
) -> ClassificationMetrics:
    """Metrics of a label model from ``(prediction, label, count)`` per pair of values.

    ``rest`` labelled predictions in rarer pairs were not brought back one by one
    (``rest_correct`` of them right): they count in accuracy, and the macro averages are
    over the classes of the pairs kept (a note says so).
    """
    from modelwatch.monitoring.profile import category_key

    notes.append("auc and log_loss need probabilities (prediction_type 'probability')")
    parsed: dict[tuple[int | None, int | None], int] = {}
    all_binary = not rest
    for p, y, count in pairs:
        key = (_binary(p), _binary(y))
        if key[0] is None or key[1] is None:
            all_binary = False
        parsed[key] = parsed.get(key, 0) + count
    total = sum(count for _, _, count in pairs) + rest
    if all_binary:
        tp, fp = parsed.get((1, 1), 0), parsed.get((1, 0), 0)
        fn, tn = parsed.get((0, 1), 0), parsed.get((0, 0), 0)
        return ClassificationMetrics(
            accuracy=(tp + tn) / total,
            precision=_ratio(tp, tp + fp),
            recall=_ratio(tp, tp + fn),
            f1=_ratio(2 * tp, 2 * tp + fp + fn),
            positive_rate=(tp + fn) / total,
        )
    notes.append("precision, recall and f1 are macro-averaged over the classes")
    counts: dict[tuple[str, str], int] = {}
    for p, y, count in pairs:
        classes_of_pair = (category_key(p), category_key(y))
        counts[classes_of_pair] = counts.get(classes_of_pair, 0) + count
    if rest:
        notes.append(f"{rest} labelled predictions in rarer (prediction, label) pairs count in accuracy only")
    classes = sorted({c for pair in counts for c in pair})
    precisions, recalls, f1s = [], [], []
    for cls in classes:
        tp = counts.get((cls, cls), 0)
        fp = sum(n for (p, y), n in counts.items() if p == cls and y != cls)
        fn = sum(n for (p, y), n in counts.items() if y == cls and p != cls)
        precisions.append(_ratio(tp, tp + fp) or 0.0)
        recalls.append(_ratio(tp, tp + fn) or 0.0)
        f1s.append(_ratio(2 * tp, 2 * tp + fp + fn) or 0.0)
    correct = sum(n for (p, y), n in counts.items() if p == y) + rest_correct
    k = len(classes)
    return ClassificationMetrics(
        accuracy=correct / total, precision=sum(precisions) / k, recall=sum(recalls) / k, f1=sum(f1s) / k
    )
