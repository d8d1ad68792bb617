"""The query port on Athena, against botocore's Stubber: the calls made, the rows read back, the failures."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from modelwatch.stores.athena import AthenaEngine, convert_value
from modelwatch.stores.sql import Query, QueryError, QueryLimitExceeded, TableScan

WORKGROUP = "modelwatch"
DATABASE = "modelwatch_events"
QUERY_ID = "11111111-2222-3333-4444-555555555555"
HOUR = datetime(2026, 11, 30, 10, tzinfo=UTC)
QUERY = Query(
    sql="SELECT version, count(*) AS n FROM events WHERE model = 'fraud' GROUP BY version",
    description="performance of fraud, window 2026-11-30T10:00Z",
    scans=(TableScan("events", "fraud", HOUR, HOUR),),
)


class Sleeps:
    """A fake clock: ``sleep`` advances it, so back-off and timeouts run instantly."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


@pytest.fixture
def stubbed() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("athena", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def _engine(client: Any, sleeps: Sleeps, timeout: float = 60.0) -> AthenaEngine:
    return AthenaEngine(
        client,
        WORKGROUP,
        DATABASE,
        poll_seconds=0.5,
        timeout_seconds=timeout,
        max_poll_seconds=2.0,
        sleep=sleeps.sleep,
        clock=sleeps.clock,
    )


def _start(stubber: Stubber) -> None:
    stubber.add_response(
        "start_query_execution",
        {"QueryExecutionId": QUERY_ID},
        {
            "QueryString": QUERY.sql,
            "WorkGroup": WORKGROUP,
            "QueryExecutionContext": {"Database": DATABASE},
        },
    )


def _status(
    stubber: Stubber, state: str, reason: str | None = None, scanned: int | None = None, **error: Any
) -> None:
    status: dict[str, Any] = {"State": state}
    if reason:
        status["StateChangeReason"] = reason
    if error:
        status["AthenaError"] = error
    execution: dict[str, Any] = {"QueryExecutionId": QUERY_ID, "Status": status}
    if scanned is not None:
        execution["Statistics"] = {"DataScannedInBytes": scanned}
    stubber.add_response("get_query_execution", {"QueryExecution": execution}, {"QueryExecutionId": QUERY_ID})


def _row(*cells: str | None) -> dict[str, Any]:
    return {"Data": [{"VarCharValue": c} if c is not None else {} for c in cells]}


COLUMNS = [
    {"Name": "version", "Type": "varchar"},
    {"Name": "n", "Type": "bigint"},
    {"Name": "mean_score", "Type": "double"},
    {"Name": "any_high", "Type": "boolean"},
    {"Name": "total", "Type": "decimal"},
]


def test_a_query_runs_in_the_workgroup_and_its_pages_come_back_typed(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    sleeps = Sleeps()
    _start(stubber)
    _status(stubber, "QUEUED")
    _status(stubber, "RUNNING")
    _status(stubber, "RUNNING")
    _status(stubber, "SUCCEEDED", scanned=123_456)
    metadata = {"ColumnInfo": COLUMNS}
    stubber.add_response(
        "get_query_results",
        {
            "ResultSet": {
                "ResultSetMetadata": metadata,
                "Rows": [
                    _row("version", "n", "mean_score", "any_high", "total"),
                    _row("1", "42", "0.25", "true", "10.50"),
                ],
            },
            "NextToken": "page-2",
        },
        {"QueryExecutionId": QUERY_ID},
    )
    stubber.add_response(
        "get_query_results",
        {
            # Later pages have no header row: their first row is data.
            "ResultSet": {"ResultSetMetadata": metadata, "Rows": [_row("2", "7", None, "false", None)]},
        },
        {"QueryExecutionId": QUERY_ID, "NextToken": "page-2"},
    )

    result = _engine(client, sleeps).run(QUERY)

    assert result.rows == [
        {"version": "1", "n": 42, "mean_score": 0.25, "any_high": True, "total": 10.5},
        {"version": "2", "n": 7, "mean_score": None, "any_high": False, "total": None},
    ]
    assert result.columns == ["version", "n", "mean_score", "any_high", "total"]
    assert result.bytes_scanned == 123_456
    assert result.query_id == QUERY_ID
    assert result.engine == "athena"
    assert sleeps.waits == [0.5, 1.0, 2.0]  # doubling, bounded by max_poll_seconds


def test_a_failed_query_raises_with_athenas_reason(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    _start(stubber)
    _status(
        stubber,
        "FAILED",
        reason="COLUMN_NOT_FOUND: line 1:8: Column 'versoin' cannot be resolved",
        ErrorCategory=2,  # USER (Athena's error catalog)
    )

    with pytest.raises(QueryError) as raised:
        _engine(client, Sleeps()).run(QUERY)

    assert not isinstance(raised.value, QueryLimitExceeded)
    message = str(raised.value)
    assert "performance of fraud, window 2026-11-30T10:00Z" in message
    assert "FAILED" in message and "Column 'versoin' cannot be resolved" in message


def test_a_query_cancelled_at_the_workgroups_limit_names_the_limit_and_the_window(
    stubbed: tuple[Any, Stubber],
) -> None:
    client, stubber = stubbed
    limit = 10 * 1024**3
    for _ in range(2):  # the workgroup's limit is read once, for the first such query
        _start(stubber)
        _status(
            stubber,
            "CANCELLED",
            reason="Query cancelled! : Bytes scanned limit was exceeded",
            scanned=limit + 1,
            ErrorCategory=2,
        )
        if _ == 0:
            stubber.add_response(
                "get_work_group",
                {
                    "WorkGroup": {
                        "Name": WORKGROUP,
                        "Configuration": {"BytesScannedCutoffPerQuery": limit},
                    }
                },
                {"WorkGroup": WORKGROUP},
            )
    engine = _engine(client, Sleeps())

    for _ in range(2):
        with pytest.raises(QueryLimitExceeded) as raised:
            engine.run(QUERY)
        assert raised.value.limit_bytes == limit
        assert raised.value.scanned_bytes == limit + 1
        assert "window 2026-11-30T10:00Z" in str(raised.value)
        assert f"{limit:,} bytes" in str(raised.value)


def test_the_limit_is_recognised_from_the_error_message_when_the_reason_is_empty(
    stubbed: tuple[Any, Stubber],
) -> None:
    client, stubber = stubbed
    _start(stubber)
    _status(stubber, "FAILED", ErrorCategory=2, ErrorMessage="Bytes scanned limit was exceeded")
    stubber.add_response(
        "get_work_group",
        {"WorkGroup": {"Name": WORKGROUP, "Configuration": {"BytesScannedCutoffPerQuery": 10_485_760}}},
        {"WorkGroup": WORKGROUP},
    )

    with pytest.raises(QueryLimitExceeded) as raised:
        _engine(client, Sleeps()).run(QUERY)
    assert raised.value.limit_bytes == 10_485_760


def test_a_query_cancelled_for_another_reason_is_a_query_error(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    _start(stubber)
    _status(stubber, "CANCELLED", reason="Query was cancelled by user")

    with pytest.raises(QueryError, match="CANCELLED: Query was cancelled by user") as raised:
        _engine(client, Sleeps()).run(QUERY)
    assert not isinstance(raised.value, QueryLimitExceeded)


def test_a_query_past_the_timeout_is_stopped(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    sleeps = Sleeps()
    _start(stubber)
    # 0.5 + 1 + 2 + 2 = 5.5 s waited; the next 2 s wait would pass the 6 s timeout.
    for _ in range(5):
        _status(stubber, "RUNNING")
    stubber.add_response("stop_query_execution", {}, {"QueryExecutionId": QUERY_ID})

    with pytest.raises(QueryError, match="still running after 6 s; stopped"):
        _engine(client, sleeps, timeout=6.0).run(QUERY)
    assert sum(sleeps.waits) <= 6.0


@pytest.mark.parametrize(
    ("text", "athena_type", "expected"),
    [
        ("12", "integer", 12),
        ("-3", "bigint", -3),
        ("1.5", "double", 1.5),
        ("2.25", "decimal(10,2)", 2.25),
        ("0.5", "float", 0.5),
        ("TRUE", "boolean", True),
        ("false", "boolean", False),
        ("2026-11-30", "date", "2026-11-30"),
        ("x", "varchar", "x"),
        (None, "bigint", None),
    ],
)
def test_cells_convert_by_the_columns_type(text: str | None, athena_type: str, expected: Any) -> None:
    assert convert_value(text, athena_type) == expected
