"""Comparing versions: values, differences, winner by direction, gates, tables."""

from __future__ import annotations

import pytest

from modelwatch.registry import (
    MetricNotFoundError,
    UnknownMetricDirectionError,
    VersionNotFoundError,
    compare_model_versions,
    compare_versions,
    metric_direction,
)
from tests.unit.registry.fakes import FakeMetrics

METRICS = FakeMetrics(
    {
        "1": {"auc": 0.80, "rmse": 2.0, "f1": 0.5},
        "2": {"auc": 0.85, "rmse": 2.5, "f1": 0.5},
        "3": {"auc": 0.82, "rmse": 1.5},
    }
)


@pytest.mark.parametrize(
    ("metric", "direction"),
    [
        ("auc", "higher"),
        ("val_auc", "higher"),
        ("F1", "higher"),
        ("rmse", "lower"),
        ("test_log_loss", "lower"),
    ],
)
def test_metric_directions(metric: str, direction: str) -> None:
    assert metric_direction(metric) == direction


def test_unknown_direction_needs_an_override() -> None:
    with pytest.raises(UnknownMetricDirectionError, match="throughput"):
        metric_direction("throughput")
    assert metric_direction("throughput", higher_is_better=True) == "higher"


def test_higher_is_better_winner_and_differences() -> None:
    result = compare_model_versions(METRICS, model_name="fraud", version1="1", version2="2", metric="auc")

    assert (result.value1, result.value2) == (0.80, 0.85)
    assert result.absolute_difference == pytest.approx(0.05)
    assert result.relative_difference == pytest.approx(0.0625)
    assert result.winner == "2"
    assert result.improved
    assert result.gate is None


def test_lower_is_better_winner() -> None:
    result = compare_model_versions(METRICS, model_name="fraud", version1=1, version2=2, metric="rmse")

    assert result.direction == "lower"
    assert result.absolute_difference == pytest.approx(0.5)
    assert result.winner == "1"
    assert not result.improved


def test_override_flips_the_winner() -> None:
    result = compare_model_versions(
        METRICS, model_name="fraud", version1="1", version2="2", metric="rmse", higher_is_better=True
    )

    assert result.winner == "2"


def test_tie_has_no_winner() -> None:
    result = compare_model_versions(METRICS, model_name="fraud", version1="1", version2="2", metric="f1")

    assert result.winner is None
    assert result.relative_difference == 0


@pytest.mark.parametrize(
    ("absolute", "relative", "passed"),
    [(0.04, None, True), (0.06, None, False), (None, 0.05, True), (None, 0.07, False), (0.01, 0.07, False)],
)
def test_gate(absolute: float | None, relative: float | None, passed: bool) -> None:
    result = compare_model_versions(
        METRICS,
        model_name="fraud",
        version1="1",
        version2="2",
        metric="auc",
        min_absolute_change=absolute,
        min_relative_change=relative,
    )

    assert result.gate is not None
    assert result.gate.passed is passed
    assert result.gate.improvement == pytest.approx(0.05)


def test_gate_on_lower_is_better_counts_a_decrease_as_improvement() -> None:
    result = compare_model_versions(
        METRICS, model_name="fraud", version1="1", version2="3", metric="rmse", min_absolute_change=0.4
    )

    assert result.gate is not None and result.gate.passed
    assert result.gate.improvement == pytest.approx(0.5)
    worse = compare_model_versions(
        METRICS, model_name="fraud", version1="1", version2="2", metric="rmse", min_relative_change=0.0
    )
    assert worse.gate is not None and not worse.gate.passed


def test_missing_metric_names_the_available_ones() -> None:
    with pytest.raises(MetricNotFoundError) as caught:
        compare_model_versions(METRICS, model_name="fraud", version1="1", version2="3", metric="f1")

    assert "version 3" in str(caught.value)
    assert "auc, rmse" in str(caught.value)


def test_unknown_version_is_typed() -> None:
    with pytest.raises(VersionNotFoundError, match="'9'"):
        compare_model_versions(METRICS, model_name="fraud", version1="1", version2="9", metric="auc")


def test_table_of_many_versions_and_metrics() -> None:
    table = compare_versions(METRICS, "fraud", ["1", "2", "3"], ["auc", "rmse", "f1"])

    auc, rmse, f1 = table.rows
    assert auc.best_version == "2"
    assert rmse.best_version == "3"
    assert rmse.absolute_differences == {"1": 0.0, "2": 0.5, "3": -0.5}
    assert f1.values["3"] is None and f1.best_version is None
    assert table.available_metrics["3"] == ["auc", "rmse"]
    assert table.row("rmse").direction == "lower"


def test_table_refuses_a_metric_no_version_has() -> None:
    with pytest.raises(MetricNotFoundError, match="accuracy"):
        compare_versions(METRICS, "fraud", ["1", "2"], ["accuracy"])


def test_table_needs_two_distinct_versions() -> None:
    with pytest.raises(ValueError, match="at least two"):
        compare_versions(METRICS, "fraud", ["1"], ["auc"])
    with pytest.raises(ValueError, match="repeated"):
        compare_versions(METRICS, "fraud", ["1", "1"], ["auc"])
