"""What the prediction API needs at run time, built once per execution environment."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from modelwatch.artifacts import S3ArtifactFetcher
from modelwatch.capture import EventSink, FirehoseSink, SqsDeadLetter
from modelwatch.manifest import S3ManifestStore
from modelwatch.serving.metrics import PowertoolsServingMetrics, ServingMetrics
from modelwatch.serving.model_cache import ModelCache
from modelwatch.settings import ServingSettings


def utc_now() -> datetime:
    return datetime.now(UTC)


class LazyClient:
    """A boto3 client created on first use.

    The dead-letter queue is written only when capture fails after its retries, so its
    client is not worth its ~15 ms at every cold start.
    """

    def __init__(self, service: str) -> None:
        self._service = service
        self._client: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client(self._service)  # type: ignore[call-overload]
        return getattr(self._client, name)


@dataclass
class ServingContext:
    settings: ServingSettings
    models: ModelCache
    sink: EventSink
    metrics: ServingMetrics
    clock: Callable[[], datetime] = field(default=utc_now)


def build_context(
    settings: ServingSettings,
    s3_client: Any | None = None,
    firehose_client: Any | None = None,
    sqs_client: Any | None = None,
    metrics: ServingMetrics | None = None,
) -> ServingContext:
    """Wire the production implementations (boto3 clients created here, once)."""
    import boto3

    s3 = s3_client or boto3.client("s3")
    firehose = firehose_client or boto3.client("firehose")
    dead_letter = None
    if settings.capture_dlq_url:
        dead_letter = SqsDeadLetter(sqs_client or LazyClient("sqs"), settings.capture_dlq_url)
    serving_metrics = metrics or PowertoolsServingMetrics()
    models = ModelCache(
        manifests=S3ManifestStore(s3, settings.models_bucket, settings.manifest_prefix),
        artifacts=S3ArtifactFetcher(s3, settings.model_cache_dir),
        served_models=settings.served_models,
        alias=settings.serving_alias,
        ttl_seconds=settings.manifest_ttl_seconds,
        on_load_failure=lambda model, _error: serving_metrics.model_load_failure(model),
    )
    sink = FirehoseSink(firehose, dead_letter, max_attempts=settings.capture_max_attempts)
    return ServingContext(settings=settings, models=models, sink=sink, metrics=serving_metrics)
