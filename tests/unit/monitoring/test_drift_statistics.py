"""Drift detection's statistical behaviour over seeded simulations.

False alarms with unchanged data stay at or below the configured level at n = 1k,
10k, 100k and 1M (the 1M case simulated on profiles); known shifts are caught with
a few hundred rows; a negligible shift on a million rows is not flagged although
its p-value is tiny.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from modelwatch.monitoring.drift import DriftConfig, FeatureDriftConfig, benjamini_hochberg, detect_drift
from modelwatch.monitoring.drift.distributions import chi2_sf, normal_two_sided_p
from modelwatch.monitoring.drift.registry import TestInput
from modelwatch.monitoring.drift.tables import chi_square_test, count_table
from modelwatch.monitoring.drift.wasserstein import binned_wasserstein
from modelwatch.monitoring.profile import profile_against, profile_dataset
from tests.unit.monitoring.simulation import dataset, profile_level_pair, run

Q = 0.05


def allowed_rate(reps: int, level: float = Q) -> float:
    """The level plus three binomial standard errors (a false failure has probability ~0.1%)."""
    return level + 3 * math.sqrt(level * (1 - level) / reps)


def no_floor_config(names: list[str]) -> DriftConfig:
    """Effect floors at 0: only the p-values (and BH) decide, which checks their calibration."""
    return DriftConfig(
        features={name: FeatureDriftConfig(threshold=0.0) for name in names},
        missing_threshold=0.0,
        unseen_threshold=0.0,
    )


# ----------------------------------------------------------------------------- building blocks


@pytest.mark.parametrize(
    ("statistic", "df"), [(0.5, 1), (3.84, 1), (30.0, 10), (10.0, 25), (500.0, 40), (0.0, 3)]
)
def test_chi2_sf_matches_scipy(statistic: float, df: int) -> None:
    assert chi2_sf(statistic, df) == pytest.approx(stats.chi2.sf(statistic, df), rel=1e-9, abs=1e-300)


def test_normal_p_matches_scipy() -> None:
    for z in (0.0, 1.0, 1.96, 5.0, -3.0):
        assert normal_two_sided_p(z) == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-12)


def test_benjamini_hochberg_known_values() -> None:
    p = [0.01, 0.04, 0.03, 0.005, 0.2]
    # Reference: statsmodels.stats.multitest.multipletests(p, method="fdr_bh")[1]
    assert benjamini_hochberg(p) == pytest.approx([0.025, 0.05, 0.05, 0.025, 0.2])
    assert benjamini_hochberg([]) == []


def test_chi_square_matches_scipy_contingency() -> None:
    rng = np.random.default_rng(0)
    ref_profile = profile_dataset({"x": rng.normal(size=5000)})
    cur_profile = profile_against(ref_profile, {"x": rng.normal(0.1, 1, size=3000)})
    result = chi_square_test(count_table(ref_profile.features[0], cur_profile.features[0]))
    table = np.vstack([result.table.reference, result.table.current])
    expected = stats.chi2_contingency(table, correction=False)
    assert result.statistic == pytest.approx(expected.statistic)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-8)


@pytest.mark.parametrize(("shift", "scale"), [(0.0, 1.0), (0.02, 1.0), (0.5, 1.0), (0.0, 1.5)])
def test_binned_wasserstein_is_close_to_exact(shift: float, scale: float) -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=100_000), rng.normal(shift, scale, size=100_000)
    ref_profile = profile_dataset({"x": a})
    cur_profile = profile_against(ref_profile, {"x": b})
    ref, cur = ref_profile.features[0], cur_profile.features[0]
    binned = binned_wasserstein(TestInput(ref, cur, count_table(ref, cur)))
    assert binned == pytest.approx(stats.wasserstein_distance(a, b), abs=0.01, rel=0.05)


# ----------------------------------------------------------------------------- false alarms


@pytest.mark.parametrize(("n", "reps", "raw"), [(1_000, 150, False), (1_000, 150, True), (10_000, 60, False)])
def test_false_alarm_rate_unchanged_data(n: int, reps: int, raw: bool) -> None:
    # Given reference and current drawn from the same distributions, 6 features per run
    rng = np.random.default_rng(100 + n + raw)
    flagged_default = flagged_no_floor = 0
    for _ in range(reps):
        reference, current = dataset(rng, n), dataset(rng, n)
        # When drift is detected with the default rule, and with the effect floors removed
        flagged_default += run(reference, current, raw=raw).n_drifted_features > 0
        names = list(reference)
        flagged_no_floor += run(reference, current, no_floor_config(names), raw=raw).n_drifted_features > 0
    # Then the share of runs with any false flag stays within the level
    assert flagged_no_floor / reps <= allowed_rate(reps)
    assert flagged_default / reps <= allowed_rate(reps)


def test_false_alarm_rate_unchanged_data_100k() -> None:
    rng = np.random.default_rng(7)
    reps, flagged_no_floor, flagged_default = 25, 0, 0
    for _ in range(reps):
        reference, current = (
            dataset(rng, 100_000, n_numeric=3, n_categorical=1),
            dataset(rng, 100_000, n_numeric=3, n_categorical=1),
        )
        flagged_default += run(reference, current).n_drifted_features > 0
        flagged_no_floor += run(reference, current, no_floor_config(list(reference))).n_drifted_features > 0
    assert flagged_default == 0
    assert flagged_no_floor / reps <= allowed_rate(reps)


def test_false_alarm_rate_unchanged_data_1m_profile_level() -> None:
    # Given bin counts of 1M rows drawn from one distribution for 10 features per run
    rng = np.random.default_rng(11)
    edges = stats.norm.ppf(np.linspace(0.0, 1.0, 21)[1:-1])
    edges = np.concatenate([[-6.0], edges, [6.0]])
    probabilities = np.diff(stats.norm.cdf(edges))
    probabilities /= probabilities.sum()
    reps, flagged_default, flagged_no_floor, p_values = 200, 0, 0, []
    for _ in range(reps):
        reference, current = profile_level_pair(rng, 1_000_000, 10, edges, probabilities)
        report = detect_drift(reference, current)
        flagged_default += report.n_drifted_features > 0
        p_values += [f.p_value for f in report.features]
        no_floor = no_floor_config(reference.feature_names)
        flagged_no_floor += detect_drift(reference, current, no_floor).n_drifted_features > 0
    # Then p-values are uniform (calibrated test), and false flags stay within the level
    assert stats.kstest(p_values, "uniform").pvalue > 0.001
    assert flagged_no_floor / reps <= allowed_rate(reps)
    assert flagged_default == 0


# ----------------------------------------------------------------------------- power


@pytest.mark.parametrize("raw", [False, True])
def test_mean_shift_of_half_sd_caught_with_a_few_hundred_rows(raw: bool) -> None:
    rng = np.random.default_rng(21)
    reps, caught, others_flagged = 40, 0, 0
    for _ in range(reps):
        report = run(dataset(rng, 1_000), dataset(rng, 300, shift=0.5), raw=raw)
        by_name = {f.name: f for f in report.features}
        caught += by_name["num_0"].drift_detected
        others_flagged += any(f.drift_detected for f in report.features if f.name != "num_0")
        assert by_name["num_0"].method == ("ks" if raw else "wasserstein")
    assert caught / reps >= 0.95
    assert others_flagged / reps <= allowed_rate(reps)


def test_variance_change_caught() -> None:
    rng = np.random.default_rng(22)
    reps = 30
    caught = sum(
        run(dataset(rng, 2_000), dataset(rng, 500, scale=1.5)).features[0].distribution_drift
        for _ in range(reps)
    )
    assert caught / reps >= 0.95


def test_category_mix_change_caught() -> None:
    rng = np.random.default_rng(23)
    reps = 30
    caught = 0
    for _ in range(reps):
        report = run(dataset(rng, 2_000), dataset(rng, 500, weights=[0.25, 0.25, 0.15, 0.15, 0.2]))
        feature = next(f for f in report.features if f.name == "cat_0")
        caught += feature.distribution_drift
        assert feature.method == "chi2"
    assert caught / reps >= 0.95


def test_missing_rate_jump_caught() -> None:
    rng = np.random.default_rng(24)
    reference = dataset(rng, 2_000)
    current = dataset(rng, 1_000)
    values = current["num_1"].copy()
    values[rng.random(values.size) < 0.2] = np.nan
    current["num_1"] = values
    report = run(reference, current)
    feature = next(f for f in report.features if f.name == "num_1")
    assert feature.missing_drift and feature.drift_detected
    assert feature.missing_share_reference == 0.0
    assert feature.missing_share_current == pytest.approx(0.2, abs=0.03)
    assert not feature.distribution_drift


def test_new_category_caught() -> None:
    rng = np.random.default_rng(25)
    reference, current = dataset(rng, 2_000), dataset(rng, 1_000)
    current["cat_1"] = ["new" if rng.random() < 0.1 else v for v in current["cat_1"]]
    feature = next(f for f in run(reference, current).features if f.name == "cat_1")
    assert feature.unseen_drift and feature.drift_detected
    assert feature.unseen_categories == ["new"]
    assert feature.unseen_share == pytest.approx(0.1, abs=0.03)


def test_negligible_shift_at_1m_not_flagged_although_significant() -> None:
    rng = np.random.default_rng(26)
    reference = {"x": rng.normal(size=1_000_000)}
    current = {"x": rng.normal(0.025, 1.0, size=1_000_000)}
    feature = run(reference, current).features[0]
    assert feature.p_value is not None and feature.p_value < 1e-6
    assert feature.effect_size == pytest.approx(0.025, abs=0.01)
    assert not feature.drift_detected


def test_dataset_drift_share_rule() -> None:
    rng = np.random.default_rng(27)
    reference = dataset(rng, 2_000, n_numeric=4, n_categorical=0)
    current = dataset(rng, 2_000, n_numeric=4, n_categorical=0)
    current["num_1"] = current["num_1"] + 1.0
    report = run(reference, current)
    assert report.n_drifted_features == 1 and report.drift_share == 0.25 and not report.dataset_drift
    report = run(reference, current, DriftConfig(drift_share=0.25))
    assert report.dataset_drift


def test_prediction_drift_reported_separately() -> None:
    rng = np.random.default_rng(28)
    reference = {"a": rng.normal(size=2_000), "prediction": rng.random(2_000)}
    current = {"a": rng.normal(size=2_000), "prediction": rng.random(2_000) ** 3}
    report = run(reference, current)
    prediction = next(f for f in report.features if f.name == "prediction")
    assert prediction.role == "prediction" and prediction.drift_detected
    assert report.prediction_drift is True
    assert report.n_features == 1 and not report.dataset_drift
