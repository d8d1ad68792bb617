"""Settings of the monitoring functions: profile, drift, quality and performance."""

from __future__ import annotations

from pydantic import Field

from modelwatch.contracts.monitoring_config import DriftConfig, PerformanceThresholds, QualityThresholds
from modelwatch.settings.base import JsonSetting
from modelwatch.settings.remote_write import RemoteWriteSettings


class MonitoringSettings(RemoteWriteSettings):
    """What a monitoring run reads, where it writes, and the configuration of each job."""

    events_bucket: str = Field(description="Bucket of captured events; results go under its reports/.")
    models_bucket: str = Field(description="Bucket of manifests, artifacts and reference profiles.")
    event_bus_name: str | None = Field(None, description="EventBridge bus for DriftDetected & co.")
    window_minutes: int = Field(60, ge=1, le=7 * 24 * 60, description="Length of a job's window.")
    label_lag_minutes: int = Field(
        0, ge=0, description="The performance job looks at predictions this much older (labels come late)."
    )
    drift_config: JsonSetting[DriftConfig] = Field(
        default_factory=DriftConfig, description="JSON of a DriftConfig: tests, thresholds, overrides."
    )
    quality_thresholds: JsonSetting[QualityThresholds] = Field(
        default_factory=QualityThresholds, description="JSON of QualityThresholds."
    )
    performance_thresholds: JsonSetting[PerformanceThresholds] = Field(
        default_factory=PerformanceThresholds,
        description='JSON {"min": {"auc": 0.7}, "max": {"rmse": 3.0}}: alert beyond these.',
    )
    classification_threshold: float = Field(0.5, gt=0, lt=1)
