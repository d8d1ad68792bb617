"""Typed settings, read from ``MODELWATCH_*`` environment variables.

Every function validates its settings when it initialises (not on first use),
so a misconfigured deployment fails at cold start with a message naming the
variable. Endpoints (moto locally, AWS in the cloud) are not settings of ours:
boto3 reads ``AWS_ENDPOINT_URL`` itself.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from modelwatch.names import check_model_name


def split_comma_list(value: object) -> object:
    """A ``before`` validator: ``"a, b,,c"`` from the environment becomes ``["a", "b", "c"]``."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class ServingSettings(BaseSettings):
    """Settings of the prediction API (one Lambda function, or the local server)."""

    model_config = SettingsConfigDict(env_prefix="MODELWATCH_", extra="ignore")

    models_bucket: str = Field(description="Bucket holding serving manifests and model artifacts.")
    manifest_prefix: str = Field("manifests", description="Key prefix of serving manifests.")
    serving_alias: str = Field("production", description="Alias whose manifest is served.")
    events_streams: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "JSON object mapping each model this function serves to the Firehose stream "
            "that captures its prediction events. A function predicts only for these models."
        ),
    )
    rejected_stream: str = Field(description="Firehose stream capturing rejected requests.")
    labels_stream: str | None = Field(
        None, description="Firehose stream capturing labels sent to the feedback endpoint."
    )
    max_labels: int = Field(10_000, ge=1, le=100_000)
    catalog_models: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated models listed by GET /v1/models (default: the served ones).",
    )
    capture_dlq_url: str | None = Field(
        None, description="SQS queue receiving events that Firehose still refused after retries."
    )
    capture_max_attempts: int = Field(3, ge=1, le=10)
    max_instances: int = Field(1000, ge=1, le=10_000)
    manifest_ttl_seconds: float = Field(
        30.0, ge=0, description="How long a manifest is trusted before a conditional re-read."
    )
    model_cache_dir: str = Field("/tmp/modelwatch-models")

    _split_catalog = field_validator("catalog_models", mode="before")(split_comma_list)

    @field_validator("events_streams")
    @classmethod
    def _check_served_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            check_model_name(name)
        return value

    @model_validator(mode="after")
    def _default_catalog(self) -> ServingSettings:
        if not self.catalog_models:
            self.catalog_models = list(self.events_streams)
        for name in self.catalog_models:
            check_model_name(name)
        return self

    @property
    def served_models(self) -> list[str]:
        """Models this function predicts for: those it has a capture stream for."""
        return list(self.events_streams)


class SettingsError(ValueError):
    """Settings are missing or invalid; the message names the environment variables."""


def load_serving_settings() -> ServingSettings:
    """Read ``ServingSettings`` from the environment, naming each bad ``MODELWATCH_*`` variable.

    Raises
    ------
    SettingsError
        One line per problem, e.g. ``MODELWATCH_MODELS_BUCKET: Field required``.
    """
    try:
        return ServingSettings()
    except ValidationError as error:
        raise SettingsError(_settings_problems(error)) from None


def _settings_problems(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        field = str(item["loc"][0]) if item.get("loc") else ""
        name = f"MODELWATCH_{field.upper()}" if field else "settings"
        problems.append(f"{name}: {item['msg']}")
    return "invalid modelwatch settings: " + "; ".join(problems)


class MonitoringSettings(BaseSettings):
    """Settings of the monitoring functions (profile, drift, quality, performance)."""

    model_config = SettingsConfigDict(env_prefix="MODELWATCH_", extra="ignore")

    events_bucket: str = Field(description="Bucket of captured events; results go under its reports/.")
    models_bucket: str = Field(description="Bucket of manifests, artifacts and reference profiles.")
    event_bus_name: str | None = Field(None, description="EventBridge bus for DriftDetected & co.")
    window_minutes: int = Field(60, ge=1, le=7 * 24 * 60, description="Length of a job's window.")
    label_lag_minutes: int = Field(
        0, ge=0, description="The performance job looks at predictions this much older (labels come late)."
    )
    drift_config: str | None = Field(None, description="JSON of modelwatch.drift.DriftConfig.")
    quality_thresholds: str | None = Field(None, description="JSON of modelwatch.quality.QualityThresholds.")
    performance_thresholds: str | None = Field(
        None, description='JSON {"min": {"auc": 0.7}, "max": {"rmse": 3.0}}: alert beyond these.'
    )
    classification_threshold: float = Field(0.5, gt=0, lt=1)


def load_monitoring_settings() -> MonitoringSettings:
    """Read ``MonitoringSettings`` from the environment, naming each bad ``MODELWATCH_*`` variable."""
    try:
        return MonitoringSettings()
    except ValidationError as error:
        raise SettingsError(_settings_problems(error)) from None
