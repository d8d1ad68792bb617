"""What a monitoring run needs: settings, S3, the event bus, and how to tell the time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from modelwatch.jobs.platform_events import EventBridgeBus, EventBus
from modelwatch.jobs.references import VersionReferences
from modelwatch.jobs.results import ResultStore
from modelwatch.metrics import DiscardingSink, MetricsSink, sink_from_settings
from modelwatch.settings import MonitoringSettings


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class JobContext:
    settings: MonitoringSettings
    s3: Any
    bus: EventBus | None
    metrics: MetricsSink = field(default_factory=DiscardingSink)
    clock: Callable[[], datetime] = field(default=utc_now)

    def results(self) -> ResultStore:
        return ResultStore(self.s3, self.settings.events_bucket)

    def references(self) -> VersionReferences:
        return VersionReferences(self.s3, self.settings.models_bucket)


def build_job_context(
    settings: MonitoringSettings, s3_client: Any | None = None, events_client: Any | None = None
) -> JobContext:
    """Wire the production implementations (boto3 clients created here, once)."""
    import boto3

    s3 = s3_client or boto3.client("s3")
    bus: EventBus | None = None
    if settings.event_bus_name:
        bus = EventBridgeBus(events_client or boto3.client("events"), settings.event_bus_name)
    return JobContext(settings=settings, s3=s3, bus=bus, metrics=sink_from_settings())
