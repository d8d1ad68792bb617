"""A deployment in memory for the jobs: both buckets in memory, a bus and a sink that keep what they get.

``JobWorld`` publishes versions (manifest and reference profile, as publishing does) and
delivers captured records under the keys Firehose would use, so each job runs exactly as
in AWS, on the in-memory stores.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

import pytest

from modelwatch.contracts import layout
from modelwatch.contracts.manifest import ServingManifest
from modelwatch.contracts.schema import FeatureSpec, FeatureType, InputSchema
from modelwatch.contracts.window import Window
from modelwatch.jobs.context import JobContext
from modelwatch.metrics.provider import InMemorySink
from modelwatch.monitoring.datasets import columns_from_records
from modelwatch.monitoring.profile import profile_dataset
from modelwatch.settings import MonitoringSettings
from modelwatch.stores.artifacts import ArtifactStore
from modelwatch.stores.bus import InMemoryBus
from modelwatch.stores.manifests import ManifestStore
from modelwatch.stores.objects import InMemoryStorage

EVENTS_BUCKET = "events"
MODELS_BUCKET = "models"
MODEL = "fraud"
WINDOW = Window(datetime(2026, 11, 26, 9, tzinfo=UTC), datetime(2026, 11, 26, 10, tzinfo=UTC))
SCHEMA = InputSchema(
    features=[
        FeatureSpec(name="amount", type=FeatureType.NUMBER, minimum=0.0),
        FeatureSpec(name="channel", type=FeatureType.STRING, allowed_values=["online", "branch"]),
    ]
)


def rows(n: int, seed: int, amount_mean: float = 50.0, online_share: float = 0.7) -> list[dict[str, Any]]:
    """Seeded feature rows: a normal amount, a two-valued channel."""
    rng = random.Random(seed)
    return [
        {
            "amount": max(0.0, rng.gauss(amount_mean, 10.0)),
            "channel": "online" if rng.random() < online_share else "branch",
        }
        for _ in range(n)
    ]


@dataclass
class JobWorld:
    settings: MonitoringSettings
    storage: InMemoryStorage = field(default_factory=InMemoryStorage)
    bus: InMemoryBus = field(default_factory=InMemoryBus)
    sink: InMemorySink = field(default_factory=InMemorySink)
    now: datetime = WINDOW.end + timedelta(minutes=5)
    _ids: count[int] = field(default_factory=count)

    @property
    def context(self) -> JobContext:
        return JobContext(
            settings=self.settings,
            storage=self.storage,
            bus=self.bus,
            metrics=self.sink,
            clock=lambda: self.now,
        )

    def publish(
        self,
        version: str,
        reference: list[dict[str, Any]] | None = None,
        prediction_type: str = "probability",
    ) -> ServingManifest:
        """Publish a version: its manifest, and its reference profile when ``reference`` rows are given."""
        manifest = ServingManifest(
            model=MODEL,
            version=version,
            flavor="sklearn",
            artifact_uri=f"s3://{MODELS_BUCKET}/{layout.model_file_key(MODEL, version, 'sklearn')}",
            input_schema=SCHEMA,
            prediction_type=prediction_type,
        )
        if reference is not None:
            columns = columns_from_records(reference)
            columns["prediction"] = [0.1 + 0.8 * (r["channel"] == "online") for r in reference]
            uri = ArtifactStore(self.storage).put_text(
                MODELS_BUCKET,
                layout.reference_profile_key(MODEL, version),
                profile_dataset(columns, SCHEMA).model_dump_json(),
            )
            manifest = manifest.model_copy(update={"reference_profile_uri": uri})
        ManifestStore(self.storage, MODELS_BUCKET).write(manifest)
        return manifest

    def deliver(
        self,
        kind: layout.CaptureKind,
        records: list[dict[str, Any]],
        at: datetime | None = None,
        model: str | None = None,
    ) -> str:
        """Put ``records`` where Firehose delivers ``kind`` at ``at`` (default: mid-window): the first key.

        Without ``model``, one object per model partition, as Firehose splits a delivery
        (``layout.partition_model``; a record it cannot place goes to ``MODEL``'s). With ``model``,
        one object in that model's partition whatever its records name: a mixed object on purpose.
        """
        moment = at or WINDOW.start + timedelta(minutes=30)
        by_model: dict[str, list[dict[str, Any]]] = {}
        for record in records:
            try:
                partition = model or layout.partition_model(kind, record)
            except ValueError:
                partition = MODEL
            by_model.setdefault(partition, []).append(record)
        name = f"stream-{next(self._ids)}-{moment:%Y-%m-%d-%H-%M-%S}"
        keys = []
        for partition, lines in (by_model or {model or MODEL: []}).items():
            key = layout.partitioned_key(kind, moment, name, partition)
            self.storage.put(EVENTS_BUCKET, key, "".join(json.dumps(r) + "\n" for r in lines).encode())
            keys.append(key)
        return keys[0]

    def predictions(
        self,
        features: list[dict[str, Any]],
        version: str = "1",
        at: datetime | None = None,
        model: str = MODEL,
    ) -> list[dict[str, Any]]:
        """Prediction events of one request per row, stamped ``at`` (default: mid-window)."""
        stamp = (at or WINDOW.start + timedelta(minutes=30)).isoformat()
        return [
            {
                "schema_version": 1,
                "event_id": f"e{next(self._ids)}",
                "request_id": f"req-{version}-{i}",
                "index": 0,
                "model": model,
                "version": version,
                "timestamp": stamp,
                "features": row,
                "prediction": 0.1 + 0.8 * (row.get("channel") == "online"),
                "latency_ms": 2.0,
            }
            for i, row in enumerate(features)
        ]


@pytest.fixture
def world() -> JobWorld:
    return JobWorld(settings=MonitoringSettings(events_bucket=EVENTS_BUCKET, models_bucket=MODELS_BUCKET))
