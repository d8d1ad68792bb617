"""The query port on Amazon Athena: one query at a time in the platform's workgroup.

A query is started in the workgroup (which enforces its own result location, encryption
and ``BytesScannedCutoffPerQuery``), polled with a bounded back-off until it ends, and its
(small) result read page by page. A query past our own timeout is stopped, so a job that
gives up leaves nothing running and billing.

Athena cancels a query that reaches the workgroup's per-query data limit; its status then
says ``Bytes scanned limit was exceeded``. That is reported as ``QueryLimitExceeded``,
naming the limit (read once from the workgroup) and the query's description (which names
the model and window), so the message tells the reader what to narrow.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from modelwatch.stores.sql import Query, QueryError, QueryLimitExceeded, QueryResult

# Athena's words for a query cancelled by the workgroup's per-query data usage control.
SCAN_LIMIT_REASON = "bytes scanned limit was exceeded"
_ENDED = ("SUCCEEDED", "FAILED", "CANCELLED")
_INTEGER_TYPES = frozenset({"tinyint", "smallint", "integer", "int", "bigint"})
_FLOAT_TYPES = frozenset({"double", "float", "real", "decimal"})


def convert_value(text: str | None, athena_type: str) -> Any:
    """One result cell from its text, by the column's type: ints, floats, bools, else text; null is None."""
    if text is None:
        return None
    kind = athena_type.lower().split("(", 1)[0].strip()
    if kind in _INTEGER_TYPES:
        return int(text)
    if kind in _FLOAT_TYPES:
        return float(text)
    if kind == "boolean":
        return text.lower() == "true"
    return text


class AthenaEngine:
    """``QueryEngine`` over Athena.

    Parameters
    ----------
    client:
        A boto3 Athena client (``modelwatch.stores.aws.client("athena")``).
    workgroup, database:
        Where queries run, and the Glue database holding the tables.
    poll_seconds:
        The first wait between status checks; it doubles up to ``max_poll_seconds``.
    timeout_seconds:
        How long a query may run before it is stopped and reported as failed.
    sleep, clock:
        Seams for tests (``time.sleep`` and ``time.monotonic``).
    """

    name = "athena"

    def __init__(
        self,
        client: Any,
        workgroup: str,
        database: str,
        poll_seconds: float = 0.5,
        timeout_seconds: float = 240.0,
        max_poll_seconds: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self.workgroup = workgroup
        self.database = database
        self.poll_seconds = poll_seconds
        self.timeout_seconds = timeout_seconds
        self.max_poll_seconds = max(max_poll_seconds, poll_seconds)
        self._sleep = sleep
        self._clock = clock
        self._limit_bytes: int | None = None
        self._limit_read = False

    def scan_limit_bytes(self) -> int | None:
        """The workgroup's ``BytesScannedCutoffPerQuery`` (None when it has none), read once."""
        if not self._limit_read:
            answer = self._client.get_work_group(WorkGroup=self.workgroup)
            configuration = answer.get("WorkGroup", {}).get("Configuration", {})
            cutoff = configuration.get("BytesScannedCutoffPerQuery")
            self._limit_bytes = int(cutoff) if cutoff is not None else None
            self._limit_read = True
        return self._limit_bytes

    def run(self, query: Query) -> QueryResult:
        """Run ``query`` in the workgroup and return its rows.

        Raises
        ------
        QueryLimitExceeded
            Athena cancelled the query at the workgroup's per-query data limit.
        QueryError
            The query failed, was cancelled, or ran past ``timeout_seconds`` (then it is stopped).
        """
        started = self._client.start_query_execution(
            QueryString=query.sql,
            WorkGroup=self.workgroup,
            QueryExecutionContext={"Database": self.database},
        )
        query_id: str = started["QueryExecutionId"]
        execution = self._wait(query, query_id)
        status = execution.get("Status", {})
        state = status.get("State")
        scanned = execution.get("Statistics", {}).get("DataScannedInBytes")
        if state != "SUCCEEDED":
            reason = _reason(status)
            limit = self.scan_limit_bytes() if SCAN_LIMIT_REASON in reason.lower() else None
            if limit is not None:
                raise QueryLimitExceeded(
                    f"{query.description} (Athena query {query_id})",
                    limit,
                    int(scanned) if scanned is not None else None,
                )
            raise QueryError(f"{query.description}: Athena query {query_id} {state}: {reason}")
        columns, rows = self._results(query_id)
        return QueryResult(
            rows=rows,
            bytes_scanned=int(scanned or 0),
            engine=self.name,
            query_id=query_id,
            columns=columns,
        )

    def _wait(self, query: Query, query_id: str) -> dict[str, Any]:
        deadline = self._clock() + self.timeout_seconds
        delay = self.poll_seconds
        while True:
            execution: dict[str, Any] = self._client.get_query_execution(QueryExecutionId=query_id)[
                "QueryExecution"
            ]
            if execution.get("Status", {}).get("State") in _ENDED:
                return execution
            if self._clock() + delay > deadline:
                self._client.stop_query_execution(QueryExecutionId=query_id)
                raise QueryError(
                    f"{query.description}: Athena query {query_id} still running after "
                    f"{self.timeout_seconds:g} s; stopped"
                )
            self._sleep(delay)
            delay = min(delay * 2, self.max_poll_seconds)

    def _results(self, query_id: str) -> tuple[list[str], list[dict[str, Any]]]:
        columns: list[str] = []
        types: list[str] = []
        rows: list[dict[str, Any]] = []
        token: str | None = None
        first_page = True
        while True:
            request: dict[str, Any] = {"QueryExecutionId": query_id}
            if token:
                request["NextToken"] = token
            page = self._client.get_query_results(**request)
            result_set = page["ResultSet"]
            if first_page:
                info = result_set.get("ResultSetMetadata", {}).get("ColumnInfo", [])
                columns = [column["Name"] for column in info]
                types = [column.get("Type", "varchar") for column in info]
            data = result_set.get("Rows", [])
            if first_page and data:
                data = data[1:]  # a SELECT's first row repeats the column names
            for row in data:
                cells = [cell.get("VarCharValue") for cell in row.get("Data", [])]
                rows.append(
                    {
                        name: convert_value(text, athena_type)
                        for name, athena_type, text in zip(columns, types, cells, strict=False)
                    }
                )
            first_page = False
            token = page.get("NextToken")
            if not token:
                return columns, rows


def _reason(status: dict[str, Any]) -> str:
    """What Athena says went wrong: the state-change reason and the error's message, when they differ."""
    said = [status.get("StateChangeReason"), status.get("AthenaError", {}).get("ErrorMessage")]
    parts = list(dict.fromkeys(str(text) for text in said if text))
    return "; ".join(parts) or "no reason given"
