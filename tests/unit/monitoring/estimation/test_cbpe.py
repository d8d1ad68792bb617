"""CBPE in seeded worlds: the estimate tracks covariate shift, doubt, determinism, bad input.

Band coverage on calibrated data is ``test_cbpe_coverage.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

from modelwatch.monitoring.estimation import (
    EstimationReference,
    binary_statistics,
    estimate_performance,
    multiclass_statistics,
    prepare_reference,
)
from tests.unit.monitoring.estimation.worlds import (
    CLASSES,
    binary_realized,
    binary_world,
    multiclass_realized,
    multiclass_world,
)


def _binary_reference(seed: int = 10) -> EstimationReference:
    scores, labels = binary_world(np.random.default_rng(seed), 50_000)
    return prepare_reference(binary_statistics(scores, labels=labels))


def _multiclass_reference(seed: int = 11) -> EstimationReference:
    p, labels = multiclass_world(np.random.default_rng(seed), 50_000)
    return prepare_reference(multiclass_statistics(p, CLASSES, labels=labels))


@pytest.mark.parametrize(("mean", "scale"), [(0.0, 1.5), (0.33, 1.0), (0.33, 0.5), (-1.5, 0.8)])
def test_under_covariate_shift_the_estimate_tracks_the_realized_metrics(mean: float, scale: float) -> None:
    """The features move (towards the decision boundary, or away), P(label | features) does not."""
    reference = _binary_reference()
    scores, labels = binary_world(np.random.default_rng(14), 50_000, mean=mean, scale=scale)

    estimate = estimate_performance(binary_statistics(scores), reference)

    realized = binary_realized(scores, labels)
    assert not estimate.doubtful, estimate.reasons
    for metric in ("accuracy", "precision", "recall", "f1", "roc_auc"):
        band = estimate.metric(metric)
        assert band.value == pytest.approx(realized[metric], abs=0.015), metric
        assert band.lower is not None and band.upper is not None
        assert band.lower - 0.005 <= realized[metric] <= band.upper + 0.005, metric  # type: ignore[operator]


def test_the_estimated_drop_under_shift_is_the_realized_drop() -> None:
    reference = _binary_reference()
    rng = np.random.default_rng(15)
    before_scores, before_labels = binary_world(rng, 50_000)
    after_scores, after_labels = binary_world(rng, 50_000, mean=0.33, scale=0.5)

    before = estimate_performance(binary_statistics(before_scores), reference)
    after = estimate_performance(binary_statistics(after_scores), reference)

    realized_drop = (
        binary_realized(before_scores, before_labels)["accuracy"]
        - binary_realized(after_scores, after_labels)["accuracy"]  # type: ignore[operator]
    )
    assert before.accuracy.value is not None and after.accuracy.value is not None
    assert realized_drop > 0.15
    assert before.accuracy.value - after.accuracy.value == pytest.approx(realized_drop, abs=0.015)


def test_multiclass_estimate_tracks_a_shift() -> None:
    reference = _multiclass_reference()
    p, labels = multiclass_world(np.random.default_rng(16), 50_000, mean=(0.4, -0.3), scale=0.7)

    estimate = estimate_performance(multiclass_statistics(p, CLASSES), reference)

    realized = multiclass_realized(p, labels)
    assert not estimate.doubtful, estimate.reasons
    for metric in ("accuracy", "precision", "recall", "f1", "roc_auc"):
        assert estimate.metric(metric).value == pytest.approx(realized[metric], abs=0.015), metric


def test_the_expected_confusion_adds_up_to_the_window() -> None:
    reference = _binary_reference()
    scores, _ = binary_world(np.random.default_rng(17), 10_000)

    estimate = estimate_performance(binary_statistics(scores), reference)

    (confusion,) = estimate.confusion
    assert confusion.tp + confusion.fp == pytest.approx(int((scores >= 0.5).sum()))
    assert confusion.tp + confusion.fp + confusion.fn + confusion.tn == pytest.approx(10_000)
    assert confusion.tp + confusion.fn == pytest.approx(scores.sum(), rel=1e-6)


def test_the_same_statistics_and_seed_give_the_same_band() -> None:
    reference = _binary_reference()
    statistics = binary_statistics(binary_world(np.random.default_rng(18), 3_000)[0])

    first = estimate_performance(statistics, reference)

    assert estimate_performance(statistics, reference) == first
    assert estimate_performance(statistics, reference, seed=1).accuracy != first.accuracy


def test_scores_far_outside_the_reference_make_the_estimate_doubtful() -> None:
    reference = _binary_reference()
    rng = np.random.default_rng(19)
    inside = binary_statistics(binary_world(rng, 5_000)[0])
    outside = binary_statistics(np.concatenate([binary_world(rng, 4_000)[0], np.full(1_000, 0.9999999)]))
    narrow_scores, narrow_labels = binary_world(np.random.default_rng(20), 50_000, mean=0.33, scale=0.3)
    narrow = prepare_reference(binary_statistics(narrow_scores, labels=narrow_labels))

    assert not estimate_performance(inside, reference).doubtful
    doubtful = estimate_performance(inside, narrow)
    assert doubtful.doubtful and "outside the reference's central 99%" in doubtful.reasons[0]
    assert estimate_performance(outside, reference).doubtful


def test_without_a_reference_the_estimate_is_doubtful() -> None:
    statistics = binary_statistics(binary_world(np.random.default_rng(21), 2_000)[0])

    estimate = estimate_performance(statistics, None)

    assert estimate.doubtful and "calibration was never checked" in estimate.reasons[0]
    assert estimate.accuracy.value is not None


def test_an_empty_window_has_no_metrics() -> None:
    estimate = estimate_performance(binary_statistics([]), _binary_reference())
    assert estimate.n_rows == 0 and estimate.accuracy.value is None and estimate.roc_auc.lower is None


def test_a_window_of_another_shape_than_the_reference_is_refused() -> None:
    reference = _binary_reference()
    with pytest.raises(ValueError, match=r"do not match the reference's.*threshold 0\.6.*threshold 0\.5"):
        estimate_performance(binary_statistics([0.2, 0.7], threshold=0.6), reference)
    with pytest.raises(ValueError, match=r"band must be in \(0, 1\)"):
        estimate_performance(binary_statistics([0.2, 0.7]), reference, band=1.0)
