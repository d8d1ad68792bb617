"""Request and response bodies of the prediction API (also its OpenAPI documentation)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict

from modelwatch.contracts.rollout import RolloutMode, RolloutState, Variant
from modelwatch.contracts.schema import Violation

# The most instances a request may carry under any configuration (settings cap max_instances here).
MAX_INSTANCES_LIMIT: Final = 10_000

_EXAMPLE_INSTANCE = {
    "amount": 125.5,
    "merchant_risk": 0.12,
    "hour": 14,
    "is_foreign": False,
    "channel": "online",
}


class PredictRequest(BaseModel):
    """Instances to score, each a JSON object of feature values."""

    instances: list[Any] = Field(
        min_length=1,
        description="1 to the configured maximum (default 1000) objects of feature values.",
        examples=[[_EXAMPLE_INSTANCE]],
    )


class PredictResponse(BaseModel):
    model_config = ConfigDict(
        protected_namespaces=(),
        json_schema_extra={
            "examples": [
                {
                    "model": "fraud_detection",
                    "version": "2",
                    "predictions": [0.031],
                    "request_id": "4f1c2a...",
                    "variant": "production",
                }
            ]
        },
    )

    model: str
    version: str
    predictions: list[Any] = Field(description="One value per instance, in order.")
    request_id: str
    variant: Variant = Field(
        "production",
        description=(
            "Which side of a rollout answered: production, or the candidate of an ab or canary "
            "rollout (then version is the candidate's). Always production without a rollout."
        ),
    )


# Labels are data the performance job computes with: only finite numbers, bounded integers,
# short text. NaN, Infinity and 1e400 (read as inf) would be written as invalid JSON or break
# the job; an index of 10**30 or false names no instance.
LabelValue = (
    Annotated[bool, Strict()]
    | Annotated[int, Strict(), Field(ge=-(2**53), le=2**53)]
    | Annotated[float, Field(allow_inf_nan=False, ge=-1e15, le=1e15)]
    | Annotated[str, Field(min_length=1, max_length=256)]
)


class Label(BaseModel):
    """The observed outcome of instance ``index`` of request ``request_id``."""

    request_id: str = Field(
        pattern=r"^[\x21-\x7e]{1,128}$",
        description="The request id of the prediction (printable ASCII, as the API issues them).",
        examples=["4f1c2a..."],
    )
    index: Annotated[int, Strict()] = Field(
        ge=0, le=MAX_INSTANCES_LIMIT, description="Position of the instance in its predict request."
    )
    label: LabelValue = Field(
        description="A finite number, an integer, a boolean or a short text.", examples=[1]
    )


class FeedbackRequest(BaseModel):
    """Labels for earlier predictions; they may arrive days later."""

    labels: list[Label] = Field(
        min_length=1, examples=[[{"request_id": "4f1c2a...", "index": 0, "label": 1}]]
    )


class FeedbackAccepted(BaseModel):
    accepted: int
    request_id: str


class ModelInfo(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    name: str
    version: str
    flavor: str
    prediction_type: str
    created_at: datetime
    input_schema: dict[str, Any]


class ModelList(BaseModel):
    models: list[ModelInfo]


FailureReasonCode = Literal[
    "manifest_unreadable",
    "manifest_for_another_model",
    "artifact_unloadable",
    "scoring_failed",
    "flavor_not_served",
]


class CandidateHealth(BaseModel):
    """The candidate of a model's active rollout, as loaded here."""

    rollout_id: str
    mode: RolloutMode
    share: float
    rollout_state: RolloutState
    version: str
    state: Literal["ready", "candidate_unavailable"] = Field(
        description=(
            "ready: loaded and serving (or scoring) its share; candidate_unavailable: it could not be "
            "loaded here, production answers every request and the requests routed to it are "
            "captured as candidate_failed."
        )
    )
    reason: FailureReasonCode | None = None
    message: str


class ModelHealth(BaseModel):
    """What one served model is doing (reasons are codes: error details are in the service log)."""

    state: Literal["ready", "degraded", "unavailable", "no_manifest"] = Field(
        description=(
            "ready: serving the published version; degraded: serving an earlier version because the "
            "published one cannot be taken; unavailable: nothing to serve; no_manifest: none published."
        )
    )
    serving_version: str | None = None
    failed_version: str | None = Field(None, description="The published version that could not be taken.")
    reason: FailureReasonCode | None = None
    message: str
    candidate: CandidateHealth | None = Field(
        None, description="The candidate of an active rollout (null: no active rollout)."
    )


class CacheHealth(BaseModel):
    """The model cache of this execution environment."""

    models_loaded: int
    used_mb: float = Field(description="What the loaded models are charged for, in MB.")
    budget_mb: float | None = Field(description="What they may take together (null: unbounded).")
    evictions: int = Field(description="Models evicted to make room since the environment started.")
    loads: int = Field(description="Versions loaded since the environment started (reloads included).")
    negative_hits: int = Field(
        description="Requests for a model with no manifest answered from the negative cache (no S3 read)."
    )


class Health(BaseModel):
    status: Literal["ok", "degraded"] = Field(
        description=(
            "ok when every model loaded (or failed to load) here is ready, and so is the candidate "
            "of each active rollout."
        )
    )
    models: dict[str, ModelHealth] = Field(
        description="Every model loaded here, or whose published version failed to load here."
    )
    cache: CacheHealth | None = None


class ErrorDetail(BaseModel):
    code: str = Field(examples=["schema_violation"])
    message: str
    violations: list[Violation] | None = Field(
        None, description="For schema violations: each offending instance index and feature."
    )
    fields: list[dict[str, Any]] | None = Field(
        None, description="For malformed bodies: where the body is wrong."
    )


class ErrorResponse(BaseModel):
    error: ErrorDetail
    request_id: str
