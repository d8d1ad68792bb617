"""Input schema: request-time validation of instances, and schema inference."""

from __future__ import annotations

import math
from typing import Any

import pytest
from pydantic import ValidationError

from modelwatch.contracts.schema import (
    FeatureSpec,
    FeatureType,
    InputSchema,
    Violation,
    infer_input_schema,
    validate_instances,
)


def schema_of(*specs: FeatureSpec, allow_extra: bool = False) -> InputSchema:
    return InputSchema(features=list(specs), allow_extra_features=allow_extra)


def codes(violations: list[Violation]) -> list[tuple[int, str | None, str]]:
    return [(v.index, v.feature, v.code) for v in violations]


ALL_TYPES = schema_of(
    FeatureSpec(name="n", type=FeatureType.NUMBER),
    FeatureSpec(name="i", type=FeatureType.INTEGER),
    FeatureSpec(name="b", type=FeatureType.BOOLEAN),
    FeatureSpec(name="s", type=FeatureType.STRING),
)
VALID = {"n": 1.5, "i": 3, "b": True, "s": "x"}


def test_valid_instances_have_no_violations() -> None:
    assert validate_instances(ALL_TYPES, [VALID, {**VALID, "n": 2, "i": 4.0, "b": False, "s": ""}]) == []


def test_missing_required_feature() -> None:
    instance = {k: v for k, v in VALID.items() if k != "i"}
    assert codes(validate_instances(ALL_TYPES, [instance])) == [(0, "i", "missing")]


def test_optional_feature_may_be_absent() -> None:
    schema = schema_of(
        FeatureSpec(name="a", type=FeatureType.NUMBER),
        FeatureSpec(name="opt", type=FeatureType.STRING, required=False),
    )
    assert validate_instances(schema, [{"a": 1}]) == []
    # Present but of the wrong type is still a violation.
    assert codes(validate_instances(schema, [{"a": 1, "opt": 3}])) == [(0, "opt", "type")]


def test_null_rejected_unless_nullable() -> None:
    schema = schema_of(
        FeatureSpec(name="a", type=FeatureType.NUMBER),
        FeatureSpec(name="b", type=FeatureType.NUMBER, nullable=True),
    )
    assert codes(validate_instances(schema, [{"a": None, "b": None}])) == [(0, "a", "null")]


@pytest.mark.parametrize(
    ("feature", "value"),
    [
        ("n", "1.5"),
        ("n", True),
        ("n", False),
        ("n", "nan"),
        ("n", [1]),
        ("n", {"x": 1}),
        ("i", 1.5),
        ("i", "3"),
        ("i", True),
        ("i", float("nan")),
        ("i", float("inf")),
        ("b", 1),
        ("b", 0),
        ("b", "true"),
        ("b", 1.0),
        ("s", 1),
        ("s", True),
        ("s", ["a"]),
    ],
)
def test_type_violation_for_each_feature_type(feature: str, value: Any) -> None:
    # Given an otherwise valid instance with one value of the wrong JSON type
    instance = {**VALID, feature: value}
    # When it is validated
    violations = validate_instances(ALL_TYPES, [instance])
    # Then exactly that feature is reported as a type violation
    assert codes(violations) == [(0, feature, "type")]
    assert violations[0].message.startswith("expected")


def test_bool_is_not_a_number() -> None:
    violations = validate_instances(ALL_TYPES, [{**VALID, "n": True}])
    assert violations[0].message == "expected a number, got bool"


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_numbers_rejected(value: float) -> None:
    violations = validate_instances(ALL_TYPES, [{**VALID, "n": value}])
    assert codes(violations) == [(0, "n", "type")]
    assert violations[0].message == "expected a finite number"


@pytest.mark.parametrize("value", [3.0, -0.0, 1e15, 2**63 - 1, -(2**63 - 1)])
def test_integral_values_accepted_as_integer(value: float) -> None:
    assert validate_instances(ALL_TYPES, [{**VALID, "i": value}]) == []


@pytest.mark.parametrize(
    ("feature", "value"),
    [("n", 1e308), ("n", -3.5e38), ("n", 10**400), ("i", 2**63), ("i", 10**400), ("i", 1e30)],
)
def test_numbers_beyond_what_a_runtime_takes_are_too_large(feature: str, value: float) -> None:
    # 1e308 overflows float32 inside scikit-learn; 400-digit integers raise OverflowError.
    violations = validate_instances(ALL_TYPES, [{**VALID, feature: value}])
    assert codes(violations) == [(0, feature, "too_large")]


