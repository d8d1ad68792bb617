"""Settings of the registry-sync function (MLflow aliases reconciled with the serving manifests)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from modelwatch.contracts import layout
from modelwatch.contracts.manifest import DEFAULT_SERVED_ALIASES
from modelwatch.settings.base import ModelwatchSettings, split_comma_list


class RegistrySyncSettings(ModelwatchSettings):
    """Settings of the registry-sync function, from ``MODELWATCH_*`` variables."""

    mlflow_tracking_uri: str = Field(description="http(s):// URI of the MLflow tracking server.")
    models_bucket: str = Field(description="Bucket holding serving manifests and model artifacts.")
    manifest_prefix: str = layout.MANIFESTS_PREFIX
    served_aliases: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_SERVED_ALIASES),
        description="Comma-separated aliases whose manifests are reconciled.",
    )
    mlflow_credentials_secret: str | None = Field(
        None, description='Secrets Manager secret (ARN or name) holding {"username": ..., "password": ...}.'
    )
    mlflow_timeout_seconds: float = Field(10.0, gt=0)
    mlflow_max_attempts: int = Field(4, ge=1, le=10)

    _split_aliases = field_validator("served_aliases", mode="before")(split_comma_list)
