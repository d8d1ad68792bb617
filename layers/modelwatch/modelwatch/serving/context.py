"""What the prediction API needs at run time, built once per execution environment."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from modelwatch.flavors import installed_flavors
from modelwatch.serving.metrics import PowertoolsServingMetrics, ServingMetrics
from modelwatch.serving.model_cache import MB, ModelCache
from modelwatch.serving.post_invoke import CaptureQueue
from modelwatch.settings.serving import ServingSettings
from modelwatch.stores import aws
from modelwatch.stores.artifacts import ArtifactStore
from modelwatch.stores.capture import EventSink, FirehoseSink
from modelwatch.stores.dead_letters import SqsDeadLetter
from modelwatch.stores.manifests import ManifestStore
from modelwatch.stores.objects import ObjectStorage, S3Storage

# Manifest reads and artifact downloads: bounded, so S3 throttling (SlowDown) costs seconds, not a
# request's whole timeout; botocore retries once (standard mode), the cache retries after its TTL.
STORAGE_CALL_LIMITS: Final = aws.CallLimits(connect_timeout=1.0, read_timeout=5.0, attempts=2)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class ServingContext:
    settings: ServingSettings
    models: ModelCache
    sink: EventSink
    metrics: ServingMetrics
    clock: Callable[[], datetime] = field(default=utc_now)
    # Capture records wait here for their Firehose call, made after the response (post_invoke).
    capture: CaptureQueue = field(default=None)  # type: ignore[assignment]  # built from sink and metrics

    def __post_init__(self) -> None:
        if self.capture is None:
            self.capture = CaptureQueue(self.sink, self.metrics)


def capture_sink(settings: ServingSettings) -> FirehoseSink:
    """Firehose with short timeouts and no hidden retries, the dead-letter queue behind it.

    botocore makes one attempt per call (the sink retries within the request's time budget);
    the dead-letter queue's client is created on first use: it is written only when capture
    fails after its retries.
    """
    limits = aws.CallLimits(settings.capture_connect_timeout_seconds, settings.capture_read_timeout_seconds)
    dead_letter = None
    if settings.capture_dlq_url:
        dead_letter = SqsDeadLetter(
            aws.LazyClient("sqs", limits), settings.capture_dlq_url, call_seconds=limits.longest_call_seconds
        )
    return FirehoseSink(
        aws.client("firehose", limits),
        dead_letter,
        max_attempts=settings.capture_max_attempts,
        attempt_seconds=limits.longest_call_seconds,
        dead_letter_seconds=settings.capture_dead_letter_seconds,
    )


def build_context(
    settings: ServingSettings,
    storage: ObjectStorage | None = None,
    sink: EventSink | None = None,
    metrics: ServingMetrics | None = None,
) -> ServingContext:
    """Wire the production implementations (S3, Firehose and its dead-letter queue), or the ones given."""
    storage = storage or S3Storage(aws.client("s3", STORAGE_CALL_LIMITS))
    if sink is None:
        sink = capture_sink(settings)
    serving_metrics = metrics or PowertoolsServingMetrics()
    models = ModelCache(
        manifests=ManifestStore(storage, settings.models_bucket, settings.manifest_prefix),
        artifacts=ArtifactStore(storage, settings.model_cache_dir),
        served_models=settings.served_models,
        alias=settings.serving_alias,
        ttl_seconds=settings.manifest_ttl_seconds,
        on_load_failure=lambda model, _error: serving_metrics.model_load_failure(model),
        served_flavors=settings.served_flavors or installed_flavors(),
        budget_bytes=int(settings.model_cache_budget_mb * MB),
        negative_ttl_seconds=settings.negative_ttl_seconds,
        on_eviction=serving_metrics.model_eviction,
    )
    return ServingContext(settings=settings, models=models, sink=sink, metrics=serving_metrics)
