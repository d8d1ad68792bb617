"""Settings of the monitoring functions: profile, drift, quality, performance and rollout."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from modelwatch.contracts.monitoring_config import DriftConfig, PerformanceThresholds, QualityThresholds
from modelwatch.settings.base import JsonSetting, variable_name
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
    rollout_window_minutes: int = Field(
        5,
        ge=1,
        le=24 * 60,
        description="The rollout job's window: a guardrail breach is acted on within one such period.",
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
    query_memory_limit: str | None = Field(
        "1GB",
        pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$",
        description="DuckDB only: its memory limit (past it, joins spill to disk; unset: 80% of RAM).",
    )

    @model_validator(mode="after")
    def _check_query_engine(self) -> MonitoringSettings:
        """The chosen engine has what it needs, or loading fails naming each missing variable.

        Only a deployment that asks for SQL is checked: ``MODELWATCH_QUERY_ENGINE`` set, or an
        Athena setting given. The drift and quality functions share these settings and run no
        query, so they set none of them (and get no engine).
        """
        if not self.sql_requested:
            return self
        needed = ("athena_workgroup", "athena_database") if self.query_engine == "athena" else ("lake_dir",)
        missing = [name for name in needed if not getattr(self, name)]
        if missing:
            engine = variable_name("query_engine")
            raise ValidationError.from_exception_data(
                type(self).__name__,
                [
                    InitErrorDetails(
                        type=PydanticCustomError(
                            "required_by_query_engine",
                            "required when {engine} is {value}",
                            {"engine": engine, "value": self.query_engine},
                        ),
                        loc=(name,),
                        input=None,
                    )
                    for name in missing
                ],
            )
        return self

    @property
    def sql_requested(self) -> bool:
        """Whether this deployment runs SQL: the engine was chosen, or Athena's names were given."""
        return "query_engine" in self.model_fields_set or bool(self.athena_workgroup or self.athena_database)
