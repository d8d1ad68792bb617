"""Settings of the monitoring functions: profile, drift, quality and performance."""

from __future__ import annotations

from typing import Literal

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
    label_horizon_days: int = Field(
        7,
        ge=0,
        le=90,
        description="How long after a window the performance job still recomputes it as late labels arrive.",
    )
    query_engine: Literal["athena", "duckdb"] = Field(
        "athena",
        description="Where SQL over the captured records runs: Athena (AWS) or DuckDB (local files).",
    )
    athena_workgroup: str | None = Field(None, description="The Athena workgroup the jobs' queries run in.")
    athena_database: str | None = Field(None, description="The Glue database of the events tables.")
    lake_dir: str | None = Field(
        None, description="DuckDB only: the directory holding the events bucket's capture objects as files."
    )
    query_bytes_limit: int | None = Field(
        None,
        ge=1,
        description="DuckDB only: refuse a query reading more bytes (the workgroup enforces it in AWS).",
    )
