"""Reading a version's training data as columns: from memory, a CSV, JSON (lines) or Parquet file.

The reference profile and the inferred input schema are computed from these
columns at registration. Files may be local or on S3 (``s3://bucket/key``).
"""

from __future__ import annotations

import csv
import json
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from modelwatch.contracts.layout import split_s3_uri
from modelwatch.contracts.schema import FeatureType, InputSchema
from modelwatch.stores import aws
from modelwatch.stores.objects import ObjectStorage, S3Storage

Columns = dict[str, list[Any]]


def _scalar(text: str) -> Any:
    """A CSV cell as the JSON value it spells: empty is None, then int, float, bool, else text."""
    if text == "":
        return None
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _coerce(value: Any, kind: FeatureType) -> Any:
    if value is None:
        return None
    try:
        if kind is FeatureType.NUMBER:
            return float(value)
        if kind is FeatureType.INTEGER:
            return int(float(value))
        if kind is FeatureType.BOOLEAN:
            return value if isinstance(value, bool) else str(value).lower() in ("true", "1", "yes")
    except (TypeError, ValueError):
        return value
    return str(value)


def _from_rows(rows: Sequence[Mapping[str, Any]]) -> Columns:
    names: list[str] = []
    for row in rows:
        for name in row:
            if name not in names:
                names.append(name)
    return {name: [row.get(name) for row in rows] for name in names}


def _read_file(path: Path) -> Columns:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open(newline="") as handle:
            rows = [{k: _scalar(v) for k, v in row.items()} for row in csv.DictReader(handle)]
        return _from_rows(rows)
    if suffix in (".jsonl", ".ndjson"):
        with path.open() as handle:
            return _from_rows([json.loads(line) for line in handle if line.strip()])
    if suffix == ".json":
        data = json.loads(path.read_text())
        if isinstance(data, list):
            return _from_rows(data)
        if isinstance(data, dict):
            return {str(k): list(v) for k, v in data.items()}
        raise ValueError(f"{path}: expected a list of rows or an object of columns")
    if suffix == ".parquet":
        try:
            import pyarrow.parquet as pq  # type: ignore[import-untyped,unused-ignore]
        except ImportError:
            raise ValueError(f"reading {path.name} needs pyarrow (pip install pyarrow)") from None
        table = pq.read_table(path)
        return {name: table.column(name).to_pylist() for name in table.column_names}
    raise ValueError(f"unsupported training data file {path.name}: use .csv, .json, .jsonl or .parquet")


def load_columns(
    data: Mapping[str, Sequence[Any]] | str | Path, storage: ObjectStorage | None = None
) -> tuple[Columns, str | None]:
    """Return the training data as columns, and its URI when it came from a file.

    Parameters
    ----------
    data:
        Columns (``{"amount": [...], ...}``, lists or numpy arrays), or a ``.csv``,
        ``.json``, ``.jsonl`` or ``.parquet`` file, local or ``s3://``.
    storage:
        Where ``s3://`` files are read from (default: S3 through a new boto3 client).

    Raises
    ------
    ValueError
        An unsupported file, or columns of different lengths.
    FileNotFoundError
        A local file does not exist.
    """
    if isinstance(data, Mapping):
        columns = {str(k): list(v) for k, v in data.items()}
        uri = None
    else:
        text = str(data)
        if text.startswith("s3://"):
            bucket, key = split_s3_uri(text)
            storage = storage or S3Storage(aws.client("s3"))
            with tempfile.TemporaryDirectory(prefix="modelwatch-data-") as tmp:
                local = Path(tmp) / Path(key).name
                storage.download(bucket, key, local)
                columns = _read_file(local)
            uri = text
        else:
            path = Path(text.removeprefix("file://")).expanduser()
            if not path.is_file():
                raise FileNotFoundError(f"training data not found: {path}")
            columns = _read_file(path)
            uri = path.resolve().as_uri()
    lengths = {len(values) for values in columns.values()}
    if len(lengths) > 1:
        raise ValueError(f"training data columns have different lengths: {sorted(lengths)}")
    if not columns or lengths == {0}:
        raise ValueError("training data is empty")
    return columns, uri


def coerce_columns(columns: Columns, schema: InputSchema) -> Columns:
    """The schema's columns with values converted to the schema's types (others are kept as they are)."""
    out = dict(columns)
    for feature in schema.features:
        if feature.name in out:
            out[feature.name] = [_coerce(_plain(v), feature.type) for v in out[feature.name]]
    return out


def _plain(value: Any) -> Any:
    """numpy scalars as Python values."""
    return value.item() if hasattr(value, "item") else value


def rows_of(columns: Columns, limit: int | None = None) -> list[dict[str, Any]]:
    """Rows (dicts) from columns, at most ``limit`` of them."""
    names = list(columns)
    count = len(columns[names[0]]) if names else 0
    if limit is not None:
        count = min(count, limit)
    return [{name: _plain(columns[name][i]) for name in names} for i in range(count)]
