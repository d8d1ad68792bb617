"""Counters that serving emits, behind a small interface.

In Lambda they become CloudWatch metrics through Powertools' embedded metric
format (written to the log, flushed by the handler's ``log_metrics``; no network
call on the request path). Tests pass ``InMemoryServingMetrics``.

A successful prediction emits nothing: its counts reach Prometheus from the captured
events (``modelwatch_predictions_total``, the metrics export), and an embedded-metric
line per request (278 bytes) would cost about $0.13 a million predictions in
CloudWatch Logs for metrics nothing read (docs/cost.md). Only what goes wrong is
counted here: rejections, capture failures, load failures, evictions.

Rollouts add no metric here. Per-variant request counts would need a metric per successful
request, which serving does not emit (above); they reach Prometheus with a bounded ``variant``
label from the captured events, through the jobs. What goes wrong with a candidate is counted
like any rejection: ``Rejections`` with reason ``candidate_failed`` (the candidate failed a
request production answered, or could not be loaded), and its load failures in ``ModelLoadFailures``.
"""

from __future__ import annotations

from collections import Counter
from typing import Protocol

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from modelwatch.observability import METRICS_NAMESPACE, metrics


class ServingMetrics(Protocol):
    def rejection(self, model: str, reason: str) -> None: ...

    def capture_failure(self, stream: str, records: int, dead_lettered: bool) -> None: ...

    def model_load_failure(self, model: str) -> None: ...

    def model_eviction(self, model: str) -> None: ...


class PowertoolsServingMetrics:
    """CloudWatch metrics in embedded metric format."""

    def rejection(self, model: str, reason: str) -> None:
        metrics.add_metric(name="RejectedRequests", unit=MetricUnit.Count, value=1)
        with single_metric(
            name="Rejections", unit=MetricUnit.Count, value=1, namespace=METRICS_NAMESPACE
        ) as metric:
            metric.add_dimension(name="model", value=model)
            metric.add_dimension(name="reason", value=reason)

    def capture_failure(self, stream: str, records: int, dead_lettered: bool) -> None:
        with single_metric(
            name="CaptureFailures", unit=MetricUnit.Count, value=records, namespace=METRICS_NAMESPACE
        ) as metric:
            metric.add_dimension(name="stream", value=stream)
            metric.add_dimension(name="outcome", value="dead_lettered" if dead_lettered else "logged")

    def model_load_failure(self, model: str) -> None:
        with single_metric(
            name="ModelLoadFailures", unit=MetricUnit.Count, value=1, namespace=METRICS_NAMESPACE
        ) as metric:
            metric.add_dimension(name="model", value=model)

    def model_eviction(self, model: str) -> None:
        # No model dimension: one metric per function, whatever the size of the fleet (the model
        # evicted is in the log line beside it).
        metrics.add_metric(name="ModelEvictions", unit=MetricUnit.Count, value=1)


class InMemoryServingMetrics:
    """Counts kept in memory, keyed by metric name and labels."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, ...]] = Counter()

    def rejection(self, model: str, reason: str) -> None:
        self.counts[("rejections", model, reason)] += 1

    def capture_failure(self, stream: str, records: int, dead_lettered: bool) -> None:
        self.counts[("capture_failures", stream, "dead_lettered" if dead_lettered else "logged")] += records

    def model_load_failure(self, model: str) -> None:
        self.counts[("model_load_failures", model)] += 1

    def model_eviction(self, model: str) -> None:
        self.counts[("model_evictions", model)] += 1
