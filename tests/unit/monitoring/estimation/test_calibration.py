"""The calibration check's size and power over seeds, the isotonic fit, and the calibrator fixing CBPE.

Size: on calibrated references the Hosmer-Lemeshow p-value falls below 0.05 in about 5% of
seeds (400 seeds: a standard deviation of 1.1%; accepted 2% to 9%), and the check (which
also needs an ECE of at least 0.01) fails no more often. Power: an overconfident model
(logit scaled by 1.3, an ECE near 0.04) fails it in every seed.
"""

from __future__ import annotations

import numpy as np
import pytest

from modelwatch.monitoring.estimation import (
    EstimationReference,
    IsotonicCalibrator,
    binary_statistics,
    check_calibration,
    estimate_performance,
    fit_calibrator,
    multiclass_statistics,
    prepare_reference,
)
from modelwatch.monitoring.estimation.calibration import isotonic_fit
from tests.unit.monitoring.estimation.worlds import (
    CLASSES,
    binary_realized,
    binary_world,
    multiclass_realized,
    multiclass_world,
    overconfident,
)

SEEDS = 400


def test_on_calibrated_references_the_check_fails_at_about_its_alpha() -> None:
    rejected = failed = 0
    for seed in range(SEEDS):
        scores, labels = binary_world(np.random.default_rng(1000 + seed), 5_000)
        (outcome,) = check_calibration(binary_statistics(scores, labels=labels)).classes
        rejected += outcome.p_value < 0.05
        failed += not outcome.calibrated

    assert 0.02 <= rejected / SEEDS <= 0.09, rejected
    assert failed <= rejected


def test_a_mildly_overconfident_model_fails_the_check_in_every_seed() -> None:
    for seed in range(100):
        scores, labels = binary_world(np.random.default_rng(2000 + seed), 5_000)
        check = check_calibration(binary_statistics(overconfident(scores, power=1.3), labels=labels))
        assert not check.calibrated, check.classes[0]


def test_multiclass_check_names_the_miscalibrated_class() -> None:
    p, labels = multiclass_world(np.random.default_rng(30), 20_000)
    skewed = p.copy()
    skewed[:, 1] = overconfident(np.clip(p[:, 1], 1e-9, 1 - 1e-9))

    assert check_calibration(multiclass_statistics(p, CLASSES, labels=labels)).calibrated
    assert check_calibration(multiclass_statistics(skewed, CLASSES, labels=labels)).failed == ["b"]


def test_isotonic_fit_is_the_weighted_least_squares_monotone_fit() -> None:
    """Against scikit-learn's IsotonicRegression (a test-only reference)."""
    from sklearn.isotonic import IsotonicRegression

    rng = np.random.default_rng(31)
    x = np.sort(rng.random(300))
    y = (rng.random(300) < x**2).astype(float)
    w = rng.integers(1, 20, 300).astype(float)

    xs, ys = isotonic_fit(x, y, w)

    expected = IsotonicRegression().fit(x, y, sample_weight=w).predict(x)
    assert np.allclose(np.interp(x, xs, ys), expected)
    assert np.all(np.diff(ys) >= 0) and np.all(np.diff(xs) >= 0)


def test_the_calibrator_fixes_the_estimate_of_a_miscalibrated_model() -> None:
    reference_scores, reference_labels = binary_world(np.random.default_rng(32), 50_000)
    statistics = binary_statistics(overconfident(reference_scores), labels=reference_labels)
    reference = prepare_reference(statistics)
    uncalibrated = EstimationReference(statistics=statistics, check=reference.check)
    assert reference.calibrator is not None and reference.calibrator.mapped == ["1"]

    for mean, scale in ((0.0, 1.5), (0.33, 0.7)):
        true_p, labels = binary_world(np.random.default_rng(33), 50_000, mean=mean, scale=scale)
        window = binary_statistics(overconfident(true_p))
        realized = binary_realized(overconfident(true_p), labels)

        fixed = estimate_performance(window, reference)
        raw = estimate_performance(window, uncalibrated)

        assert not fixed.doubtful and fixed.calibrated_classes == ["1"]
        assert raw.doubtful and "not calibrated for 1 and no calibrator" in raw.reasons[0]
        for metric in ("accuracy", "f1", "roc_auc"):
            assert fixed.metric(metric).value == pytest.approx(realized[metric], abs=0.01), metric
        assert abs(raw.accuracy.value - realized["accuracy"]) > 0.03  # type: ignore[operator]


def test_the_calibrated_band_keeps_its_coverage() -> None:
    scores, labels = binary_world(np.random.default_rng(34), 50_000)
    reference = prepare_reference(binary_statistics(overconfident(scores), labels=labels))
    rng = np.random.default_rng(35)
    covered = 0
    for _ in range(200):
        true_p, window_labels = binary_world(rng, 1_000)
        estimate = estimate_performance(binary_statistics(overconfident(true_p)), reference)
        realized = binary_realized(overconfident(true_p), window_labels)["accuracy"]
        covered += estimate.accuracy.lower <= realized <= estimate.accuracy.upper  # type: ignore[operator]

    assert 0.91 <= covered / 200 <= 0.99, covered


def test_multiclass_calibrator_maps_only_the_failed_class() -> None:
    p, labels = multiclass_world(np.random.default_rng(36), 50_000)
    skewed = p.copy()
    skewed[:, 1] = overconfident(np.clip(p[:, 1], 1e-9, 1 - 1e-9))
    reference = prepare_reference(multiclass_statistics(skewed, CLASSES, labels=labels))
    window_p, window_labels = multiclass_world(np.random.default_rng(37), 50_000)
    window_skewed = window_p.copy()
    window_skewed[:, 1] = overconfident(np.clip(window_p[:, 1], 1e-9, 1 - 1e-9))

    estimate = estimate_performance(
        multiclass_statistics(window_skewed, CLASSES, predicted=window_p.argmax(axis=1)), reference
    )

    assert reference.calibrator is not None and reference.calibrator.mapped == ["b"]
    realized = multiclass_realized(window_p, window_labels)
    assert estimate.accuracy.value == pytest.approx(realized["accuracy"], abs=0.01)
    assert estimate.recall.value == pytest.approx(realized["recall"], abs=0.015)


def test_calibrator_and_reference_round_trip_through_json() -> None:
    scores, labels = binary_world(np.random.default_rng(38), 20_000)
    reference = prepare_reference(binary_statistics(overconfident(scores), labels=labels))
    assert reference.calibrator is not None

    assert IsotonicCalibrator.from_json(reference.calibrator.to_json()) == reference.calibrator
    assert EstimationReference.from_json(reference.to_json()) == reference
    assert len(reference.calibrator.to_json()) < 50_000


def test_an_unlabelled_reference_cannot_be_checked() -> None:
    statistics = binary_statistics(np.linspace(0, 1, 50))
    with pytest.raises(ValueError, match="carry no labels"):
        check_calibration(statistics)
    with pytest.raises(ValueError, match="carry no labels"):
        fit_calibrator(statistics)
