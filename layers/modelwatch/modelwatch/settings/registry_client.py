"""Settings of the registry client (``ModelRegistry``, ``modelwatch registry``), from the environment.

Most of these variables are MLflow's own (``MLFLOW_TRACKING_URI`` and the tracking
server's credentials) or CI's (``GITHUB_SHA``), so they carry no ``MODELWATCH_``
prefix; the others are ``MODELWATCH_MODELS_BUCKET``, ``MODELWATCH_EVENTS_BUCKET``,
``MODELWATCH_USER`` and ``MODELWATCH_CODE_REVISION``. Empty or blank variables count as unset.
"""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from modelwatch.settings.base import ENV_PREFIX, ModelwatchSettings


def _blank_as_none(value: object) -> object:
    if isinstance(value, str):
        return value.strip() or None
    return value


class RegistryClientSettings(ModelwatchSettings):
    """What the registry client reads from the environment, once, when a registry is created."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", env_ignore_empty=True, populate_by_name=True
    )

    tracking_uri: str | None = Field(
        None, validation_alias="MLFLOW_TRACKING_URI", description="Default tracking URI."
    )
    tracking_username: str | None = Field(
        None, validation_alias="MLFLOW_TRACKING_USERNAME", description="Basic auth (MLflow's auth app)."
    )
    tracking_password: SecretStr | None = Field(None, validation_alias="MLFLOW_TRACKING_PASSWORD")
    tracking_token: SecretStr | None = Field(
        None, validation_alias="MLFLOW_TRACKING_TOKEN", description="Bearer token (without user name)."
    )
    models_bucket: str | None = Field(
        None, description="Bucket promotions publish serving manifests to (MODELWATCH_MODELS_BUCKET)."
    )
    events_bucket: str | None = Field(
        None,
        description="Bucket of captured events and the jobs' state: rollout status reads the rollout "
        "job's latest evaluation there (MODELWATCH_EVENTS_BUCKET).",
    )
    user: str | None = Field(None, description="Who acts, in lineage and transitions (MODELWATCH_USER).")
    code_revision: str | None = Field(
        None,
        validation_alias=AliasChoices("MODELWATCH_CODE_REVISION", "GITHUB_SHA"),
        description="Lineage: the training code's revision (else git's HEAD is asked).",
    )

    _blank = field_validator(
        "tracking_uri",
        "tracking_username",
        "tracking_password",
        "tracking_token",
        "models_bucket",
        "events_bucket",
        "user",
        "code_revision",
        mode="before",
    )(_blank_as_none)
