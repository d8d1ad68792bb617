"""Settings of the metrics export: serving metrics from the captured events, every minute."""

from __future__ import annotations

from typing import Annotated, Final, Literal

from pydantic import BeforeValidator, Field, field_validator
from pydantic_settings import NoDecode

from modelwatch.contracts import layout
from modelwatch.contracts.custom_metrics import CustomMetric, parse_custom_metrics
from modelwatch.contracts.names import check_model_name
from modelwatch.settings.base import split_comma_list
from modelwatch.settings.remote_write import RemoteWriteSettings

DEFAULT_LOOKBACK_HOURS: Final = 2
EXPORT_SCHEDULE_SECONDS: Final = 60.0


class ExportSettings(RemoteWriteSettings):
    """Settings of the ``metrics_export`` function, from ``MODELWATCH_*`` variables."""

    events_bucket: str = Field(description="Bucket Firehose delivers the captured events to.")
    served_models: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description=(
            "Comma-separated models to export (their events are listed). Default: every model with "
            "a manifest under serving_alias in models_bucket."
        ),
    )
    metrics_state_key: str = Field(
        layout.METRICS_EXPORT_STATE_KEY, description="Key of the cumulative state in the bucket."
    )
    export_lookback_hours: int = Field(DEFAULT_LOOKBACK_HOURS, ge=1, le=24)
    export_schedule_seconds: float = Field(EXPORT_SCHEDULE_SECONDS, gt=0)
    export_keys_from: Literal["listing", "events"] = Field(
        "listing",
        description="listing: each run lists the look-back's objects; events: the objects come from "
        "their Object Created messages (an SQS batch) and a scheduled run lists nothing.",
    )
    capture_dlq_url: str | None = Field(
        None, description="The capture dead-letter queue, whose depth is exported (unset: not read)."
    )
    models_bucket: str | None = Field(
        None,
        description="Bucket of the serving manifests: their versions are exported (unset: not read).",
    )
    serving_alias: str = Field("production", description="Alias the predict functions serve.")
    custom_metrics: Annotated[list[CustomMetric], NoDecode, BeforeValidator(parse_custom_metrics)] = Field(
        default_factory=list,
        description="Custom counters over the prediction events: a JSON or YAML list of declarations.",
    )

    _split_models = field_validator("served_models", mode="before")(split_comma_list)

    @field_validator("serving_alias")
    @classmethod
    def _alias_name(cls, value: str) -> str:
        return check_model_name(value, "serving_alias")
