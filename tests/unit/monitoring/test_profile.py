"""Profiles: compact JSON, mergeable, profiled against the reference; edge cases; schema inference."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from modelwatch.contracts.profile import DatasetProfile
from modelwatch.contracts.schema import FeatureSpec, FeatureType, InputSchema, validate_instances
from modelwatch.monitoring.drift import detect_drift
from modelwatch.monitoring.profile import (
    category_key,
    infer_schema,
    merge_moments,
    merge_profiles,
    profile_against,
    profile_dataset,
)


def mixed_columns(rng: np.random.Generator, n: int) -> dict[str, object]:
    amount = rng.lognormal(3, 1, n)
    amount[rng.random(n) < 0.05] = np.nan
    channel = [None if rng.random() < 0.03 else str(rng.choice(["pos", "web", "atm"])) for _ in range(n)]
    return {
        "amount": amount,
        "hour": rng.integers(0, 24, n),
        "flag": rng.random(n) < 0.3,
        "channel": channel,
        "prediction": rng.random(n),
    }


def test_reference_profile_is_compact_json_and_round_trips() -> None:
    rng = np.random.default_rng(0)
    profile = profile_dataset(mixed_columns(rng, 50_000))
    text = profile.model_dump_json()
    assert len(text) < 10_000
    assert DatasetProfile.model_validate_json(text) == profile
    by_name = {f.name: f for f in profile.features}
    assert profile.schema_version == 1 and profile.n_rows == 50_000
    assert by_name["amount"].kind == "numeric" and by_name["amount"].missing == pytest.approx(2500, rel=0.1)
    assert by_name["hour"].value_type is FeatureType.INTEGER
    assert by_name["flag"].kind == "categorical" and set(by_name["flag"].categorical.counts) == {
        "true",
        "false",
    }
    assert by_name["channel"].kind == "categorical" and by_name["channel"].missing > 0
    assert by_name["prediction"].role == "prediction"


def test_counts_add_up_and_integer_values_get_their_own_bins() -> None:
    rng = np.random.default_rng(1)
    hour = rng.integers(0, 24, 10_000)
    feature = profile_dataset({"hour": hour}).features[0]
    assert feature.numeric is not None
    assert sum(feature.numeric.counts) == 10_000
    assert feature.numeric.counts[0] == 0 and feature.numeric.counts[-1] == 0
    # Each of the 24 values is an atom of its own bin.
    assert len([c for c in feature.numeric.counts if c]) == 24
    moments = feature.numeric.moments
    assert moments.mean == pytest.approx(hour.mean()) and moments.variance == pytest.approx(hour.var())
    assert (moments.min, moments.max) == (0.0, 23.0)


def test_merging_batches_equals_profiling_the_union() -> None:
    # Given a reference and three disjoint batches of a window
    rng = np.random.default_rng(2)
    reference = profile_dataset(mixed_columns(rng, 20_000))
    batches = [mixed_columns(rng, n) for n in (1_000, 5_000, 1)]
    union = {
        name: np.concatenate([np.asarray(b[name], dtype=object) for b in batches]).tolist()
        for name in batches[0]
    }
    # When each batch is profiled on its own and the profiles merged
    merged = merge_profiles(profile_against(reference, batch) for batch in batches)
    whole = profile_against(reference, union)
    # Then counts, bins and categories are exactly those of the union, moments to float precision
    assert merged.n_rows == whole.n_rows == 6_001
    for a, b in zip(merged.features, whole.features, strict=True):
        assert (a.count, a.missing, a.non_finite, a.invalid) == (b.count, b.missing, b.non_finite, b.invalid)
        if a.numeric is not None and b.numeric is not None:
            assert a.numeric.counts == b.numeric.counts
            ma, mb = a.numeric.moments, b.numeric.moments
            assert ma.count == mb.count and (ma.min, ma.max) == (mb.min, mb.max)
            assert ma.mean == pytest.approx(mb.mean, rel=1e-12)
            assert ma.m2 == pytest.approx(mb.m2, rel=1e-9)
        else:
            assert a.categorical == b.categorical
    # And the merge is JSON-stable
    assert merge_profiles([DatasetProfile.model_validate_json(merged.model_dump_json())]) == merged


def test_chan_merge_of_moments() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(5, 2, 1000), rng.normal(-1, 0.5, 10)
    from modelwatch.monitoring.profile import compute_moments

    merged = merge_moments(compute_moments(a), compute_moments(b))
    union = np.concatenate([a, b])
    assert merged.mean == pytest.approx(union.mean()) and merged.variance == pytest.approx(union.var())


def test_merge_rejects_different_bins() -> None:
    rng = np.random.default_rng(4)
    a = profile_dataset({"x": rng.normal(size=100)})
    b = profile_dataset({"x": rng.normal(size=100)})
    with pytest.raises(ValueError, match="different bin edges"):
        merge_profiles([a, b])
    with pytest.raises(ValueError, match="at least one"):
        merge_profiles([])


def test_categories_are_capped_with_other_bucket() -> None:
    values = [f"c{i % 300}" for i in range(3000)] + ["c0"] * 100
    feature = profile_dataset({"c": values}, max_categories=200).features[0]
    assert feature.categorical is not None
    assert len(feature.categorical.counts) == 200
    assert sum(feature.categorical.counts.values()) + feature.categorical.other == len(values)
    assert feature.categorical.counts["c0"] == 110


def test_current_outside_reference_range_is_counted_in_under_and_overflow() -> None:
    reference = profile_dataset({"x": np.linspace(0, 1, 1000)})
    current = profile_against(reference, {"x": np.array([-5.0, 0.5, 7.0, 1.0])})
    counts = current.features[0].numeric.counts  # type: ignore[union-attr]
    assert counts[0] == 1 and counts[-1] == 1 and sum(counts) == 4


# ----------------------------------------------------------------------------- edge cases


def test_all_missing_column() -> None:
    reference = profile_dataset({"x": [None] * 50, "y": list(range(50))})
    x = reference.feature("x")
    assert x.missing == 50 and x.valid == 0
    current = profile_against(reference, {"x": [1.0, None], "y": [1, 2]})
    report = detect_drift(reference, current)
    feature = next(f for f in report.features if f.name == "x")
    assert feature.p_value is None and not feature.distribution_drift
    assert feature.note == "the reference has no values"


def test_constant_column() -> None:
    reference = profile_dataset({"x": np.full(1000, 3.0)})
    assert reference.features[0].numeric.edges == [3.0, math.nextafter(3.0, math.inf)]  # type: ignore[union-attr]
    same = detect_drift(reference, profile_against(reference, {"x": np.full(500, 3.0)}))
    assert not same.features[0].drift_detected
    moved = detect_drift(reference, profile_against(reference, {"x": np.full(500, 4.0)}))
    assert moved.features[0].drift_detected


def test_nan_and_infinities_are_counted_not_binned() -> None:
    values = np.array([1.0, np.nan, np.inf, -np.inf, 2.0, 3.0])
    feature = profile_dataset({"x": values}).features[0]
    assert (feature.count, feature.missing, feature.non_finite, feature.valid) == (6, 1, 2, 3)
    assert sum(feature.numeric.counts) == 3  # type: ignore[union-attr]
    assert feature.numeric.moments.max == 3.0  # type: ignore[union-attr]
    assert DatasetProfile.model_validate_json(profile_dataset({"x": values}).model_dump_json())


def test_mixed_types() -> None:
    mostly_numbers = profile_dataset({"x": [1, 2.5, "oops", None, 4, True]}).features[0]
    assert mostly_numbers.kind == "numeric" and mostly_numbers.invalid == 2 and mostly_numbers.missing == 1
    mostly_strings = profile_dataset({"x": ["a", "b", 1, None]}).features[0]
    assert mostly_strings.kind == "categorical"
    assert mostly_strings.categorical.counts == {"1": 1, "a": 1, "b": 1}  # type: ignore[union-attr]


def test_one_row_windows() -> None:
    rng = np.random.default_rng(5)
    reference_columns = {"x": rng.normal(size=500), "c": ["a", "b"] * 250}
    reference = profile_dataset(reference_columns)
    current_columns = {"x": [0.1], "c": ["a"]}
    current = profile_against(reference, current_columns)
    for report in (
        detect_drift(reference, current),
        detect_drift(
            reference, current, reference_columns=reference_columns, current_columns=current_columns
        ),
    ):
        assert not report.dataset_drift
        assert all(not f.drift_detected for f in report.features)
    one_row_reference = profile_dataset({"x": [1.0]})
    assert one_row_reference.features[0].numeric.counts == [0, 1, 0]  # type: ignore[union-attr]


def test_categories_only_in_current() -> None:
    reference = profile_dataset({"c": ["a"] * 100 + ["b"] * 100})
    current = profile_against(reference, {"c": ["z"] * 50 + ["a"] * 50})
    assert current.features[0].categorical.counts == {"a": 50, "z": 50}  # type: ignore[union-attr]
    feature = detect_drift(reference, current).features[0]
    assert feature.unseen_share == 0.5 and feature.unseen_categories == ["z"] and feature.drift_detected


def test_arrow_columns_match_python_columns() -> None:
    values = ["a", None, "b", "a"]
    from_python = profile_dataset({"c": values}).features[0]
    from_arrow = profile_dataset({"c": pa.chunked_array([pa.array(values)])}).features[0]
    dictionary = pa.chunked_array([pa.array(values).dictionary_encode()])
    from_dictionary = profile_dataset({"c": dictionary}).features[0]
    assert from_python == from_arrow == from_dictionary
    numbers = pa.chunked_array([pa.array([1, None, 3]), pa.array([4])])
    feature = profile_dataset({"n": numbers}).features[0]
    assert feature.kind == "numeric" and feature.missing == 1 and feature.value_type is FeatureType.INTEGER


def test_profile_follows_schema_kinds() -> None:
    schema = InputSchema(
        features=[
            FeatureSpec(name="code", type=FeatureType.STRING),
            FeatureSpec(name="absent", type=FeatureType.NUMBER, nullable=True),
        ]
    )
    profile = profile_dataset({"code": [1, 2, 2], "extra": [1, 2, 3]}, schema)
    assert profile.feature_names == ["code", "absent"]
    assert profile.feature("code").kind == "categorical"
    assert profile.feature("absent").missing == 3


def test_category_key() -> None:
    assert [category_key(v) for v in ("x", True, 3, 3.0, 2.5, np.int64(4))] == [
        "x",
        "true",
        "3",
        "3",
        "2.5",
        "4",
    ]


# ----------------------------------------------------------------------------- schema inference


def test_infer_schema_from_profile() -> None:
    rng = np.random.default_rng(6)
    columns = mixed_columns(rng, 2_000)
    schema = infer_schema(profile_dataset(columns))
    by_name = {f.name: f for f in schema.features}
    assert schema.feature_names == ["amount", "hour", "flag", "channel"]
    assert by_name["amount"].type is FeatureType.NUMBER and by_name["amount"].nullable
    assert by_name["hour"].type is FeatureType.INTEGER and (
        by_name["hour"].minimum,
        by_name["hour"].maximum,
    ) == (
        0,
        23,
    )
    assert by_name["flag"].type is FeatureType.BOOLEAN and not by_name["flag"].nullable
    assert by_name["channel"].allowed_values == ["atm", "pos", "web"] and by_name["channel"].cardinality == 3
    rows = [
        {"amount": 10.0, "hour": 3, "flag": True, "channel": "pos"},
        {"amount": None, "hour": 23, "flag": False, "channel": None},
    ]
    assert validate_instances(schema, rows) == []
    assert InputSchema.model_validate_json(schema.model_dump_json()) == schema


def test_infer_schema_high_cardinality_has_no_allowed_values() -> None:
    profile = profile_dataset({"id": [f"u{i}" for i in range(500)]}, max_categories=200)
    spec = infer_schema(profile).features[0]
    assert spec.allowed_values is None and spec.cardinality is None
