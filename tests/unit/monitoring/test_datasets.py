"""Reading CSV, Parquet, JSON Lines and captured events into columns."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modelwatch.monitoring.datasets import DatasetError, columns_from_events, read_columns, row_count
from modelwatch.monitoring.profile import profile_dataset

ROWS = [{"a": 1.5, "b": "x"}, {"a": None, "b": "y"}, {"a": 3.0, "b": None}]


def test_csv_parquet_and_jsonl_give_the_same_profile(tmp_path: Path) -> None:
    csv = tmp_path / "d.csv"
    csv.write_text("a,b\n1.5,x\n,y\n3.0,\n")
    parquet = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), parquet)
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in ROWS))
    profiles = [profile_dataset(read_columns(path)) for path in (csv, parquet, jsonl)]
    assert profiles[0] == profiles[1] == profiles[2]
    assert profiles[0].feature("a").missing == 1 and profiles[0].feature("b").missing == 1


def test_json_lines_with_mixed_types_and_gzip(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"a": 1}\n{"a": "two"}\n{"a": 3}\n'))
    columns = read_columns(path)
    assert columns == {"a": [1, "two", 3]}


def test_json_array_file(tmp_path: Path) -> None:
    path = tmp_path / "rows.json"
    path.write_text(json.dumps([{"a": 1}, {"b": "x"}]))
    assert read_columns(path) == {"a": [1, None], "b": [None, "x"]}


def test_captured_events_become_feature_and_prediction_columns(tmp_path: Path) -> None:
    events = [
        {"request_id": "r", "index": 0, "features": {"x": 1.0, "c": "a"}, "prediction": 0.2},
        {"request_id": "r", "index": 1, "features": {"x": 2.0}, "prediction": 0.9},
    ]
    expected = {"x": [1.0, 2.0], "c": ["a", None], "prediction": [0.2, 0.9]}
    assert columns_from_events(events) == expected
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in events))
    assert read_columns(path) == expected


def test_column_selection_and_errors(tmp_path: Path) -> None:
    parquet = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), parquet)
    assert list(read_columns(parquet, ["b"])) == ["b"]
    assert row_count(read_columns(parquet)) == 3
    with pytest.raises(DatasetError, match="unknown column"):
        read_columns(parquet, ["nope"])
    with pytest.raises(DatasetError, match="no such file"):
        read_columns(tmp_path / "missing.csv")
    with pytest.raises(DatasetError, match="unknown format"):
        read_columns(tmp_path / "d.xlsx")
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet")
    with pytest.raises(DatasetError, match="cannot read"):
        read_columns(bad)
