"""``modelwatch sql "SELECT ..."``: one query over the captured records, in Athena's dialect.

The engine comes from the monitoring settings (``MODELWATCH_QUERY_ENGINE``): in AWS, Athena
in the platform's workgroup (``MODELWATCH_ATHENA_WORKGROUP``, ``MODELWATCH_ATHENA_DATABASE``:
the stack outputs ``QueryWorkgroupName`` and ``QueryDatabaseName``), which refuses a query
past its per-query scan limit; locally, DuckDB over the local stack's bucket, whose capture
objects are synced to ``MODELWATCH_LAKE_DIR`` first (``--no-sync``: the lake as it is, e.g. after
the local stack stopped). The tables are ``events``, ``rejected``
and ``labels`` (docs/querying.md); every query must name its model (``WHERE model = '...'``)
and should name its days (``dt``): that is what bounds what it scans.

Rows go to stdout as a table, JSON or CSV (at most ``--max-rows``); a summary line (rows,
bytes scanned, query id) goes to stderr. Bad SQL, a query past the scan limit, or an engine
error: one line on stderr, exit code 2.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import sys
from typing import TYPE_CHECKING, Any

from modelwatch.cli.arguments import whole_number
from modelwatch.cli.errors import CliError

if TYPE_CHECKING:
    from modelwatch.stores.sql import QueryEngine, QueryResult

FORMATS = ("table", "json", "csv")
_CELL_WIDTH = 60  # a table cell longer than this is cut (features JSON); json and csv keep it whole
_TERMINAL_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")  # sqlglot underlines the bad token in its messages


def _read_sql(text: str) -> str:
    sql = sys.stdin.read() if text == "-" else text
    sql = sql.strip().rstrip(";").strip()
    if not sql:
        raise CliError("no query: pass the SQL as the argument, or - to read it from stdin")
    return sql


def _engine(timeout_seconds: float, sync: bool = True) -> QueryEngine:
    """The engine of the monitoring settings; locally, with every capture partition synced first."""
    from modelwatch.contracts.layout import CAPTURE_KINDS
    from modelwatch.jobs.context import build_query_engine
    from modelwatch.settings import MonitoringSettings, SettingsError, load_settings
    from modelwatch.stores import aws
    from modelwatch.stores.athena import AthenaEngine
    from modelwatch.stores.objects import S3Storage
    from modelwatch.stores.sql import DuckDBEngine

    try:
        settings = load_settings(MonitoringSettings)
    except SettingsError as error:
        raise CliError(str(error)) from None
    engine = build_query_engine(settings, S3Storage(aws.client("s3")))
    if engine is None:
        raise CliError(
            "no query engine: set MODELWATCH_QUERY_ENGINE (athena, with MODELWATCH_ATHENA_WORKGROUP and "
            "MODELWATCH_ATHENA_DATABASE; or duckdb, with MODELWATCH_LAKE_DIR)"
        )
    if isinstance(engine, AthenaEngine):
        engine.timeout_seconds = timeout_seconds
    if isinstance(engine, DuckDBEngine) and engine.lake is not None:
        if not sync:
            engine.lake = None  # the lake as it is (the local stack is down: its last sync stays)
        else:
            try:
                engine.lake.sync_all(CAPTURE_KINDS)  # an ad-hoc query may read any day of any kind
            except Exception as error:  # botocore's: moto (the local stack) is not answering
                raise CliError(
                    f"cannot sync {settings.lake_dir} from s3://{settings.events_bucket} "
                    f"({type(error).__name__}: {error}); is the local stack up (make up)? "
                    "--no-sync queries the lake as it is"
                ) from None
    return engine


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def format_rows(columns: list[str], rows: list[dict[str, Any]], output: str) -> str:
    """``rows`` as an aligned text table, JSON (a list of objects) or CSV with a header."""
    if output == "json":
        return json.dumps(rows, indent=2, default=str)
    if output == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[_cell(row.get(c)) for c in columns] for row in rows])
        return buffer.getvalue().rstrip("\n")
    cells = [[_cut(_cell(row.get(c))) for c in columns] for row in rows]
    widths = [max([len(c), *(len(line[i]) for line in cells)]) for i, c in enumerate(columns)]
    numeric = [
        all(isinstance(row.get(c), int | float) or row.get(c) is None for row in rows) for c in columns
    ]

    def line(values: list[str]) -> str:
        parts = [
            v.rjust(w) if right else v.ljust(w) for v, w, right in zip(values, widths, numeric, strict=True)
        ]
        return " | ".join(parts).rstrip()

    rule = "-+-".join("-" * w for w in widths)
    return "\n".join([line(list(columns)), rule, *(line(values) for values in cells)])


def _cut(text: str) -> str:
    return text if len(text) <= _CELL_WIDTH else text[: _CELL_WIDTH - 1] + "…"


def _summary(result: QueryResult, shown: int) -> str:
    rows = len(result.rows)
    more = f" ({rows - shown} more not shown: raise --max-rows)" if rows > shown else ""
    where = f", query {result.query_id}" if result.query_id else ""
    plural = "s" if rows != 1 else ""
    if result.engine == "duckdb":  # ad-hoc queries declare no partitions: the local engine counts none
        return f"{rows} row{plural}{more} (duckdb, over the local lake)"
    return f"{rows} row{plural}{more}, {result.bytes_scanned:,} bytes scanned ({result.engine}{where})"


def _run_sql(args: argparse.Namespace) -> int:
    from modelwatch.stores.sql import Query, QueryError

    sql = _read_sql(args.sql)
    engine = _engine(args.timeout, sync=not args.no_sync)
    try:
        result = engine.run(Query(sql=sql, description="modelwatch sql"))
    except QueryError as error:  # bad SQL, the scan limit, the engine's own errors
        raise CliError(_TERMINAL_ESCAPE.sub("", str(error))) from None
    shown = result.rows[: args.max_rows]
    columns = result.columns or (list(shown[0]) if shown else [])
    if columns:
        print(format_rows(columns, shown, args.format))
    print(_summary(result, len(shown)), file=sys.stderr)
    return 0


def add_commands(sub: Any) -> None:
    parser = sub.add_parser(
        "sql",
        help="run one SQL query (Athena's dialect) over the captured events, rejected requests and labels",
        description=(
            "Tables: events, rejected, labels, partitioned by model, dt (YYYY-MM-DD) and hour (HH). "
            "Name the model (WHERE model = '...') and the days: that is what bounds the bytes scanned. "
            "See docs/querying.md."
        ),
    )
    parser.add_argument("sql", help="the query, in Athena's (Trino) dialect; - reads it from stdin")
    parser.add_argument("--format", choices=FORMATS, default="table", help="how rows are printed")
    parser.add_argument("--max-rows", type=whole_number(), default=100, help="print at most this many rows")
    parser.add_argument(
        "--timeout", type=whole_number(), default=300, help="Athena: stop the query after this many seconds"
    )
    parser.add_argument(
        "--no-sync",
        action="store_true",
        help="DuckDB: query the local lake as it is, without syncing it from the bucket first "
        "(after make demo or make down, the lake keeps what the stack captured)",
    )
    parser.set_defaults(run=_run_sql)
