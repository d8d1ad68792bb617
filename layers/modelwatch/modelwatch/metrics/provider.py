"""Metrics sinks behind one small interface: remote write in production, memory in tests.

Code that produces metrics takes a :class:`MetricsSink` as an argument and calls
:meth:`MetricsSink.push`; it never knows whether the samples go to AMP, to a local
Prometheus or to a list. :func:`sink_from_settings` builds the production sink from
``MODELWATCH_REMOTE_WRITE_URL`` (no URL: a sink that drops samples, logging once).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from modelwatch.metrics.remote_write import (
    DEFAULT_BACKOFF_SECONDS,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_SERIES_PER_REQUEST,
    DEFAULT_TIMEOUT_SECONDS,
    RemoteWriteClient,
    WriteOutcome,
)
from modelwatch.metrics.sample import Sample
from modelwatch.observability import METRICS_NAMESPACE, logger


class MetricsSink(abc.ABC):
    """Where metric samples go. ``push`` never raises; it returns what happened."""

    @abc.abstractmethod
    def push(self, samples: Sequence[Sample]) -> WriteOutcome:
        """Write ``samples``; return the outcome (a failure is reported, never raised)."""


class RemoteWriteSink(MetricsSink):
    """Samples to a Prometheus remote-write endpoint (AMP with SigV4, or a plain URL).

    Series the endpoint rejects or that cannot be delivered are logged by the client
    and counted here as CloudWatch metrics (``RemoteWriteRejectedSeries``,
    ``RemoteWriteFailedSeries``, embedded metric format: no network call), since
    counting them in the endpoint that refused them would not work.
    """

    def __init__(self, client: RemoteWriteClient, count_failures: bool = True) -> None:
        self.client = client
        self._count_failures = count_failures

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RemoteWriteSink:
        """Return a sink for ``url``; ``options`` go to :class:`RemoteWriteClient`."""
        return cls(RemoteWriteClient(url, **options))

    def push(self, samples: Sequence[Sample]) -> WriteOutcome:
        outcome = self.client.write(samples)
        if self._count_failures and not outcome.ok:
            for name, value in (
                ("RemoteWriteRejectedSeries", outcome.rejected),
                ("RemoteWriteFailedSeries", outcome.failed),
            ):
                if value:
                    with single_metric(
                        name=name, unit=MetricUnit.Count, value=value, namespace=METRICS_NAMESPACE
                    ):
                        pass
        return outcome


class InMemorySink(MetricsSink):
    """Keeps every sample pushed (tests, notebooks). ``fail_with`` simulates an outage."""

    def __init__(self, fail_with: str | None = None) -> None:
        self.samples: list[Sample] = []
        self.pushes = 0
        self.fail_with = fail_with

    def push(self, samples: Sequence[Sample]) -> WriteOutcome:
        self.pushes += 1
        batch = list(samples)
        series = len({s.series_key for s in batch})
        if self.fail_with is not None:
            return WriteOutcome(series=series, samples=len(batch), failed=series, errors=[self.fail_with])
        self.samples.extend(batch)
        return WriteOutcome(series=series, samples=len(batch), requests=1, written=series)

    def values(self, name: str, **labels: str) -> list[float]:
        """Values pushed for ``name`` whose labels include ``labels``, in push order."""
        return [
            s.value
            for s in self.samples
            if s.name == name and all(s.label_dict.get(k) == v for k, v in labels.items())
        ]

    def last(self, name: str, **labels: str) -> float:
        """The last value pushed for ``name`` with ``labels``.

        Raises
        ------
        KeyError
            Nothing matching was pushed.
        """
        values = self.values(name, **labels)
        if not values:
            raise KeyError(f"no sample of {name} with {labels}")
        return values[-1]

    def names(self) -> set[str]:
        return {s.name for s in self.samples}


class DiscardingSink(MetricsSink):
    """Drops samples: metrics are not configured (no remote-write URL). Logs once."""

    def __init__(self) -> None:
        self._warned = False

    def push(self, samples: Sequence[Sample]) -> WriteOutcome:
        if not self._warned:
            logger.info("MODELWATCH_REMOTE_WRITE_URL is not set: metric samples are discarded")
            self._warned = True
        return WriteOutcome(samples=len(samples))


class MetricsSettings(BaseSettings):
    """Where metrics go, from ``MODELWATCH_*`` variables (set by the CDK stack or the local stack)."""

    model_config = SettingsConfigDict(env_prefix="MODELWATCH_", extra="ignore")

    remote_write_url: str | None = Field(
        None,
        description=(
            "Prometheus remote-write endpoint: AMP's (signed with SigV4, region from the URL) "
            "or a plain one such as the local Prometheus's http://127.0.0.1:9090/api/v1/write."
        ),
        pattern=r"^https?://\S+$",
    )
    remote_write_max_series: int = Field(DEFAULT_MAX_SERIES_PER_REQUEST, ge=1, le=10_000)
    remote_write_max_attempts: int = Field(DEFAULT_MAX_ATTEMPTS, ge=1, le=10)
    remote_write_backoff_seconds: float = Field(DEFAULT_BACKOFF_SECONDS, ge=0, le=30)
    remote_write_timeout_seconds: float = Field(DEFAULT_TIMEOUT_SECONDS, gt=0, le=60)


def load_metrics_settings() -> MetricsSettings:
    """Read :class:`MetricsSettings` from the environment.

    Raises
    ------
    modelwatch.settings.SettingsError
        Naming each bad ``MODELWATCH_*`` variable.
    """
    from modelwatch.settings import SettingsError

    try:
        return MetricsSettings()
    except ValidationError as error:
        problems = [
            f"MODELWATCH_{str(item['loc'][0]).upper() if item.get('loc') else ''}: {item['msg']}"
            for item in error.errors()
        ]
        raise SettingsError("invalid modelwatch metrics settings: " + "; ".join(problems)) from None


def sink_from_settings(
    settings: MetricsSettings | None = None, sleep: Callable[[float], None] | None = None
) -> MetricsSink:
    """Return the production sink: remote write to the configured URL, or a discarding sink."""
    settings = settings or load_metrics_settings()
    if not settings.remote_write_url:
        return DiscardingSink()
    options: dict[str, Any] = {
        "max_series_per_request": settings.remote_write_max_series,
        "max_attempts": settings.remote_write_max_attempts,
        "backoff_seconds": settings.remote_write_backoff_seconds,
        "timeout_seconds": settings.remote_write_timeout_seconds,
    }
    if sleep is not None:
        options["sleep"] = sleep
    return RemoteWriteSink.from_url(settings.remote_write_url, **options)
