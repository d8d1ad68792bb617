"""A window of many rows as per-object quality documents, without generating its JSON rows.

Each object's counts come from ``check_quality`` on numpy (and dictionary-encoded arrow)
columns of ``rows_per_object`` rows, with missing, non-finite, out-of-range and unseen
values; the captured objects themselves are small placeholders whose listed ETags the
documents carry, so a job that read an object instead of its document would find no row
in it (and count an unreadable line). Shared by the scale test and ``bench_quality.py``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pyarrow as pa

from modelwatch.contracts import layout
from modelwatch.contracts.manifest import ServingManifest
from modelwatch.contracts.object_quality import ObjectQuality
from modelwatch.contracts.schema import FeatureSpec, FeatureType, InputSchema
from modelwatch.contracts.window import Window
from modelwatch.monitoring.quality import check_quality, quality_counts
from modelwatch.stores.manifests import ManifestStore
from modelwatch.stores.objects import ObjectStorage

NUMERIC = 20
CATEGORICAL = 5
CATEGORIES = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"]
ALLOWED = CATEGORIES[:8]  # the last two are unseen categories


def wide_schema() -> InputSchema:
    """20 numeric features with ranges (some integer) and 5 categorical ones with allowed values."""
    numeric = [
        FeatureSpec(
            name=f"num_{i}",
            type=FeatureType.INTEGER if i % 4 == 2 else FeatureType.NUMBER,
            minimum=-3.0 if i % 4 == 0 else 0.0,
            maximum=3.0 if i % 4 == 0 else None,
            nullable=i % 2 == 0,
        )
        for i in range(NUMERIC)
    ]
    categorical = [
        FeatureSpec(name=f"cat_{i}", type=FeatureType.STRING, allowed_values=ALLOWED)
        for i in range(CATEGORICAL)
    ]
    return InputSchema(features=numeric + categorical)


class ColumnPool:
    """Columns twice the object size; each object takes a window of them (views, no copies)."""

    def __init__(self, rows_per_object: int, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        size = 2 * rows_per_object
        self.rows = rows_per_object
        self.numeric: list[Any] = []
        for i in range(NUMERIC):
            if i % 4 == 0:
                values = rng.normal(0.0, 1.0, size)
            elif i % 4 == 1:
                values = rng.lognormal(0.0, 0.8, size)
            elif i % 4 == 2:
                values = rng.integers(-1, 24, size).astype(np.float64)
            else:
                values = rng.gamma(2.0, 2.0, size)
            values[rng.integers(0, size, size // 200)] = np.nan
            values[rng.integers(0, size, size // 5000)] = np.inf
            self.numeric.append(values)
        self.codes = [rng.integers(0, len(CATEGORIES), size).astype(np.int32) for _ in range(CATEGORICAL)]
        self.dictionary = pa.array(CATEGORIES)

    def columns(self, index: int) -> dict[str, Any]:
        start = (index * 7919) % self.rows
        stop = start + self.rows
        columns: dict[str, Any] = {f"num_{i}": v[start:stop] for i, v in enumerate(self.numeric)}
        for i, codes in enumerate(self.codes):
            columns[f"cat_{i}"] = pa.DictionaryArray.from_arrays(pa.array(codes[start:stop]), self.dictionary)
        return columns


def object_documents(
    storage: ObjectStorage,
    bucket: str,
    models_bucket: str,
    model: str,
    window: Window,
    n_objects: int = 100,
    rows_per_object: int = 100_000,
    version: str = "1",
) -> list[str]:
    """Publish ``version``'s manifest with the wide schema and store ``n_objects`` objects' quality documents.

    Returns the keys of the placeholder objects, one per minute of the window's first hour.
    """
    schema = wide_schema()
    ManifestStore(storage, models_bucket).write(
        ServingManifest(
            model=model,
            version=version,
            flavor="sklearn",
            artifact_uri=f"s3://{models_bucket}/{layout.model_file_key(model, version, 'sklearn')}",
            input_schema=schema,
            prediction_type="probability",
        )
    )
    pool = ColumnPool(rows_per_object)
    keys = []
    for index in range(n_objects):
        moment = window.start + timedelta(seconds=index * 30)
        key = layout.partitioned_key("events", moment, f"stream-{index:05d}", model)
        etag = storage.put(bucket, key, f"placeholder {index}".encode())
        report = check_quality(schema, pool.columns(index))
        document = ObjectQuality(
            source_key=key,
            source_etag=etag,
            kind="events",
            n_records=rows_per_object,
            first_timestamp=moment.isoformat(),
            last_timestamp=(moment + timedelta(seconds=29)).isoformat(),
            versions=[quality_counts(report, model, version)],
        )
        storage.put(bucket, layout.object_quality_key(key), document.model_dump_json().encode())
        keys.append(key)
    return keys
