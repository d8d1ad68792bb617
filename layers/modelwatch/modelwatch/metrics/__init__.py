"""Metrics: the catalogue, samples, sinks (remote write, memory), serving and monitoring metrics.

What the handlers use::

    from modelwatch.metrics import sink_from_settings, drift_samples, job_samples
    sink = sink_from_settings(settings)              # settings.remote_write_url
    outcome = sink.push(drift_samples(...) + job_samples(...))   # never raises
"""

from modelwatch.contracts.sample import Sample
from modelwatch.metrics.monitoring_metrics import (
    FeatureDrift,
    PerformanceValue,
    QualityCheck,
    drift_samples,
    job_samples,
    performance_samples,
    quality_samples,
    rollout_samples,
)
from modelwatch.metrics.provider import (
    DiscardingSink,
    InMemorySink,
    MetricsSink,
    RemoteWriteSink,
    sink_from_settings,
)
from modelwatch.metrics.remote_write import RemoteWriteClient, WriteOutcome

__all__ = [
    "DiscardingSink",
    "FeatureDrift",
    "InMemorySink",
    "MetricsSink",
    "PerformanceValue",
    "QualityCheck",
    "RemoteWriteClient",
    "RemoteWriteSink",
    "Sample",
    "WriteOutcome",
    "drift_samples",
    "job_samples",
    "performance_samples",
    "quality_samples",
    "rollout_samples",
    "sink_from_settings",
]
