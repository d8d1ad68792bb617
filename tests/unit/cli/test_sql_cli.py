"""``modelwatch sql``: locally DuckDB over the (moto) bucket synced to a lake; Athena in AWS; errors."""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

import modelwatch.jobs.context  # noqa: F401  (imported before sockets are disabled: X-Ray opens one)
from modelwatch.cli import main
from modelwatch.cli.errors import EXIT_USAGE
from modelwatch.contracts import layout
from modelwatch.stores import aws
from tests.unit.cli.test_cli import assert_one_error_line

BUCKET = "events-bucket"
HOUR = datetime(2026, 11, 30, 10, tzinfo=UTC)


def _events(model: str, scores: list[float]) -> bytes:
    lines = [
        json.dumps(
            {
                "schema_version": 1,
                "event_id": f"{model}-{i}",
                "request_id": f"r{i}",
                "index": 0,
                "model": model,
                "version": "2" if i % 2 else "1",
                "timestamp": "2026-11-30T10:00:00Z",
                "features": {"merchant_category": "travel" if i % 3 == 0 else "groceries"},
                "prediction": score,
                "latency_ms": 1.0 + i,
            }
        )
        for i, score in enumerate(scores)
    ]
    return gzip.compress(("\n".join(lines) + "\n").encode())


@pytest.fixture
def local(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    """The local stack's settings: DuckDB over a lake synced from the (moto) events bucket."""
    from moto import mock_aws

    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(
            Bucket=BUCKET,
            Key=layout.partitioned_key("events", HOUR, "a", "fraud"),
            Body=_events("fraud", [0.1, 0.95, 0.5, 0.99, 0.2]),
        )
        s3.put_object(
            Bucket=BUCKET,
            Key=layout.partitioned_key("events", HOUR, "b", "churn"),
            Body=_events("churn", [0.3]),
        )
        monkeypatch.setenv("MODELWATCH_EVENTS_BUCKET", BUCKET)
        monkeypatch.setenv("MODELWATCH_MODELS_BUCKET", "models")
        monkeypatch.setenv("MODELWATCH_QUERY_ENGINE", "duckdb")
        monkeypatch.setenv("MODELWATCH_LAKE_DIR", str(tmp_path / "lake"))
        yield s3


COUNT_BY_VERSION = (
    "SELECT version, count(*) AS n, max(try_cast(prediction AS double)) AS top FROM events "
    "WHERE model = 'fraud' AND dt = '2026-11-30' GROUP BY version ORDER BY version"
)


def test_a_query_runs_locally_over_the_synced_bucket_as_a_table(
    local: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["sql", COUNT_BY_VERSION]) == 0

    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert [cell.strip() for cell in lines[0].split("|")] == ["version", "n", "top"]
    assert [cell.strip() for cell in lines[2].split("|")] == ["1", "3", "0.5"]
    assert [cell.strip() for cell in lines[3].split("|")] == ["2", "2", "0.99"]
    assert len(lines) == 4
    assert err == "2 rows (duckdb, over the local lake)\n"
    assert (tmp_path / "lake" / layout.partitioned_key("events", HOUR, "a", "fraud")).is_file()


def test_json_and_csv_formats_and_max_rows(local: Any, capsys: pytest.CaptureFixture[str]) -> None:
    sql = (
        "SELECT event_id, try_cast(prediction AS double) AS score FROM events "
        "WHERE model = 'fraud' ORDER BY 1"
    )

    assert main(["sql", sql, "--format", "json", "--max-rows", "2"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == [{"event_id": "fraud-0", "score": 0.1}, {"event_id": "fraud-1", "score": 0.95}]
    assert "5 rows (3 more not shown: raise --max-rows)" in err

    assert main(["sql", sql, "--format", "csv"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["event_id", "score"]
    assert [r[0] for r in rows[1:]] == [f"fraud-{i}" for i in range(5)]


def test_the_query_can_come_from_stdin(
    local: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("SELECT count(*) AS n FROM events WHERE model = 'churn';\n"))

    assert main(["sql", "-", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"n": 1}]


@pytest.mark.parametrize(
    ("sql", "fragment"),
    [
        ("SELEC count(*) FROM events", "not a valid query in Athena's dialect"),
        ("SELECT nope FROM events WHERE model = 'fraud'", "nope"),
        ("SELECT 1; SELECT 2", "expected one SQL statement"),
    ],
)
def test_bad_sql_is_one_line_and_exit_2(
    local: Any, capsys: pytest.CaptureFixture[str], sql: str, fragment: str
) -> None:
    assert main(["sql", sql]) == EXIT_USAGE
    assert "\x1b" not in assert_one_error_line(capsys, fragment)  # no terminal escapes from the parser


def test_no_engine_configured_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MODELWATCH_EVENTS_BUCKET", BUCKET)
    monkeypatch.setenv("MODELWATCH_MODELS_BUCKET", "models")

    assert main(["sql", "SELECT 1"]) == EXIT_USAGE
    assert_one_error_line(capsys, "no query engine", "MODELWATCH_QUERY_ENGINE")


def test_a_misconfigured_engine_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MODELWATCH_EVENTS_BUCKET", BUCKET)
    monkeypatch.setenv("MODELWATCH_MODELS_BUCKET", "models")
    monkeypatch.setenv("MODELWATCH_QUERY_ENGINE", "duckdb")

    assert main(["sql", "SELECT 1"]) == EXIT_USAGE
    assert_one_error_line(capsys, "MODELWATCH_LAKE_DIR")


def _in_aws(monkeypatch: pytest.MonkeyPatch) -> Stubber:
    """The AWS settings, with the Athena client stubbed."""
    athena = boto3.client("athena", region_name="us-east-1")
    real_client = aws.client
    monkeypatch.setattr(
        aws,
        "client",
        lambda service, *a, **k: athena if service == "athena" else real_client(service, *a, **k),
    )
    monkeypatch.setenv("MODELWATCH_EVENTS_BUCKET", BUCKET)
    monkeypatch.setenv("MODELWATCH_MODELS_BUCKET", "models")
    monkeypatch.setenv("MODELWATCH_QUERY_ENGINE", "athena")
    monkeypatch.setenv("MODELWATCH_ATHENA_WORKGROUP", "modelwatch")
    monkeypatch.setenv("MODELWATCH_ATHENA_DATABASE", "modelwatch_db")
    return Stubber(athena)


def test_in_aws_the_rows_come_from_athena_with_the_bytes_scanned_and_query_id(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stubber = _in_aws(monkeypatch)
    sql = "SELECT version, count(*) AS n FROM events WHERE model = 'fraud' GROUP BY version"
    stubber.add_response(
        "start_query_execution",
        {"QueryExecutionId": "q-2"},
        {
            "QueryString": sql,
            "WorkGroup": "modelwatch",
            "QueryExecutionContext": {"Database": "modelwatch_db"},
        },
    )
    stubber.add_response(
        "get_query_execution",
        {
            "QueryExecution": {
                "QueryExecutionId": "q-2",
                "Status": {"State": "SUCCEEDED"},
                "Statistics": {"DataScannedInBytes": 2_048},
            }
        },
        {"QueryExecutionId": "q-2"},
    )
    columns = [{"Name": "version", "Type": "varchar"}, {"Name": "n", "Type": "bigint"}]
    stubber.add_response(
        "get_query_results",
        {
            "ResultSet": {
                "ResultSetMetadata": {"ColumnInfo": columns},
                "Rows": [
                    {"Data": [{"VarCharValue": "version"}, {"VarCharValue": "n"}]},
                    {"Data": [{"VarCharValue": "1"}, {"VarCharValue": "12"}]},
                ],
            }
        },
        {"QueryExecutionId": "q-2"},
    )

    with stubber:
        assert main(["sql", sql, "--format", "json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == [{"version": "1", "n": 12}]
    assert err == "1 row, 2,048 bytes scanned (athena, query q-2)\n"
    stubber.assert_no_pending_responses()


def test_in_aws_a_query_past_the_workgroups_limit_is_one_line_naming_the_limit(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stubber = _in_aws(monkeypatch)
    sql = "SELECT count(*) FROM events WHERE model = 'fraud'"
    stubber.add_response(
        "start_query_execution",
        {"QueryExecutionId": "q-1"},
        {
            "QueryString": sql,
            "WorkGroup": "modelwatch",
            "QueryExecutionContext": {"Database": "modelwatch_db"},
        },
    )
    stubber.add_response(
        "get_query_execution",
        {
            "QueryExecution": {
                "QueryExecutionId": "q-1",
                "Status": {"State": "CANCELLED", "StateChangeReason": "Bytes scanned limit was exceeded"},
                "Statistics": {"DataScannedInBytes": 10_485_761},
            }
        },
        {"QueryExecutionId": "q-1"},
    )
    stubber.add_response(
        "get_work_group",
        {"WorkGroup": {"Name": "modelwatch", "Configuration": {"BytesScannedCutoffPerQuery": 10_485_760}}},
        {"WorkGroup": "modelwatch"},
    )

    with stubber:
        assert main(["sql", sql]) == EXIT_USAGE
    assert_one_error_line(capsys, "limit of 10,485,760 bytes", "modelwatch sql (Athena query q-1)")
    stubber.assert_no_pending_responses()


def test_no_sync_queries_the_lake_as_it_is(local: Any, capsys: pytest.CaptureFixture[str]) -> None:
    count = "SELECT count(*) AS n FROM events WHERE model = 'fraud'"
    assert main(["sql", count, "--format", "json"]) == 0  # synced: the fraud object is in the lake
    assert json.loads(capsys.readouterr().out) == [{"n": 5}]
    local.delete_object(Bucket=BUCKET, Key=layout.partitioned_key("events", HOUR, "a", "fraud"))

    assert main(["sql", count, "--format", "json", "--no-sync"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"n": 5}]  # the lake kept it
    assert main(["sql", count, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"n": 0}]  # a sync mirrors the deletion


def test_a_lake_that_cannot_sync_is_one_line_pointing_at_the_stack_and_no_sync(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("MODELWATCH_EVENTS_BUCKET", BUCKET)
    monkeypatch.setenv("MODELWATCH_MODELS_BUCKET", "models")
    monkeypatch.setenv("MODELWATCH_QUERY_ENGINE", "duckdb")
    monkeypatch.setenv("MODELWATCH_LAKE_DIR", str(tmp_path))
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # no stack answers (sockets are blocked)

    assert main(["sql", "SELECT count(*) FROM events WHERE model = 'fraud'"]) == EXIT_USAGE
    assert_one_error_line(capsys, f"cannot sync {tmp_path} from s3://{BUCKET}", "make up", "--no-sync")
