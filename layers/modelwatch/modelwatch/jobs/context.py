"""What a monitoring run needs: settings, the stores, the event bus, the metrics sink, the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from modelwatch.metrics.provider import DiscardingSink, MetricsSink, sink_from_settings
from modelwatch.settings.monitoring import MonitoringSettings
from modelwatch.stores import aws
from modelwatch.stores.artifacts import ArtifactStore
from modelwatch.stores.bus import EventBridgeBus, EventBus
from modelwatch.stores.events import EventStore
from modelwatch.stores.manifests import ManifestStore
from modelwatch.stores.objects import ObjectStorage, S3Storage
from modelwatch.stores.profiles import ProfileStore
from modelwatch.stores.references import VersionReferences
from modelwatch.stores.results import ResultStore
from modelwatch.stores.sql import DuckDBEngine, ObjectLake, QueryEngine


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class JobContext:
    """The stores a job reads and writes, over one object storage (S3, or memory in unit tests)."""

    settings: MonitoringSettings
    storage: ObjectStorage
    bus: EventBus | None = None
    metrics: MetricsSink = field(default_factory=DiscardingSink)
    clock: Callable[[], datetime] = field(default=utc_now)
    sql: QueryEngine | None = None  # SQL over the captured records (the performance job's join)
    events: EventStore = field(init=False)
    profiles: ProfileStore = field(init=False)
    results: ResultStore = field(init=False)
    manifests: ManifestStore = field(init=False)

    def __post_init__(self) -> None:
        bucket = self.settings.events_bucket
        self.events = EventStore(self.storage, bucket)
        self.profiles = ProfileStore(self.storage, bucket)
        self.results = ResultStore(self.storage, bucket)
        self.manifests = ManifestStore(self.storage, self.settings.models_bucket)

    def references(self) -> VersionReferences:
        """A fresh cache of version references, for one run (a version republished is read again)."""
        return VersionReferences(self.manifests, ArtifactStore(self.storage))


def build_query_engine(settings: MonitoringSettings, storage: ObjectStorage) -> QueryEngine | None:
    """The SQL engine the settings choose, or None when they choose none (drift, quality).

    Athena in AWS (the workgroup enforces the scan limit); DuckDB locally, over a lake of
    files synced from the events bucket (moto's, in memory) as each query needs them.
    Settings validation has made sure the chosen engine's settings are there.
    """
    if not settings.sql_requested:
        return None
    if settings.query_engine == "athena":
        from modelwatch.stores.athena import AthenaEngine

        assert settings.athena_workgroup and settings.athena_database  # checked when loaded
        return AthenaEngine(aws.client("athena"), settings.athena_workgroup, settings.athena_database)
    assert settings.lake_dir  # checked when loaded
    lake = ObjectLake(storage, settings.events_bucket, settings.lake_dir)
    return DuckDBEngine(
        settings.lake_dir, settings.query_bytes_limit, lake=lake, memory_limit=settings.query_memory_limit
    )


def build_job_context(settings: MonitoringSettings) -> JobContext:
    """Wire the production implementations: S3, EventBridge (when a bus is set), remote write, SQL."""
    bus = EventBridgeBus(aws.client("events"), settings.event_bus_name) if settings.event_bus_name else None
    storage = S3Storage(aws.client("s3"))
    return JobContext(
        settings=settings,
        storage=storage,
        bus=bus,
        metrics=sink_from_settings(settings),
        sql=build_query_engine(settings, storage),
    )
