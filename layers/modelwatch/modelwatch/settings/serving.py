"""Settings of the prediction API (the predict and catalog functions, or the local server)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator, model_validator
from pydantic_settings import NoDecode

from modelwatch.contracts import layout
from modelwatch.contracts.names import check_model_name
from modelwatch.settings.base import JsonSetting, ModelwatchSettings, split_comma_list


class ServingSettings(ModelwatchSettings):
    """Settings of the prediction API (one Lambda function, or the local server)."""

    models_bucket: str = Field(description="Bucket holding serving manifests and model artifacts.")
    manifest_prefix: str = Field(layout.MANIFESTS_PREFIX, description="Key prefix of serving manifests.")
    serving_alias: str = Field("production", description="Alias whose manifest is served.")
    events_streams: JsonSetting[dict[str, str]] = Field(
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
    capture_connect_timeout_seconds: float = Field(
        0.5, gt=0, le=10, description="Connect timeout of each Firehose and dead-letter call."
    )
    capture_read_timeout_seconds: float = Field(
        2.0, gt=0, le=30, description="Read timeout of each Firehose and dead-letter call."
    )
    capture_dead_letter_seconds: float = Field(
        5.0,
        ge=0,
        le=60,
        description=(
            "Capture stops trying Firehose this long before its deadline, so the dead-letter "
            "queue has time to take what Firehose did not (the rest is logged)."
        ),
    )
    capture_budget_seconds: float = Field(
        10.0,
        gt=0,
        le=120,
        description=(
            "Outside Lambda (no invocation deadline): how long capture may take. In Lambda, "
            "capture ends half a second before the invocation's own deadline."
        ),
    )
    capture_post_invoke: bool = Field(
        True,
        description=(
            "In Lambda, send capture in the post-invoke phase (an internal extension), after the "
            "response; false, or when the Extensions API is unavailable: before the handler returns."
        ),
    )
    capture_extension_name: str = Field(
        "modelwatch-capture",
        min_length=1,
        max_length=64,
        description="Name the capture extension registers under (unique among the function's extensions).",
    )
    max_instances: int = Field(1000, ge=1, le=10_000)
    max_body_bytes: int = Field(
        6 * 1024 * 1024,
        ge=1024,
        le=100 * 1024 * 1024,
        description="Largest request body read (Lambda's synchronous payload limit is 6 MB); larger is 413.",
    )
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