def test_the_largest_float32_is_still_served() -> None:
    assert validate_instances(ALL_TYPES, [{**VALID, "n": 3.4e38, "i": -(2**62)}]) == []


def test_strings_longer_than_the_feature_allows_are_too_long() -> None:
    schema = InputSchema(features=[FeatureSpec(name="s", type=FeatureType.STRING, max_length=5)])
    assert validate_instances(schema, [{"s": "12345"}]) == []
    assert codes(validate_instances(schema, [{"s": "123456"}])) == [(0, "s", "too_long")]
    default = InputSchema(features=[FeatureSpec(name="s", type=FeatureType.STRING)])
    assert codes(validate_instances(default, [{"s": "x" * 6_000_000}])) == [(0, "s", "too_long")]


def test_lone_surrogates_are_not_text_in_values_or_names() -> None:
    schema = InputSchema(features=[FeatureSpec(name="s", type=FeatureType.STRING)])
    violations = validate_instances(schema, [{"s": "ok\ud800"}, {"s": "ok", "\udfff" + "x" * 300: 1}])
    assert codes(violations) == [(0, "s", "invalid_text"), (1, violations[1].feature, "unexpected")]
    echoed = violations[1].feature or ""
    assert echoed.encode("utf-8") and len(echoed) <= 128  # printable, and bounded


def test_the_example_instance_is_valid_for_its_own_schema() -> None:
    bounded = InputSchema(
        features=[
            FeatureSpec(name="n", type=FeatureType.NUMBER, minimum=5.5),
            FeatureSpec(name="i", type=FeatureType.INTEGER, minimum=1.2, maximum=9),
            FeatureSpec(name="neg", type=FeatureType.NUMBER, maximum=-3.0),
            FeatureSpec(name="b", type=FeatureType.BOOLEAN),
            FeatureSpec(name="c", type=FeatureType.STRING, allowed_values=["x", "y"]),
        ]
    )
    for schema in (ALL_TYPES, bounded):
        example = schema.example_instance()
        assert validate_instances(schema, [example]) == []
    assert bounded.example_instance() == {"n": 5.5, "i": 2, "neg": -3.0, "b": False, "c": "x"}


@pytest.mark.parametrize("instance", [[1, 2], "text", 3, None, True])
def test_instance_that_is_not_an_object(instance: Any) -> None:
    violations = validate_instances(ALL_TYPES, [VALID, instance])
    # Only one violation: the per-feature checks are skipped for a non-object.
    assert codes(violations) == [(1, None, "not_an_object")]


def test_unexpected_feature_rejected() -> None:
    violations = validate_instances(ALL_TYPES, [{**VALID, "extra": 1, "other": None}])
    assert codes(violations) == [(0, "extra", "unexpected"), (0, "other", "unexpected")]


def test_allow_extra_features_serves_unknown_features() -> None:
    schema = ALL_TYPES.model_copy(update={"allow_extra_features": True})
    assert validate_instances(schema, [{**VALID, "extra": [1, 2]}]) == []
    # Known features are still checked.
    assert codes(validate_instances(schema, [{**VALID, "n": "x", "extra": 1}])) == [(0, "n", "type")]


def test_out_of_range_and_unseen_categories_are_served() -> None:
    schema = schema_of(
        FeatureSpec(name="h", type=FeatureType.INTEGER, minimum=0, maximum=23),
        FeatureSpec(name="c", type=FeatureType.STRING, allowed_values=["a", "b"]),
    )
    assert validate_instances(schema, [{"h": 99, "c": "zzz"}]) == []


def test_indexes_reported_across_many_instances() -> None:
    # Given 50 instances where only a few are bad, in different ways
    instances: list[Any] = [dict(VALID) for _ in range(50)]
    instances[3] = {**VALID, "n": "bad"}
    instances[17] = {k: v for k, v in VALID.items() if k != "s"}
    instances[29] = "not an object"
    instances[49] = {**VALID, "b": None, "zz": 1}
    # When validated
    violations = validate_instances(ALL_TYPES, instances)
    # Then each violation carries the index of its own instance, in order
    assert codes(violations) == [
        (3, "n", "type"),
        (17, "s", "missing"),
        (29, None, "not_an_object"),
        (49, "b", "null"),
        (49, "zz", "unexpected"),
    ]


def test_several_violations_in_one_instance() -> None:
    violations = validate_instances(ALL_TYPES, [{"n": "x", "b": None, "q": 1}])
    assert codes(violations) == [
        (0, "n", "type"),
        (0, "i", "missing"),
        (0, "b", "null"),
        (0, "s", "missing"),
        (0, "q", "unexpected"),
    ]


