"""SQL over the captured records: the query port, and its embedded implementation (DuckDB over local files).

Queries are written once, in Athena's dialect (Trino), against the tables of
``modelwatch.contracts.tables`` (``events``, ``rejected``, ``labels``, each with the
partition columns ``model``, ``dt`` and ``hour``). In AWS, ``modelwatch.stores.athena``
runs them in the platform's workgroup; locally and in tests, :class:`DuckDBEngine`
transpiles them with sqlglot and runs them on files laid out exactly as the events
bucket is (``<root>/events/model=<m>/dt=YYYY-MM-DD/hour=HH/<object>``).

A query says which partitions it reads (``Query.scans``): the embedded engine reads only
those files and, like Athena's per-query scan limit, refuses a query whose files add up to
more than its ``bytes_limit``, naming the limit and what the query was for. Queries bring
back aggregates: results are small, so they are returned as a list of rows.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from modelwatch.contracts import layout
from modelwatch.contracts.events import GZIP_MAGIC
from modelwatch.contracts.layout import CaptureKind
from modelwatch.contracts.tables import PARTITION_KEYS, TABLES, CaptureTable
from modelwatch.stores.objects import ObjectNotFound, ObjectStorage

SOURCE_DIALECT = "trino"  # Athena engine version 3


class QueryError(RuntimeError):
    """A query failed: the message says which query and why."""


class QueryLimitExceeded(QueryError):
    """A query would scan more than the engine's (the workgroup's) per-query limit."""

    def __init__(self, description: str, limit_bytes: int, scanned_bytes: int | None = None) -> None:
        self.description = description
        self.limit_bytes = limit_bytes
        self.scanned_bytes = scanned_bytes
        would = f" (it would scan {scanned_bytes:,} bytes)" if scanned_bytes is not None else ""
        super().__init__(
            f"{description}: the query would scan more than the limit of {limit_bytes:,} bytes "
            f"per query{would}; narrow the window or raise the limit"
        )


@dataclass(frozen=True)
class TableScan:
    """What one table a query reads: one model, every delivery hour in ``[first_hour, last_hour]``."""

    table: str
    model: str
    first_hour: datetime
    last_hour: datetime

    def __post_init__(self) -> None:
        if self.table not in TABLES:
            raise ValueError(f"no table {self.table!r}: one of {sorted(TABLES)}")

    def hours(self) -> list[datetime]:
        hour = self.first_hour.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        found = []
        while hour <= self.last_hour:
            found.append(hour)
            hour += timedelta(hours=1)
        return found

    def prefixes(self) -> list[str]:
        """The object-key prefixes of the scanned partitions (the layout's hour prefixes)."""
        kind = TABLES[self.table].kind
        return [layout.capture_prefix(kind, self.model) + layout.hour_partition(h) for h in self.hours()]


@dataclass(frozen=True)
class Query:
    """A query in Athena's (Trino) dialect, what it is for, and the partitions it reads."""

    sql: str
    description: str
    scans: tuple[TableScan, ...] = ()


@dataclass(frozen=True)
class QueryResult:
    rows: list[dict[str, Any]]
    bytes_scanned: int
    engine: str
    query_id: str | None = None
    columns: list[str] = field(default_factory=list)


class QueryEngine(Protocol):
    """Runs a :class:`Query` and returns its (small) result."""

    name: str

    def run(self, query: Query) -> QueryResult:
        """Run ``query``; raise ``QueryLimitExceeded`` past the scan limit, ``QueryError`` otherwise."""
        ...


def to_duckdb(sql: str) -> str:
    """Transpile one statement from Athena's dialect (Trino) to DuckDB's."""
    import sqlglot

    try:
        statements = sqlglot.transpile(sql, read=SOURCE_DIALECT, write="duckdb")
    except sqlglot.errors.ParseError as error:
        raise QueryError(f"not a valid query in Athena's dialect: {error}") from error
    if len(statements) != 1:
        raise QueryError(f"expected one SQL statement, got {len(statements)}")
    return statements[0]


_DUCKDB_TYPES = {
    "string": "VARCHAR",
    "int": "INTEGER",
    "bigint": "BIGINT",
    "double": "DOUBLE",
    "boolean": "BOOLEAN",
}


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


_KIND_ROOT: dict[CaptureKind, str] = {
    "events": layout.EVENTS_PREFIX,
    "rejected": layout.REJECTED_PREFIX,
    "labels": layout.LABELS_PREFIX,
}


@dataclass
class LakeSync:
    """What one sync did: prefixes listed, objects seen, downloaded (and their bytes), removed."""

    prefixes: int = 0
    objects: int = 0
    downloaded: int = 0
    downloaded_bytes: int = 0
    removed: int = 0


class ObjectLake:
    """The capture objects of a bucket mirrored as files under ``root``, for the embedded engine.

    Locally the bucket is moto's (in memory), and DuckDB reads files: a sync lists the
    partitions a query reads (the layout's hour prefixes, never the whole history) and
    downloads the objects it does not hold yet, or whose size changed, to ``root/<key>``;
    a file whose object is gone is removed. Files land whole (written beside, then renamed),
    so a query never reads half an object.
    """

    def __init__(self, storage: ObjectStorage, bucket: str, root: str | Path) -> None:
        self.storage = storage
        self.bucket = bucket
        self.root = Path(root)

    def sync(self, scans: Iterable[TableScan]) -> LakeSync:
        """Bring the partitions ``scans`` read up to date (one listing per hour prefix)."""
        report = LakeSync()
        prefixes = dict.fromkeys(prefix for scan in scans for prefix in scan.prefixes())
        for prefix in prefixes:
            self._sync_prefix(prefix, report, depth=1)
        return report

    def sync_all(self, kinds: Iterable[CaptureKind], model: str | None = None) -> LakeSync:
        """Bring every partition of ``kinds`` (of ``model`` only, when given) up to date: for ad-hoc queries.

        This lists the kinds' whole history, which is what an ad-hoc query over any day can read.
        """
        report = LakeSync()
        for kind in dict.fromkeys(kinds):
            prefix = layout.capture_prefix(kind, model) if model else _KIND_ROOT[kind]
            # Below the prefix: dt=, hour=, then the object (under one model); a model partition first.
            self._sync_prefix(prefix, report, depth=3 if model else 4)
        return report

    def _sync_prefix(self, prefix: str, report: LakeSync, depth: int) -> None:
        report.prefixes += 1
        remote: set[str] = set()
        for info in self.storage.list_objects(self.bucket, prefix):
            if info.key.endswith("/"):
                continue
            remote.add(info.key)
            report.objects += 1
            target = self.root / info.key
            if target.is_file() and target.stat().st_size == info.size:
                continue
            if self._download(info.key, target):
                report.downloaded += 1
                report.downloaded_bytes += info.size
        directory = self.root / prefix
        if directory.is_dir():
            for path in directory.glob("/".join(["*"] * depth)):
                key = path.relative_to(self.root).as_posix()
                if path.is_file() and key not in remote and not path.name.startswith("."):
                    path.unlink()
                    report.removed += 1

    def _download(self, key: str, target: Path) -> bool:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        try:
            self.storage.download(self.bucket, key, partial)
        except ObjectNotFound:  # deleted since it was listed: nothing to mirror
            partial.unlink(missing_ok=True)
            return False
        os.replace(partial, target)
        return True


class DuckDBEngine:
    """The embedded engine: DuckDB over files in the events bucket's layout under ``root``.

    A line that is not JSON becomes a row of nulls, as with the OpenX SerDe's
    ``ignore.malformed.json`` in Athena, so one corrupt line never fails a query.
    With a ``lake`` (the local stack, whose bucket is moto's), the partitions a query
    declares are synced from the bucket first.
    """

    name = "duckdb"

    def __init__(
        self,
        root: str | Path,
        bytes_limit: int | None = None,
        threads: int | None = None,
        lake: ObjectLake | None = None,
        memory_limit: str | None = None,
    ) -> None:
        self.root = Path(root)
        self.bytes_limit = bytes_limit
        self.threads = threads
        self.lake = lake
        # DuckDB takes 80% of the machine by default; with a limit its joins and aggregates
        # spill to a directory beside the files instead (e.g. "1GB").
        self.memory_limit = memory_limit

    def files(self, scan: TableScan) -> list[Path]:
        """The files of the partitions ``scan`` reads, in key order."""
        found: list[Path] = []
        for prefix in scan.prefixes():
            directory = self.root / prefix
            if directory.is_dir():
                found.extend(
                    sorted(p for p in directory.iterdir() if p.is_file() and not p.name.startswith("."))
                )
        return found

    def _all_files(self, table: CaptureTable) -> list[Path]:
        base = self.root / TABLES[table.name].kind
        if not base.is_dir():
            return []
        return sorted(p for p in base.glob("*/*/*/*") if p.is_file() and not p.name.startswith("."))

    def run(self, query: Query) -> QueryResult:
        import duckdb

        if self.lake is not None and query.scans:
            self.lake.sync(query.scans)
        scanned: dict[str, list[Path]] = {}
        for scan in query.scans:
            scanned.setdefault(scan.table, []).extend(self.files(scan))
        # A table the query does not declare is read whole (ad-hoc queries; its partition
        # filters still skip files, as hive partition pruning does).
        for name, table in TABLES.items():
            if name not in scanned:
                scanned[name] = self._all_files(table)
        declared = {scan.table for scan in query.scans}
        bytes_scanned = sum(p.stat().st_size for name in declared for p in scanned[name])
        if self.bytes_limit is not None and bytes_scanned > self.bytes_limit:
            raise QueryLimitExceeded(query.description, self.bytes_limit, bytes_scanned)
        sql = to_duckdb(query.sql)
        connection = duckdb.connect(":memory:")
        try:
            if self.threads:
                connection.execute(f"SET threads = {int(self.threads)}")
            if self.memory_limit:
                connection.execute(f"SET memory_limit = {_quote(self.memory_limit)}")
                connection.execute(f"SET temp_directory = {_quote(str(self.root / '.spill'))}")
            for name, table in TABLES.items():
                connection.execute(f"CREATE VIEW {name} AS {self._view(table, scanned[name])}")
            cursor = connection.execute(sql)
            columns = [str(d[0]) for d in cursor.description or []]
            rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        except duckdb.Error as error:
            raise QueryError(f"{query.description}: {type(error).__name__}: {error}") from error
        finally:
            connection.close()
        return QueryResult(rows=rows, bytes_scanned=bytes_scanned, engine=self.name, columns=columns)

    @staticmethod
    def _view(table: CaptureTable, files: Sequence[Path]) -> str:
        if not files:  # no object yet: an empty table with the right columns
            selected = [f'CAST(NULL AS {_DUCKDB_TYPES[c.type]}) AS "{c.name}"' for c in table.columns]
            selected += [f'CAST(NULL AS VARCHAR) AS "{key}"' for key in PARTITION_KEYS]
            return f"SELECT {', '.join(selected)} WHERE false"
        columns = ", ".join(f"{_quote(c.name)}: {_quote(_DUCKDB_TYPES[c.type])}" for c in table.columns)
        hive_types = ", ".join(f"{_quote(key)}: 'VARCHAR'" for key in PARTITION_KEYS)
        names = ", ".join(f'"{name}"' for name in (*table.column_names, *PARTITION_KEYS))
        # Firehose gzips its objects without naming them .gz (and moto does not compress), so the
        # compression is told per file, from its first bytes, rather than guessed from the name.
        by_compression: dict[str, list[Path]] = {}
        for path in files:
            by_compression.setdefault("gzip" if _is_gzip(path) else "none", []).append(path)
        reads = [
            f"SELECT {names} FROM read_json([{', '.join(_quote(str(p)) for p in paths)}], "
            f"format = 'newline_delimited', compression = '{compression}', hive_partitioning = true, "
            f"hive_types = {{{hive_types}}}, columns = {{{columns}}}, ignore_errors = true)"
            for compression, paths in sorted(by_compression.items())
        ]
        return " UNION ALL ".join(reads)


def _is_gzip(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(2) == GZIP_MAGIC
