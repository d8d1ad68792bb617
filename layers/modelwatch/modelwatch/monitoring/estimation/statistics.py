"""Score statistics from arrays of predictions: the per-object work of performance estimation.

``binary_statistics`` bins P(positive) around the decision threshold; ``multiclass_statistics``
bins each class's probability, split by the predicted class. Both return the mergeable
document of ``modelwatch.contracts.estimation`` (numpy ``bincount``, one pass per class).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from modelwatch.contracts.estimation import (
    DEFAULT_SCORE_BINS,
    DEFAULT_THRESHOLD,
    SCORE_SUM_SCALE,
    ClassScores,
    ScoreHistogram,
    ScoreStatistics,
    threshold_bin,
)

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float64]
    IntArray = npt.NDArray[np.int64]
    BoolArray = npt.NDArray[np.bool_]

# Fixed-point sums are float64 bincounts of integers below 2**24: exact up to 2**53, so 2**28 rows a pass.
_CHUNK = 2**28


def bin_index(scores: FloatArray, n_bins: int, threshold: float | None) -> IntArray:
    """The bin of each score in [0, 1] on the grid of ``contracts.estimation.score_bin_edges``."""
    import numpy as np

    if threshold is None:
        return np.minimum((scores * n_bins).astype(np.int64), n_bins - 1)
    k = threshold_bin(n_bins, threshold)
    below = np.clip((scores / threshold * k).astype(np.int64), 0, k - 1)
    above = np.clip(
        k + ((scores - threshold) / (1.0 - threshold) * (n_bins - k)).astype(np.int64), k, n_bins - 1
    )
    return np.where(scores < threshold, below, above)


def _histograms(
    scores: FloatArray, bins: IntArray, predicted: BoolArray, positive: BoolArray | None, n_bins: int
) -> tuple[ScoreHistogram, ScoreHistogram]:
    import numpy as np

    slot = bins + np.where(predicted, 0, n_bins)
    counts = np.bincount(slot, minlength=2 * n_bins)
    sums = np.zeros(2 * n_bins, dtype=np.int64)
    for start in range(0, max(scores.size, 1), _CHUNK):
        part = slice(start, start + _CHUNK)
        fixed = np.rint(scores[part] * SCORE_SUM_SCALE)
        sums += np.bincount(slot[part], weights=fixed, minlength=2 * n_bins).astype(np.int64)
    positives = None if positive is None else np.bincount(slot[positive], minlength=2 * n_bins)

    def histogram(part: slice) -> ScoreHistogram:
        return ScoreHistogram(
            counts=counts[part].tolist(),
            score_sums=sums[part].tolist(),
            positives=None if positives is None else positives[part].tolist(),
        )

    return histogram(slice(0, n_bins)), histogram(slice(n_bins, 2 * n_bins))


def _valid_scores(scores: FloatArray) -> BoolArray:
    import numpy as np

    with np.errstate(invalid="ignore"):
        return np.isfinite(scores) & (scores >= 0.0) & (scores <= 1.0)


def binary_statistics(
    scores: Any,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    labels: Any = None,
    n_bins: int = DEFAULT_SCORE_BINS,
    positive_class: str = "1",
) -> ScoreStatistics:
    """The score statistics of a binary classifier's predictions.

    Parameters
    ----------
    scores:
        P(positive) per row (array-like of floats); a value that is not a number in [0, 1]
        is counted in ``invalid`` and left out.
    threshold:
        The model's decision threshold: predicted positive is ``score >= threshold``.
    labels:
        Optional 0/1 (or boolean) labels, one per row: the statistics then carry ``positives``.
    n_bins:
        Bins on [0, 1]; ``threshold`` is always one of their edges.
    positive_class:
        The name recorded for the positive class.

    Returns
    -------
    ScoreStatistics
        ``task="binary"``, one class.

    Raises
    ------
    ValueError
        When ``threshold`` is not in (0, 1), ``n_bins < 2``, or ``labels`` is not one 0/1 value per score.
    """
    import numpy as np

    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    if n_bins < 2:
        raise ValueError(f"n_bins must be at least 2, got {n_bins}")
    values = np.asarray(scores, dtype=np.float64).ravel()
    valid = _valid_scores(values)
    positive = None
    if labels is not None:
        y = np.asarray(labels).ravel()
        if y.size != values.size:
            raise ValueError(f"labels: {y.size} values for {values.size} scores")
        y = y.astype(np.float64)
        if not np.isin(y, (0.0, 1.0)).all():
            raise ValueError("labels: a binary task's labels must be 0 or 1")
        positive = (y == 1.0)[valid]
    kept = values[valid]
    bins = bin_index(kept, n_bins, threshold)
    predicted, other = _histograms(kept, bins, kept >= threshold, positive, n_bins)
    return ScoreStatistics(
        task="binary",
        n_bins=n_bins,
        threshold=threshold,
        n_rows=int(kept.size),
        invalid=int(values.size - kept.size),
        classes=[ClassScores(name=positive_class, predicted=predicted, other=other)],
    )


def _class_indices(values: Any, classes: Sequence[str], what: str, n: int) -> IntArray:
    import numpy as np

    array = np.asarray(values).ravel()
    if array.size != n:
        raise ValueError(f"{what}: {array.size} values for {n} rows")
    if array.dtype.kind in "iu":
        indices = array.astype(np.int64)
    else:
        lookup = {name: i for i, name in enumerate(classes)}
        unknown = sorted({str(v) for v in array.tolist() if str(v) not in lookup})
        if unknown:
            raise ValueError(f"{what}: unknown classes {unknown[:5]}; known: {list(classes)}")
        indices = np.fromiter((lookup[str(v)] for v in array.tolist()), dtype=np.int64, count=n)
    if indices.size and (indices.min() < 0 or indices.max() >= len(classes)):
        raise ValueError(f"{what}: class indices must be in [0, {len(classes) - 1}]")
    return indices


def multiclass_statistics(
    probabilities: Any,
    classes: Sequence[str],
    *,
    predicted: Any = None,
    labels: Any = None,
    n_bins: int = DEFAULT_SCORE_BINS,
) -> ScoreStatistics:
    """The score statistics of a multiclass classifier's predictions (one-vs-rest per class).

    Parameters
    ----------
    probabilities:
        An ``(n, k)`` array-like, P(class) per row and class, in the order of ``classes``. A
        row with a value that is not a number in [0, 1] is counted in ``invalid`` and left out.
    classes:
        The ``k`` class names.
    predicted:
        The predicted class per row (indices into ``classes`` or names); by default the arg max.
    labels:
        Optional true class per row (indices or names): the statistics then carry ``positives``.
    n_bins:
        Uniform bins on [0, 1].

    Returns
    -------
    ScoreStatistics
        ``task="multiclass"``, one entry per class.

    Raises
    ------
    ValueError
        When the shapes disagree, ``k < 2``, names repeat, or a class index or name is unknown.
    """
    import numpy as np

    matrix = np.asarray(probabilities, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[1] != len(classes):
        raise ValueError(f"probabilities: expected shape (n, {len(classes)}), got {matrix.shape}")
    if len(classes) < 2 or len(set(classes)) != len(classes):
        raise ValueError(f"classes: need at least two distinct names, got {list(classes)}")
    if n_bins < 2:
        raise ValueError(f"n_bins must be at least 2, got {n_bins}")
    n = matrix.shape[0]
    valid: BoolArray = np.asarray(_valid_scores(matrix).all(axis=1))
    if predicted is None:
        chosen = np.argmax(np.where(valid[:, None], matrix, 0.0), axis=1)
    else:
        chosen = _class_indices(predicted, classes, "predicted", n)
    truth = None if labels is None else _class_indices(labels, classes, "labels", n)[valid]
    kept, chosen = matrix[valid], chosen[valid]
    entries = []
    for c, name in enumerate(classes):
        scores = np.ascontiguousarray(kept[:, c])
        bins = bin_index(scores, n_bins, None)
        hist_predicted, hist_other = _histograms(
            scores, bins, chosen == c, None if truth is None else truth == c, n_bins
        )
        fixed = np.rint(scores * SCORE_SUM_SCALE)
        by_predicted = np.bincount(chosen, weights=fixed, minlength=len(classes)).astype(np.int64)
        entries.append(
            ClassScores(
                name=str(name),
                predicted=hist_predicted,
                other=hist_other,
                sums_by_predicted=by_predicted.tolist(),
            )
        )
    return ScoreStatistics(
        task="multiclass",
        n_bins=n_bins,
        n_rows=int(kept.shape[0]),
        invalid=int(n - kept.shape[0]),
        classes=entries,
    )


def class_arrays(statistics: ScoreStatistics, index: int) -> tuple[IntArray, FloatArray, IntArray | None]:
    """One class's histograms as arrays of shape ``(2, n_bins)``: row 0 predicted, row 1 other.

    Returns the counts, each bin's mean score (the bin's midpoint where it is empty) and
    the positive labels (None for unlabelled statistics).
    """
    import numpy as np

    scores = statistics.classes[index]
    counts = np.array([scores.predicted.counts, scores.other.counts], dtype=np.int64)
    sums = np.array([scores.predicted.score_sums, scores.other.score_sums], dtype=np.float64)
    edges = np.asarray(statistics.edges)
    midpoints = np.broadcast_to((edges[:-1] + edges[1:]) / 2.0, counts.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / SCORE_SUM_SCALE / np.maximum(counts, 1), midpoints)
    positives = None
    if scores.predicted.positives is not None and scores.other.positives is not None:
        positives = np.array([scores.predicted.positives, scores.other.positives], dtype=np.int64)
    return counts, np.clip(means, 0.0, 1.0), positives