@pytest.mark.parametrize("limit", [1, 5, 100])
def test_max_violations_bounds_the_answer(limit: int) -> None:
    # Given 1,000 instances each with 4 violations
    instances = [{"n": "x", "i": "y", "b": "z", "s": 0} for _ in range(1000)]
    # When validated with a bound
    violations = validate_instances(ALL_TYPES, instances, max_violations=limit)
    # Then the answer is cut at exactly the bound, keeping the first violations
    assert len(violations) == limit
    assert violations[0].index == 0
    assert violations[-1].index == (limit - 1) // 4


def test_default_max_violations_is_100() -> None:
    instances = [{"n": "x"} for _ in range(500)]
    assert len(validate_instances(ALL_TYPES, instances)) == 100


def test_duplicate_feature_names_rejected() -> None:
    with pytest.raises(ValidationError, match="declared twice"):
        schema_of(
            FeatureSpec(name="a", type=FeatureType.NUMBER), FeatureSpec(name="a", type=FeatureType.STRING)
        )


def test_schema_needs_at_least_one_feature_and_known_fields() -> None:
    with pytest.raises(ValidationError):
        InputSchema(features=[])
    with pytest.raises(ValidationError):
        InputSchema.model_validate({"features": [{"name": "a", "type": "number"}], "colour": "red"})
    with pytest.raises(ValidationError):
        InputSchema.model_validate({"features": [{"name": "a", "type": "decimal"}]})
    with pytest.raises(ValidationError):
        InputSchema.model_validate({"schema_version": 2, "features": [{"name": "a", "type": "number"}]})


def test_schema_json_round_trip() -> None:
    schema = schema_of(
        FeatureSpec(name="a", type=FeatureType.INTEGER, minimum=0, maximum=5, nullable=True),
        FeatureSpec(name="c", type=FeatureType.STRING, allowed_values=["x"], required=False),
    )
    again = InputSchema.model_validate_json(schema.model_dump_json())
    assert again == schema
    assert again.feature_names == ["a", "c"]


def test_infer_types_nullable_ranges_and_categories() -> None:
    rows = [
        {"amount": 10.5, "hour": 3, "flag": True, "channel": "pos", "maybe": None},
        {"amount": 2, "hour": 23, "flag": False, "channel": "atm", "maybe": 1.5},
        {"amount": 7.25, "hour": 0, "flag": True, "channel": "pos", "maybe": 0.5},
    ]
    schema = infer_input_schema(rows)
    by_name = {f.name: f for f in schema.features}
    assert schema.feature_names == ["amount", "hour", "flag", "channel", "maybe"]
    assert (by_name["amount"].type, by_name["amount"].minimum, by_name["amount"].maximum) == (
        FeatureType.NUMBER,
        2.0,
        10.5,
    )
    assert (by_name["hour"].type, by_name["hour"].minimum, by_name["hour"].maximum) == (
        FeatureType.INTEGER,
        0,
        23,
    )
    assert by_name["flag"].type is FeatureType.BOOLEAN
    assert by_name["channel"].type is FeatureType.STRING
    assert by_name["channel"].allowed_values == ["atm", "pos"]
    assert by_name["maybe"].nullable is True
    assert not any(by_name[n].nullable for n in ["amount", "hour", "flag", "channel"])
    # The inferred schema accepts the rows it was inferred from.
    assert validate_instances(schema, rows) == []


def test_infer_bool_column_is_not_integer() -> None:
    schema = infer_input_schema([{"b": True}, {"b": False}])
    assert schema.features[0].type is FeatureType.BOOLEAN
    assert schema.features[0].minimum is None


def test_infer_with_explicit_feature_names_selects_and_orders() -> None:
    rows = [{"a": 1, "b": "x", "c": 2.5}, {"a": 2, "b": "y"}]
    schema = infer_input_schema(rows, feature_names=["c", "a"])
    assert schema.feature_names == ["c", "a"]
    assert schema.features[0].nullable is True  # absent from the second row
    assert schema.features[1].nullable is False


def test_infer_errors() -> None:
    with pytest.raises(ValueError, match="no rows"):
        infer_input_schema([])
    with pytest.raises(ValueError, match="'empty' has no non-null value"):
        infer_input_schema([{"a": 1, "empty": None}, {"a": 2, "empty": None}])


def test_infer_ranges_are_finite_numbers() -> None:
    schema = infer_input_schema([{"x": 1}, {"x": 2.5}])
    spec = schema.features[0]
    assert spec.type is FeatureType.NUMBER
    assert math.isclose(spec.minimum or 0, 1.0) and math.isclose(spec.maximum or 0, 2.5)
