"""The embedded SQL engine (DuckDB over files in the bucket's layout) and the tables it shares with Glue."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlglot

from modelwatch.contracts import layout
from modelwatch.contracts.tables import EVENTS_TABLE, TABLES, projection_parameters, table_of
from modelwatch.stores.sql import DuckDBEngine, Query, QueryError, QueryLimitExceeded, TableScan, to_duckdb

HOUR = datetime(2026, 11, 30, 10, tzinfo=UTC)


def _event(i: int, model: str = "fraud", prediction: Any = 0.5, **extra: Any) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "event_id": f"e{i}",
        "request_id": f"r{i}",
        "index": 0,
        "model": model,
        "version": "1",
        "timestamp": "2026-11-30T10:00:00Z",
        "features": {"amount": float(i), "merchant": "groceries" if i % 2 else "travel"},
        "prediction": prediction,
        "latency_ms": 2.0,
        **extra,
    }


def _write(
    root: Path, kind: layout.CaptureKind, model: str, hour: datetime, name: str, lines: list[str]
) -> Path:
    path = root / layout.partitioned_key(kind, hour, name, model)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    return path


def _scan(model: str = "fraud", table: str = "events") -> TableScan:
    return TableScan(table, model, HOUR, HOUR)


def test_a_query_in_athenas_dialect_runs_on_the_files_of_its_partitions(tmp_path: Path) -> None:
    _write(
        tmp_path, "events", "fraud", HOUR, "a", [json.dumps(_event(i, prediction=i / 10)) for i in range(10)]
    )
    plain = tmp_path / layout.partitioned_key("events", HOUR, "plain", "fraud")
    plain.write_text(json.dumps(_event(10, prediction=0.2)) + "\n")  # moto does not compress
    _write(tmp_path, "events", "churn", HOUR, "b", [json.dumps(_event(i, model="churn")) for i in range(5)])
    sql = (
        "SELECT model, count(*) AS n, "
        "sum(CASE WHEN try_cast(prediction AS double) >= 0.5 THEN 1 ELSE 0 END) AS high, "
        "count_if(json_extract_scalar(features, '$.merchant') = 'travel') AS travel "
        "FROM events WHERE model = 'fraud' AND dt = '2026-11-30' GROUP BY model"
    )
    result = DuckDBEngine(tmp_path).run(Query(sql, "test", (_scan(),)))
    assert result.rows == [{"model": "fraud", "n": 11, "high": 5, "travel": 6}]
    fraud_files = [p for p in (tmp_path / "events" / "model=fraud").rglob("*") if p.is_file()]
    assert result.bytes_scanned == sum(p.stat().st_size for p in fraud_files)


def test_only_the_declared_partitions_are_read(tmp_path: Path) -> None:
    _write(tmp_path, "events", "fraud", HOUR, "now", [json.dumps(_event(1))])
    older = datetime(2026, 1, 5, 3, tzinfo=UTC)
    _write(tmp_path, "events", "fraud", older, "old", [json.dumps(_event(2))])
    engine = DuckDBEngine(tmp_path)
    assert [p.name for p in engine.files(_scan())] == ["now"]
    rows = engine.run(Query("SELECT count(*) AS n FROM events WHERE model = 'fraud'", "t", (_scan(),))).rows
    assert rows == [{"n": 1}]


def test_a_malformed_line_is_a_row_of_nulls_not_a_failed_query(tmp_path: Path) -> None:
    _write(
        tmp_path, "events", "fraud", HOUR, "a", [json.dumps(_event(1)), "{not json", json.dumps(_event(2))]
    )
    rows = (
        DuckDBEngine(tmp_path)
        .run(Query("SELECT count(*) AS n, count(request_id) AS readable FROM events", "t", (_scan(),)))
        .rows
    )
    assert rows == [{"n": 3, "readable": 2}]


def test_json_fields_are_their_json_text(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "events",
        "fraud",
        HOUR,
        "a",
        [json.dumps(_event(1, prediction=[0.1, 0.9])), json.dumps(_event(2, prediction=True))],
    )
    rows = (
        DuckDBEngine(tmp_path)
        .run(Query("SELECT prediction, features FROM events ORDER BY event_id", "t", (_scan(),)))
        .rows
    )
    assert [r["prediction"] for r in rows] == ["[0.1,0.9]", "true"]
    assert json.loads(rows[0]["features"]) == {"amount": 1.0, "merchant": "groceries"}


def test_a_table_without_objects_is_empty_not_an_error(tmp_path: Path) -> None:
    rows = (
        DuckDBEngine(tmp_path)
        .run(Query("SELECT count(*) AS n FROM labels", "t", (_scan(table="labels"),)))
        .rows
    )
    assert rows == [{"n": 0}]


def test_a_query_past_the_scan_limit_fails_naming_the_limit_and_what_it_was_for(tmp_path: Path) -> None:
    _write(tmp_path, "events", "fraud", HOUR, "a", [json.dumps(_event(i)) for i in range(200)])
    engine = DuckDBEngine(tmp_path, bytes_limit=100)
    with pytest.raises(QueryLimitExceeded) as raised:
        engine.run(
            Query(
                "SELECT count(*) AS n FROM events",
                "performance of fraud, window 2026-11-30T10:00Z",
                (_scan(),),
            )
        )
    assert "100 bytes" in str(raised.value) and "window 2026-11-30T10:00Z" in str(raised.value)


def test_bad_sql_is_a_query_error() -> None:
    with pytest.raises(QueryError):
        to_duckdb("SELECT FROM WHERE (")


def test_every_table_is_partitioned_by_model_day_and_hour_with_projection() -> None:
    for name, table in TABLES.items():
        assert table_of(table.kind) is table
        assert "model" not in table.column_names  # the partition key holds it
        parameters = projection_parameters("bucket", table)
        assert parameters["projection.model.type"] == "injected"
        template = parameters["storage.location.template"]
        # the template is the layout's partitioned key with its placeholders
        hour_key = layout.partitioned_key(table.kind, HOUR, "", "m")
        assert template.replace("${model}", "m").replace("${dt}", "2026-11-30").replace("${hour}", "10") == (
            f"s3://bucket/{hour_key}"
        ), name


def test_the_column_list_parses_as_trino_ddl() -> None:
    columns = ", ".join(f'"{c.name}" {c.type}' for c in EVENTS_TABLE.columns)
    sqlglot.parse_one(f"CREATE TABLE events ({columns})", read="trino")


def test_a_memory_limit_bounds_duckdb_and_spills_beside_the_files(tmp_path: Path) -> None:
    query = Query("SELECT current_setting('memory_limit') AS m, current_setting('temp_directory') AS t", "t")
    limited = DuckDBEngine(tmp_path, memory_limit="256MB").run(query).rows[0]
    unlimited = DuckDBEngine(tmp_path).run(query).rows[0]
    assert limited["m"] != unlimited["m"] and limited["m"].startswith("24")  # DuckDB shows 256MB as 244.1 MiB
    assert limited["t"] == str(tmp_path / ".spill")
