"""Training data as columns: from memory and from CSV / JSON files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelwatch.contracts.schema import FeatureSpec, FeatureType, InputSchema
from modelwatch.registry.training_data import coerce_columns, load_columns, rows_of


def test_columns_in_memory() -> None:
    columns, uri = load_columns({"a": [1, 2], "b": ["x", "y"]})

    assert columns == {"a": [1, 2], "b": ["x", "y"]}
    assert uri is None
    assert rows_of(columns) == [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]


def test_csv_values_are_typed_and_the_uri_recorded(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    path.write_text("amount,hour,foreign,channel\n1.5,3,true,pos\n,4,false,atm\n")

    columns, uri = load_columns(path)

    assert columns == {
        "amount": [1.5, None],
        "hour": [3, 4],
        "foreign": [True, False],
        "channel": ["pos", "atm"],
    }
    assert uri == path.resolve().as_uri()


def test_json_lines_and_json(tmp_path: Path) -> None:
    lines = tmp_path / "train.jsonl"
    lines.write_text('{"a": 1}\n{"a": 2, "b": true}\n')
    whole = tmp_path / "train.json"
    whole.write_text(json.dumps({"a": [1, 2]}))

    assert load_columns(lines)[0] == {"a": [1, 2], "b": [None, True]}
    assert load_columns(whole)[0] == {"a": [1, 2]}


def test_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_columns(tmp_path / "missing.csv")
    (tmp_path / "x.txt").write_text("a")
    with pytest.raises(ValueError, match="unsupported"):
        load_columns(tmp_path / "x.txt")
    with pytest.raises(ValueError, match="different lengths"):
        load_columns({"a": [1], "b": [1, 2]})


def test_coerce_to_schema_types() -> None:
    schema = InputSchema(
        features=[
            FeatureSpec(name="n", type=FeatureType.NUMBER),
            FeatureSpec(name="i", type=FeatureType.INTEGER),
        ]
    )

    assert coerce_columns({"n": [1, None], "i": [2.0, 3]}, schema) == {"n": [1.0, None], "i": [2, 3]}
