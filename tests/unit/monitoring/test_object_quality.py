"""Per-object quality counts: merged, they are the quality report of the whole window's rows."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from modelwatch.contracts.monitoring_config import QualityThresholds
from modelwatch.contracts.schema import FeatureSpec, FeatureType, InputSchema
from modelwatch.monitoring.quality import (
    QualityReport,
    _count_python,
    check_quality,
    merge_quality_counts,
    quality_counts,
    report_from_counts,
)

SCHEMA = InputSchema(
    features=[
        FeatureSpec(name="amount", type=FeatureType.NUMBER, minimum=0.0, maximum=1000.0, nullable=True),
        FeatureSpec(name="hour", type=FeatureType.INTEGER, minimum=0, maximum=23),
        FeatureSpec(name="channel", type=FeatureType.STRING, allowed_values=["atm", "pos", "web"]),
        FeatureSpec(name="foreign", type=FeatureType.BOOLEAN),
        FeatureSpec(name="score", type=FeatureType.NUMBER, nullable=True),  # absent from some objects
    ]
)


def _value(rng: random.Random, kind: str) -> Any:
    """A JSON value as captured: mostly valid, sometimes missing, out of range, unseen or mistyped."""
    roll = rng.random()
    if roll < 0.05:
        return None
    if kind == "amount":
        if roll < 0.08:
            return rng.choice(["lots", True, float("inf"), [1]])  # type errors
        return rng.uniform(-50.0, 1100.0)  # some out of range
    if kind == "hour":
        if roll < 0.08:
            return rng.choice([3.5, "9", False, float("nan")])
        return rng.randint(-2, 26)
    if kind == "channel":
        if roll < 0.07:
            return rng.choice([7, None, False])
        return rng.choice(["atm", "pos", "web", "web", "fax", "telex", f"new-{rng.randint(0, 30)}"])
    if kind == "foreign":
        return rng.choice([True, False, "yes"]) if roll < 0.1 else rng.random() < 0.3
    return rng.gauss(0.0, 1.0)


def _rows(rng: random.Random, n: int, with_score: bool) -> list[dict[str, Any]]:
    names = ["amount", "hour", "channel", "foreign"] + (["score"] if with_score else [])
    return [{name: _value(rng, name) for name in names} for _ in range(n)]


def _columns(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    names = dict.fromkeys(name for row in rows for name in row)
    return {name: [row.get(name) for row in rows] for name in names}


def _counts(report: QualityReport) -> dict[str, tuple[int, ...]]:
    return {
        f.name: (f.n, f.missing, f.out_of_range, f.unseen_category, f.type_error) for f in report.features
    }


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_merged_per_object_counts_are_the_report_of_the_concatenated_rows(seed: int) -> None:
    rng = random.Random(seed)
    objects = [_rows(rng, rng.randint(0, 400), with_score=rng.random() < 0.7) for _ in range(12)]
    thresholds = QualityThresholds(out_of_range=0.02)

    per_object = [quality_counts(check_quality(SCHEMA, _columns(rows)), "m", "1") for rows in objects]
    merged = merge_quality_counts(per_object, thresholds)
    # the whole window at once: rows without "score" have it missing, as in their object
    window_rows = [dict({"score": None}, **row) for rows in objects for row in rows]
    whole = check_quality(SCHEMA, _columns(window_rows), thresholds)

    assert merged.n_rows == whole.n_rows == sum(len(rows) for rows in objects)
    assert _counts(merged) == _counts(whole)
    assert [(v.feature, v.check) for v in merged.violations] == [
        (v.feature, v.check) for v in whole.violations
    ]
    assert merged.passed is whole.passed and merged.n_violations == whole.n_violations > 0
    for mine, theirs in zip(merged.features, whole.features, strict=True):
        assert mine.missing_rate == pytest.approx(theirs.missing_rate)
        assert mine.out_of_range_rate == pytest.approx(theirs.out_of_range_rate)
        assert mine.type_error_rate == pytest.approx(theirs.type_error_rate)
        assert len(mine.unseen_examples) == len(theirs.unseen_examples)  # both cap at 10 distinct
    channel = next(f for f in merged.features if f.name == "channel")
    assert {"fax", "telex"} <= set(channel.unseen_examples)  # the frequent ones of every object survive


def test_stored_counts_give_back_the_report_under_other_thresholds() -> None:
    rng = random.Random(7)
    report = check_quality(SCHEMA, _columns(_rows(rng, 500, with_score=True)))
    counts = quality_counts(report, "m", "1")

    again = report_from_counts(counts)

    assert again.model_dump(exclude={"created_at"}) == report.model_dump(exclude={"created_at"})
    lenient = report_from_counts(
        counts, QualityThresholds(missing=1.0, out_of_range=1.0, unseen_category=1.0, type_error=1.0)
    )
    assert _counts(lenient) == _counts(report)
    assert {v.check for v in report.violations} > {"missing"}
    # what is left is the missing values of non-nullable features, which no threshold tolerates
    assert {(v.feature, v.check) for v in lenient.violations} == {
        (f.name, "missing") for f in report.features if not f.nullable and f.missing
    }
    assert all(not hasattr(f, "missing_rate") for f in counts.features)  # counts only, no verdict


def test_numbers_in_lists_are_counted_in_numpy_exactly_as_value_by_value() -> None:
    rng = np.random.default_rng(3)
    floats = rng.normal(10, 20, 5000)
    floats[rng.integers(0, 5000, 200)] = np.nan
    floats[rng.integers(0, 5000, 20)] = np.inf
    values: list[Any] = [None if i % 97 == 0 else float(v) for i, v in enumerate(floats)]
    values += [int(v) for v in rng.integers(-5, 40, 500)] + [2.0, 3.5, -np.inf]
    for spec in (
        FeatureSpec(name="x", type=FeatureType.NUMBER, minimum=0.0, maximum=30.0),
        FeatureSpec(name="x", type=FeatureType.INTEGER, minimum=0, maximum=23),
    ):
        report = check_quality(InputSchema(features=[spec]), {"x": values})
        n, missing, out_of_range, _, _, type_error = _count_python(spec, values)
        feature = report.features[0]
        assert (feature.n, feature.missing, feature.out_of_range, feature.type_error) == (
            n,
            missing,
            out_of_range,
            type_error,
        )
        assert missing > 0 and out_of_range > 0 and type_error > 0


def test_numpy_and_arrow_columns_of_objects_merge_like_their_rows() -> None:
    rng = np.random.default_rng(11)
    parts = []
    for _ in range(5):
        amount = rng.normal(500, 400, 2000)
        amount[rng.integers(0, 2000, 50)] = np.nan
        channel = pa.array(rng.choice(["atm", "pos", "web", "fax"], 2000, p=[0.3, 0.3, 0.35, 0.05]))
        parts.append({"amount": amount, "channel": channel})
    schema = InputSchema(features=SCHEMA.features[:1] + SCHEMA.features[2:3])

    merged = merge_quality_counts(quality_counts(check_quality(schema, p), "m", "1") for p in parts)
    whole = check_quality(
        schema,
        {
            "amount": np.concatenate([p["amount"] for p in parts]),
            "channel": pa.chunked_array([p["channel"] for p in parts]),
        },
    )

    assert _counts(merged) == _counts(whole)
    assert Counter(merged.features[1].unseen_examples) == Counter(["fax"])


@pytest.mark.parametrize("unhashable", [False, True])
def test_strings_in_lists_are_counted_by_distinct_value_exactly_as_value_by_value(unhashable: bool) -> None:
    rng = random.Random(5)
    pool: list[Any] = ["atm", "pos", "web", "fax", "telex", None, float("nan"), 1, True, 1.0, 0, False, ""]
    values = [rng.choice(pool) for _ in range(3000)] + ([[1, 2]] if unhashable else [])
    spec = FeatureSpec(name="c", type=FeatureType.STRING, allowed_values=["atm", "pos", "web"])

    feature = check_quality(InputSchema(features=[spec]), {"c": values}).features[0]
    n, missing, _, unseen, unseen_values, type_error = _count_python(spec, values)

    assert (feature.n, feature.missing, feature.unseen_category, feature.type_error) == (
        n,
        missing,
        unseen,
        type_error,
    )
    assert feature.unseen_examples == [key for key, _ in unseen_values.most_common(10)]
    assert missing and unseen and type_error
