"""Metrics sinks behind one small interface: remote write in production, memory in tests.

Code that produces metrics takes a :class:`MetricsSink` as an argument and calls
:meth:`MetricsSink.push`; it never knows whether the samples go to AMP, to a local
Prometheus or to a list. :func:`sink_from_settings` builds the production sink from
the function's ``RemoteWriteSettings`` (no URL: a sink that drops samples, logging once).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from modelwatch.contracts.sample import Sample
from modelwatch.metrics.remote_write import RemoteWriteClient, WriteOutcome
from modelwatch.observability import METRICS_NAMESPACE, logger
from modelwatch.settings.remote_write import RemoteWriteSettings


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


def sink_from_settings(
    settings: RemoteWriteSettings, sleep: Callable[[float], None] | None = None
) -> MetricsSink:
    """Return the production sink: remote write to the configured URL, or a discarding sink."""
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
