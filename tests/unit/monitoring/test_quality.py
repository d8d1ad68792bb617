"""Data quality against the schema: missing, out-of-range, unseen-category and type-error rates."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from modelwatch.contracts.monitoring_config import FeatureThresholds, QualityThresholds
from modelwatch.contracts.schema import FeatureSpec, FeatureType, InputSchema
from modelwatch.monitoring.quality import check_quality, merge_quality_reports

SCHEMA = InputSchema(
    features=[
        FeatureSpec(name="amount", type=FeatureType.NUMBER, minimum=0.0, maximum=100.0, nullable=True),
        FeatureSpec(name="hour", type=FeatureType.INTEGER, minimum=0, maximum=23),
        FeatureSpec(name="channel", type=FeatureType.STRING, allowed_values=["atm", "pos", "web"]),
        FeatureSpec(name="foreign", type=FeatureType.BOOLEAN),
    ]
)


def test_clean_batch_passes() -> None:
    columns = {"amount": [1.0, 50.0], "hour": [0, 23], "channel": ["pos", "web"], "foreign": [True, False]}
    report = check_quality(SCHEMA, columns)
    assert report.passed and report.n_violations == 0 and report.schema_version == 1


def test_rates_and_violations_from_raw_values() -> None:
    columns = {
        "amount": [1.0, None, 150.0, -1.0, "x", float("inf"), 3.0, 4.0, 5.0, 6.0],
        "hour": [1, 2, 3.5, 24, 5, 6, 7, 8, 9, True],
        "channel": ["pos", "new", "new", None, 3, "web", "web", "web", "web", "web"],
        "foreign": [True, False, 1, True, True, True, True, True, True, True],
        "prediction": [0.1] * 10,
        "surprise": [1] * 10,
    }
    report = check_quality(SCHEMA, columns)
    by_name = {f.name: f for f in report.features}
    amount = by_name["amount"]
    assert (amount.missing, amount.out_of_range, amount.type_error) == (1, 2, 2)
    assert amount.missing_rate == 0.1 and amount.out_of_range_rate == 0.2 and amount.type_error_rate == 0.2
    hour = by_name["hour"]
    assert (hour.type_error, hour.out_of_range) == (2, 1)
    channel = by_name["channel"]
    assert (channel.unseen_category, channel.missing, channel.type_error) == (2, 1, 1)
    assert channel.unseen_examples == ["new"]
    assert by_name["foreign"].type_error == 1
    assert not report.passed
    checks = {(v.feature, v.check) for v in report.violations}
    assert ("amount", "missing") in checks  # 10% > 5% for a nullable feature
    assert ("channel", "missing") in checks  # not nullable: any missing value
    assert report.extra_columns == ["surprise"]


def test_thresholds_are_configurable_per_feature() -> None:
    columns = {
        "amount": [1.0, 200.0, 3.0, 4.0],
        "hour": [1, 2, 3, 4],
        "channel": ["pos"] * 4,
        "foreign": [True] * 4,
    }
    assert not check_quality(SCHEMA, columns).passed
    relaxed = QualityThresholds(features={"amount": FeatureThresholds(out_of_range=0.3)})
    assert check_quality(SCHEMA, columns, relaxed).passed


def test_absent_feature_is_all_missing() -> None:
    report = check_quality(SCHEMA, {"amount": [1.0], "hour": [1], "channel": ["pos"]})
    assert report.absent_features == ["foreign"]
    foreign = next(f for f in report.features if f.name == "foreign")
    assert foreign.missing_rate == 1.0 and not foreign.passed


def test_arrow_and_numpy_columns_give_the_same_counts() -> None:
    amount = [1.0, None, 150.0, -1.0, 3.0]
    channel = ["pos", "new", None, "web", "atm"]
    python = check_quality(SCHEMA, {"amount": amount, "channel": channel})
    arrow = check_quality(
        SCHEMA,
        {"amount": pa.chunked_array([pa.array(amount)]), "channel": pa.chunked_array([pa.array(channel)])},
    )
    numpy = check_quality(
        SCHEMA,
        {
            "amount": np.array([np.nan if v is None else v for v in amount]),
            "channel": np.array(channel, dtype=object),
        },
    )
    for report in (arrow, numpy):
        for a, b in zip(python.features, report.features, strict=True):
            assert (a.missing, a.out_of_range, a.unseen_category, a.type_error) == (
                b.missing,
                b.out_of_range,
                b.unseen_category,
                b.type_error,
            )


def test_integer_feature_from_numpy_floats() -> None:
    report = check_quality(SCHEMA, {"hour": np.array([1.0, 2.5, np.inf, 30.0, np.nan])})
    hour = next(f for f in report.features if f.name == "hour")
    assert (hour.type_error, hour.out_of_range, hour.missing) == (2, 1, 1)


def test_reports_of_batches_merge() -> None:
    a = check_quality(
        SCHEMA, {"amount": [1.0, 500.0], "hour": [1, 2], "channel": ["pos", "x"], "foreign": [True, True]}
    )
    b = check_quality(
        SCHEMA, {"amount": [2.0] * 98, "hour": [3] * 98, "channel": ["web"] * 98, "foreign": [False] * 98}
    )
    merged = merge_quality_reports([a, b])
    amount = next(f for f in merged.features if f.name == "amount")
    assert (
        merged.n_rows == 100 and amount.out_of_range == 1 and amount.out_of_range_rate == pytest.approx(0.01)
    )
    assert amount.passed  # 1% is not above the 1% threshold
    with pytest.raises(ValueError):
        merge_quality_reports([])
