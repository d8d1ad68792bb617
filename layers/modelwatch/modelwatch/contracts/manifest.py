"""The serving manifest: what a predict function serves for a model and alias.

The manifest is the only seam between the registry (which decides what is
served) and serving (which reads S3 only, never MLflow). It is a small JSON
document at ``s3://<models bucket>/<prefix>/<model>/<alias>.json``; serving
re-reads it with a conditional GET (``If-None-Match``), so a promotion is picked
up without a deployment and an unchanged manifest costs a 304.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from modelwatch.contracts.names import check_model_name
from modelwatch.contracts.rollout import Rollout
from modelwatch.contracts.schema import InputSchema

MANIFEST_SCHEMA_VERSION: Final = 1
# The aliases that get a serving manifest unless a deployment says otherwise: one per served stage.
DEFAULT_SERVED_ALIASES: Final = ("staging", "production")

Flavor = Literal["sklearn", "onnx"]
PredictionType = Literal["probability", "label", "value"]


class ManifestMonitoring(BaseModel):
    """How the monitoring jobs watch a model: read by the job dispatcher, so a model's schedule is data."""

    model_config = ConfigDict(extra="forbid")

    window_minutes: int | None = Field(
        None,
        ge=5,
        le=10_080,
        description="This model's job window (default: the deployment's monitoring.window_minutes).",
    )


class ServingManifest(BaseModel):
    """Which artifact serves ``model`` under ``alias``, and how to call it."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    schema_version: Literal[1] = MANIFEST_SCHEMA_VERSION
    model: str
    version: str
    alias: str = "production"
    flavor: Flavor
    artifact_uri: str = Field(description="s3://bucket/key or a local path of the model file.")
    input_schema: InputSchema
    prediction_type: PredictionType = Field(
        "value",
        description=(
            "probability: P(positive class) of a binary classifier; label: a class; "
            "value: a regression output."
        ),
    )
    reference_profile_uri: str | None = Field(
        None, description="s3:// URI of the version's reference data profile (monitoring reads it)."
    )
    monitoring: ManifestMonitoring | None = Field(
        None, description="How the drift, quality and performance jobs run (default: the deployment's)."
    )
    rollout: Rollout | None = Field(
        None,
        description=(
            "A candidate version compared with this one on live traffic (shadow, ab or canary); "
            "see modelwatch.contracts.rollout."
        ),
    )
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    source: dict[str, str] = Field(
        default_factory=dict, description="Where the version came from (registry, run id, ...)."
    )

    @field_validator("model")
    @classmethod
    def _model_name(cls, value: str) -> str:
        return check_model_name(value)

    @field_validator("version")
    @classmethod
    def _version_name(cls, value: str) -> str:
        return check_model_name(value, "version")

    @field_validator("alias")
    @classmethod
    def _alias_name(cls, value: str) -> str:
        return check_model_name(value, "alias")

    def candidate_manifest(self) -> ServingManifest | None:
        """The rollout candidate as a manifest of its own (what serving loads), or None without a rollout."""
        if self.rollout is None:
            return None
        candidate = self.rollout.candidate
        return self.model_copy(
            update={
                "version": candidate.version,
                "flavor": candidate.flavor,
                "artifact_uri": candidate.artifact_uri,
                "input_schema": candidate.input_schema,
                "prediction_type": candidate.prediction_type,
                "reference_profile_uri": candidate.reference_profile_uri,
                "source": candidate.source,
                "rollout": None,
            }
        )
