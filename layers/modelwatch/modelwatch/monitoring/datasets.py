"""Reading datasets into columns: CSV, Parquet and JSON Lines files, and captured event records.

Files are read with pyarrow into arrow columns (numbers are handed to numpy
without pandas); JSON Lines files whose columns mix types, and captured events
(``features`` + ``prediction``), are read into lists of Python values. Either
form is accepted by ``modelwatch.monitoring.profile`` and ``modelwatch.monitoring.quality``.

Formats by extension: ``.csv``; ``.parquet`` / ``.pq``; ``.jsonl`` / ``.ndjson``
/ ``.json`` (JSON Lines, or one JSON array of objects), optionally ``.gz``.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

PARQUET_SUFFIXES = (".parquet", ".pq")
CSV_SUFFIXES = (".csv",)
JSON_SUFFIXES = (".jsonl", ".ndjson", ".json")
PREDICTION_COLUMN = "prediction"


class DatasetError(ValueError):
    """A dataset cannot be read (missing file, unknown format, bad content, unknown columns)."""


def _format(path: Path) -> tuple[str, bool]:
    name = path.name.lower()
    compressed = name.endswith(".gz")
    if compressed:
        name = name[:-3]
    for fmt, suffixes in (("parquet", PARQUET_SUFFIXES), ("csv", CSV_SUFFIXES), ("json", JSON_SUFFIXES)):
        if name.endswith(suffixes):
            return fmt, compressed
    raise DatasetError(
        f"{path}: unknown format (expected .csv, .parquet, .jsonl, .ndjson or .json, optionally .gz)"
    )


def row_count(columns: Mapping[str, Any]) -> int:
    """Number of rows of a column mapping (0 when it has no column)."""
    for values in columns.values():
        return len(values)
    return 0


def read_columns(path: str | Path, columns: Sequence[str] | None = None) -> dict[str, Any]:
    """Read a data file into ``{column: values}``.

    Parameters
    ----------
    path:
        A ``.csv``, ``.parquet`` or JSON Lines file (see the module docstring).
    columns:
        Only these columns, in this order; all columns when None.

    Returns
    -------
    dict[str, Any]
        pyarrow chunked arrays (CSV, Parquet, uniform JSON Lines) or lists of values.

    Raises
    ------
    DatasetError
        When the file is missing or unreadable, its format unknown, or a requested column absent.
    """
    path = Path(path)
    fmt, compressed = _format(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    try:
        if fmt == "parquet":
            data = _read_parquet(path, columns)
        elif fmt == "csv":
            data = _read_csv(path, compressed)
        else:
            data = _read_json(path, compressed)
    except DatasetError:
        raise
    except Exception as error:
        message = " ".join(str(error).split())[:300]
        raise DatasetError(f"cannot read {path}: {type(error).__name__}: {message}") from None
    return select_columns(data, columns, str(path))


def parquet_row_count(path: str | Path) -> int | None:
    """Rows of a Parquet file from its footer (None for other formats or an unreadable file)."""
    path = Path(path)
    try:
        if _format(path)[0] != "parquet" or not path.is_file():
            return None
        import pyarrow.parquet as pq

        return int(pq.read_metadata(path).num_rows)
    except Exception:
        return None


def select_columns(
    data: Mapping[str, Any], columns: Sequence[str] | None, where: str = "data"
) -> dict[str, Any]:
    """``data`` restricted to ``columns`` (in that order); DatasetError naming unknown ones."""
    if columns is None:
        return dict(data)
    unknown = [name for name in columns if name not in data]
    if unknown:
        raise DatasetError(f"{where}: unknown column(s): {', '.join(unknown)}")
    return {name: data[name] for name in columns}


def _read_parquet(path: Path, columns: Sequence[str] | None) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pq.ParquetFile(path).schema_arrow
    if columns is not None:
        unknown = [name for name in columns if name not in schema.names]
        if unknown:
            raise DatasetError(f"{path}: unknown column(s): {', '.join(unknown)}")
    strings = [
        field.name
        for field in schema
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type)
    ]
    # Strings are read dictionary-encoded: categories are then counted on integer indices.
    # ParquetFile rather than read_table: read_table goes through pyarrow.dataset, which
    # imports pandas when it is installed (0.4 s of a 1.5 s drift run).
    parquet = pq.ParquetFile(path, memory_map=True, read_dictionary=strings)
    table = parquet.read(columns=list(columns) if columns is not None else None)
    return {name: table.column(name) for name in table.column_names}


def _read_csv(path: Path, compressed: bool) -> dict[str, Any]:
    import pyarrow.csv as pacsv

    options = pacsv.ConvertOptions(strings_can_be_null=True)
    table = pacsv.read_csv(path, convert_options=options)
    return {name: table.column(name) for name in table.column_names}


def _json_records(text: str) -> list[Any]:
    stripped = text.lstrip()
    if stripped.startswith("["):
        records = json.loads(stripped)
        if not isinstance(records, list):
            raise DatasetError("a JSON file must hold one array of objects, or one object per line")
        return records
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _read_json(path: Path, compressed: bool) -> dict[str, Any]:
    raw = path.read_bytes()
    if compressed or raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    text = raw.decode("utf-8")
    first = next((line for line in text.splitlines() if line.strip()), "")
    if not first.lstrip().startswith("[") and first.strip():
        head = json.loads(first)
        looks_like_events = isinstance(head, dict) and isinstance(head.get("features"), dict)
        if not looks_like_events:
            try:
                import pyarrow as pa
                import pyarrow.json as pajson

                table = pajson.read_json(pa.BufferReader(raw))
                if not any(pa.types.is_nested(field.type) for field in table.schema):
                    return {name: table.column(name) for name in table.column_names}
            except Exception:  # mixed types in a column: read as Python values below
                pass
    records = _json_records(text)
    if any(not isinstance(record, dict) for record in records):
        raise DatasetError(f"{path}: every JSON record must be an object")
    if records and all(isinstance(record.get("features"), dict) for record in records):
        return columns_from_events(records)
    return columns_from_records(records)


def columns_from_records(records: Iterable[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """Columns of flat records; a key absent from a record is None there.

    Parameters
    ----------
    records:
        Row objects, e.g. ``[{"a": 1, "b": "x"}, ...]``.

    Returns
    -------
    dict[str, list[Any]]
        Columns in order of first appearance.
    """
    rows = list(records)
    names: dict[str, None] = {}
    for row in rows:
        for key in row:
            names.setdefault(str(key), None)
    return {name: [row.get(name) for row in rows] for name in names}


def columns_from_events(
    records: Iterable[Mapping[str, Any]], prediction_column: str = PREDICTION_COLUMN
) -> dict[str, list[Any]]:
    """Columns of captured prediction events: one per feature, plus the prediction.

    Parameters
    ----------
    records:
        ``PredictionEvent`` records as dictionaries (as read by ``modelwatch.stores.events``).
    prediction_column:
        Name of the column holding each event's ``prediction``.

    Returns
    -------
    dict[str, list[Any]]
        Feature columns in order of first appearance (None where a feature is absent),
        then the prediction column (when any event carries one).
    """
    events = list(records)
    names: dict[str, None] = {}
    for event in events:
        for key in event.get("features") or {}:
            names.setdefault(str(key), None)
    columns: dict[str, list[Any]] = {
        name: [(event.get("features") or {}).get(name) for event in events] for name in names
    }
    if any("prediction" in event for event in events):
        columns[prediction_column] = [event.get("prediction") for event in events]
    return columns
