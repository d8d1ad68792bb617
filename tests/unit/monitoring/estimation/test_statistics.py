"""Score statistics from arrays: rows in the right bins, the decision rule kept exactly, bad input refused."""

from __future__ import annotations

import numpy as np
import pytest

from modelwatch.contracts.estimation import SCORE_SUM_SCALE, score_bin_edges
from modelwatch.monitoring.estimation import binary_statistics, multiclass_statistics, realized_performance
from modelwatch.monitoring.estimation.statistics import bin_index, class_arrays
from tests.unit.monitoring.estimation.worlds import (
    CLASSES,
    binary_realized,
    binary_world,
    multiclass_realized,
    multiclass_world,
)


@pytest.mark.parametrize("threshold", [None, 0.3, 0.5])
def test_each_score_lands_in_the_bin_whose_edges_hold_it(threshold: float | None) -> None:
    rng = np.random.default_rng(5)
    scores = np.concatenate([rng.random(50_000), [0.0, 0.3, 1.0, np.nextafter(0.3, 0), np.nextafter(1.0, 0)]])
    edges = np.asarray(score_bin_edges(1000, threshold))

    bins = bin_index(scores, 1000, threshold)

    assert np.all(edges[bins] <= scores)
    assert np.all((scores < edges[bins + 1]) | (scores == 1.0))


def test_predicted_positive_is_score_at_or_above_the_threshold() -> None:
    scores = np.array([0.2999999, 0.3, 0.3000001, 0.9, 0.1])
    statistics = binary_statistics(scores, threshold=0.3)

    assert statistics.classes[0].predicted.n == 3 and statistics.classes[0].other.n == 2


def test_bin_means_are_the_rows_mean_scores() -> None:
    scores = np.array([0.0001, 0.0002, 0.0009, 0.7771, 0.7779])
    counts, means, _ = class_arrays(binary_statistics(scores), 0)

    assert counts[1, 0] == 3 and counts[0, 777] == 2
    assert means[1, 0] == pytest.approx(0.0004, abs=1 / SCORE_SUM_SCALE)
    assert means[0, 777] == pytest.approx(0.7775, abs=1 / SCORE_SUM_SCALE)


def test_scores_that_are_not_probabilities_are_counted_and_left_out() -> None:
    statistics = binary_statistics([0.2, np.nan, 1.5, -0.1, np.inf, 0.8])
    assert (statistics.n_rows, statistics.invalid) == (2, 4)

    probabilities = np.array([[0.2, 0.8], [np.nan, 0.5], [0.6, 0.4]])
    multiclass = multiclass_statistics(probabilities, ["x", "y"], labels=["y", "x", "x"])
    assert (multiclass.n_rows, multiclass.invalid) == (2, 1)
    assert multiclass.classes[0].predicted.positives is not None
    assert sum(multiclass.classes[0].predicted.positives) == 1


def test_bad_labels_and_shapes_are_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="must be 0 or 1"):
        binary_statistics([0.1, 0.9], labels=[0, 2])
    with pytest.raises(ValueError, match="labels: 1 values for 2 scores"):
        binary_statistics([0.1, 0.9], labels=[0])
    with pytest.raises(ValueError, match=r"threshold must be in \(0, 1\)"):
        binary_statistics([0.1], threshold=1.0)
    with pytest.raises(ValueError, match=r"expected shape \(n, 3\)"):
        multiclass_statistics(np.ones((4, 2)) / 2, CLASSES)
    with pytest.raises(ValueError, match=r"labels: unknown classes \['z'\]"):
        multiclass_statistics(np.ones((1, 3)) / 3, CLASSES, labels=["z"])
    with pytest.raises(ValueError, match=r"predicted: class indices must be in \[0, 2\]"):
        multiclass_statistics(np.ones((1, 3)) / 3, CLASSES, predicted=[3])


def test_realized_metrics_from_labelled_statistics_match_the_rows() -> None:
    """The confusion counts are exact (the threshold is a bin edge); AUC differs only by same-bin pairs."""
    rng = np.random.default_rng(6)
    scores, labels = binary_world(rng, 20_000)
    realized = realized_performance(binary_statistics(scores, labels=labels, threshold=0.4))
    exact = binary_realized(scores, labels, threshold=0.4)
    for metric in ("accuracy", "precision", "recall", "f1"):
        assert realized[metric] == pytest.approx(exact[metric], abs=1e-12)
    assert realized["roc_auc"] == pytest.approx(exact["roc_auc"], abs=2e-3)

    p, y = multiclass_world(rng, 20_000)
    realized = realized_performance(multiclass_statistics(p, CLASSES, labels=y))
    exact = multiclass_realized(p, y)
    for metric in ("accuracy", "precision", "recall", "f1"):
        assert realized[metric] == pytest.approx(exact[metric], abs=1e-12)
    assert realized["roc_auc"] == pytest.approx(exact["roc_auc"], abs=2e-3)


def test_realized_metrics_need_labels() -> None:
    with pytest.raises(ValueError, match="carry no labels"):
        realized_performance(binary_statistics([0.2, 0.7]))
