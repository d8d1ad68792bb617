"""The SQL tables over captured records: one definition, read by Glue (AWS) and the embedded engine (local).

Three tables, one per capture kind, over the very objects Firehose delivers (JSON Lines,
gzip in AWS), partitioned as the layout partitions them: ``model``, ``dt`` (``YYYY-MM-DD``)
and ``hour`` (``HH``), all strings. In AWS they are Glue tables with partition projection
(``projection_parameters``): no crawler, no partition to add, and a query that names a
model, days and hours reads only those prefixes. Locally, ``modelwatch.stores.sql``'s
embedded engine declares the same columns over the same key layout on disk.

Column types are Hive/Athena DDL types. Fields holding JSON of any shape (``features``,
``prediction``, ``errors``) are declared ``string``: the OpenX JSON SerDe hands a nested
value over as its JSON text, so queries read it with ``json_extract_scalar`` (Trino), one
query text for every model's features. The records' own ``model`` field is not a column:
the partition key of the same name holds it (a table cannot have both).

No I/O: this module only describes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Final

from modelwatch.contracts import layout
from modelwatch.contracts.layout import CaptureKind

# The partition keys, in key order, as the layout writes them: model=<m>/dt=YYYY-MM-DD/hour=HH/.
PARTITION_KEYS: Final[tuple[str, ...]] = ("model", "dt", "hour")
DT_FORMAT: Final = "yyyy-MM-dd"  # Java date format, as partition projection wants it
# The first day partition projection enumerates; a query names its days, so the range costs nothing.
PROJECTION_FIRST_DAY: Final = date(2024, 1, 1)
JSON_SERDE: Final = "org.openx.data.jsonserde.JsonSerDe"
INPUT_FORMAT: Final = "org.apache.hadoop.mapred.TextInputFormat"
OUTPUT_FORMAT: Final = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # Hive/Athena DDL type: string, int, bigint, double, boolean
    comment: str


@dataclass(frozen=True)
class CaptureTable:
    """One table over one capture kind's objects."""

    name: str
    kind: CaptureKind
    columns: tuple[Column, ...]
    comment: str

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)


_COMMON: Final = (
    Column("schema_version", "int", "Version of the record's schema."),
    Column("event_id", "string", "Unique id of the record (duplicates mean a redelivery)."),
    Column("request_id", "string", "The request's id (joins labels to predictions, with index)."),
)

EVENTS_TABLE: Final = CaptureTable(
    name="events",
    kind="events",
    comment="One row per served instance: features, prediction, latency.",
    columns=(
        *_COMMON,
        Column("index", "int", "Position of the instance in its request."),
        Column("version", "string", "The model version that served it."),
        Column("timestamp", "string", "When it was served (ISO 8601, UTC)."),
        Column("features", "string", "The instance's features, as JSON text."),
        Column("prediction", "string", "The prediction, as JSON text (a number is its digits)."),
        Column("latency_ms", "double", "Time the request took to serve, in milliseconds."),
        Column("variant", "string", "production or candidate (null in records from before rollouts)."),
        Column("served", "boolean", "False for a rollout's shadow prediction (null: served)."),
    ),
)

REJECTED_TABLE: Final = CaptureTable(
    name="rejected",
    kind="rejected",
    comment="One row per request that was not served, with the reason and what it carried.",
    columns=(
        *_COMMON,
        Column("version", "string", "The version that would have served it, when known."),
        Column("timestamp", "string", "When it was received (ISO 8601, UTC)."),
        Column("reason", "string", "Why it was rejected (modelwatch.contracts.events.RejectionReason)."),
        Column("status_code", "int", "The HTTP status answered."),
        Column("errors", "string", "The validation errors, as JSON text."),
        Column("body", "string", "The request body as received (truncated past the body limit)."),
        Column("body_truncated", "boolean", "Whether body was truncated."),
        Column("variant", "string", "The rollout side that failed, when the request was routed."),
    ),
)

LABELS_TABLE: Final = CaptureTable(
    name="labels",
    kind="labels",
    comment="One row per label sent to the feedback endpoint (a label sent twice: two rows).",
    columns=(
        *_COMMON,
        Column("index", "int", "Position of the labelled instance in its request."),
        Column("label", "string", 'The true outcome, as JSON text (true, 1, 0.5, "churned").'),
        Column("timestamp", "string", "When the label was received (ISO 8601, UTC)."),
    ),
)

TABLES: Final[dict[str, CaptureTable]] = {
    table.name: table for table in (EVENTS_TABLE, REJECTED_TABLE, LABELS_TABLE)
}


def table_of(kind: CaptureKind) -> CaptureTable:
    """The table over the objects of ``kind``."""
    for table in TABLES.values():
        if table.kind == kind:
            return table
    raise ValueError(f"no table over {kind!r}")


def location_root(bucket: str, table: CaptureTable) -> str:
    """The table's ``LOCATION``: the kind's prefix, above every model's partitions."""
    return layout.s3_uri(bucket, layout.kind_prefix(table.kind))


def location_template(bucket: str, table: CaptureTable) -> str:
    """Partition projection's ``storage.location.template``: where one (model, day, hour) lives."""
    return location_root(bucket, table) + layout.capture_partition("${model}", "${dt}", "${hour}")


def projection_parameters(bucket: str, table: CaptureTable) -> dict[str, str]:
    """Glue table parameters for partition projection on ``model``, ``dt`` and ``hour``.

    ``model`` is *injected*: every query must name its model(s) in its WHERE clause, which
    is what keeps a query from scanning every model's history (Athena refuses one that does not).
    """
    return {
        "projection.enabled": "true",
        "projection.model.type": "injected",
        "projection.dt.type": "date",
        "projection.dt.format": DT_FORMAT,
        "projection.dt.range": f"{PROJECTION_FIRST_DAY.isoformat()},NOW",
        "projection.dt.interval": "1",
        "projection.dt.interval.unit": "DAYS",
        "projection.hour.type": "integer",
        "projection.hour.range": "0,23",
        "projection.hour.digits": "2",
        "storage.location.template": location_template(bucket, table),
        "classification": "json",
        "compressionType": "gzip",
        "EXTERNAL": "TRUE",
    }


def serde_parameters() -> dict[str, str]:
    """The OpenX JSON SerDe's options: a malformed line is a row of nulls, not a failed query."""
    return {"ignore.malformed.json": "true"}
