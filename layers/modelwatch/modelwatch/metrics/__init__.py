"""Metrics: the catalogue, samples, sinks (remote write, memory), serving and monitoring metrics.

What the handlers use::

    from modelwatch.metrics import sink_from_settings, drift_samples, job_samples
    sink = sink_from_settings()                      # MODELWATCH_REMOTE_WRITE_URL
    outcome = sink.push(drift_samples(...) + job_samples(...))   # never raises
"""

from modelwatch.metrics.monitoring_metrics import (
    FeatureDrift,
    PerformanceValue,
    QualityCheck,
    drift_samples,
    job_samples,
    performance_samples,
    quality_samples,
)
from modelwatch.metrics.provider import (
    DiscardingSink,
    InMemorySink,
    MetricsSettings,
    MetricsSink,
    RemoteWriteSink,
    load_metrics_settings,
    sink_from_settings,
)
from modelwatch.metrics.remote_write import RemoteWriteClient, WriteOutcome
from modelwatch.metrics.sample import Sample

__all__ = [
    "DiscardingSink",
    "FeatureDrift",
    "InMemorySink",
    "MetricsSettings",
    "MetricsSink",
    "PerformanceValue",
    "QualityCheck",
    "RemoteWriteClient",
    "RemoteWriteSink",
    "Sample",
    "WriteOutcome",
    "drift_samples",
    "job_samples",
    "load_metrics_settings",
    "performance_samples",
    "quality_samples",
    "sink_from_settings",
]
