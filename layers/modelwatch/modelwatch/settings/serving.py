"""Settings of the prediction API (the predict and catalog functions, or the local server)."""

from __future__ import annotations

from typing import Annotated, Final, Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import NoDecode

from modelwatch.contracts import layout
from modelwatch.contracts.manifest import Flavor
from modelwatch.contracts.names import check_model_name
from modelwatch.settings.base import ModelwatchSettings, split_comma_list

# The cache's default budget: half a Lambda function's memory (the rest holds the interpreter, the
# flavour runtimes, which take 150-250 MB with numpy and scikit-learn, and request buffers), or a
# fixed 1 GiB outside Lambda.
LAMBDA_CACHE_FRACTION: Final = 0.5
LOCAL_CACHE_MB: Final = 1024.0

ApiAuth = Literal["none", "iam", "jwt"]


class ServingSettings(ModelwatchSettings):
    """Settings of the prediction API (one Lambda function, or the local server)."""

    models_bucket: str = Field(description="Bucket holding serving manifests and model artifacts.")
    manifest_prefix: str = Field(layout.MANIFESTS_PREFIX, description="Key prefix of serving manifests.")
    serving_alias: str = Field("production", description="Alias whose manifest is served.")
    events_stream: str = Field(
        description=(
            "Firehose stream capturing the prediction events of every model: one stream, "
            "partitioned by the records' model field."
        ),
    )
    rejected_stream: str = Field(description="Firehose stream capturing rejected requests.")
    labels_stream: str | None = Field(
        None, description="Firehose stream capturing labels sent to the feedback endpoint."
    )
    max_labels: int = Field(10_000, ge=1, le=100_000)
    catalog_models: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description=(
            "Optional filter, comma-separated: when set, only these models are served and listed. "
            "Default: every model whose manifest is published under the serving alias."
        ),
    )
    served_flavors: Annotated[list[Flavor], NoDecode] = Field(
        default_factory=list,
        description=(
            "Comma-separated flavours this function predicts for; a model of another flavour is "
            "503 flavor_not_served. Default: every flavour whose runtime is installed."
        ),
    )
    model_cache_mb: float | None = Field(
        None,
        gt=0,
        description=(
            "Memory the loaded models may take together, in MB; least recently used models are "
            "evicted past it. Default: half the Lambda function's memory "
            "(AWS_LAMBDA_FUNCTION_MEMORY_SIZE), or 1024 MB outside Lambda."
        ),
    )
    function_memory_mb: int | None = Field(
        None,
        ge=128,
        validation_alias=AliasChoices("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "function_memory_mb"),
        description="The Lambda function's memory (set by Lambda), the base of the cache's default budget.",
    )
    negative_ttl_seconds: float = Field(
        10.0,
        ge=0,
        le=300,
        description=(
            "How long a model with no manifest is answered 404 without reading S3 again "
            "(one manifest GET per this TTL, however many requests)."
        ),
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
    api_auth: ApiAuth = Field(
        "none",
        description=(
            "How API Gateway authenticates callers in front of this app: iam (SigV4), jwt (a bearer "
            "token), or none (the local server). The app checks nothing itself; the OpenAPI document "
            "tells callers, and Swagger UI, how to authenticate."
        ),
    )
    api_jwt_issuer: str | None = Field(
        None, pattern=r"^https://\S+$", description="With api_auth jwt: the issuer the tokens come from."
    )
    api_jwt_predict_scopes: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="With api_auth jwt, comma-separated: the scopes a predict token needs (one of them).",
    )
    api_jwt_feedback_scopes: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="With api_auth jwt, comma-separated: the scopes a feedback token needs (one of them).",
    )

    _split_catalog = field_validator("catalog_models", mode="before")(split_comma_list)
    _split_flavors = field_validator("served_flavors", mode="before")(split_comma_list)
    _split_scopes = field_validator("api_jwt_predict_scopes", "api_jwt_feedback_scopes", mode="before")(
        split_comma_list
    )

    @model_validator(mode="after")
    def _check_jwt_issuer(self) -> ServingSettings:
        if self.api_auth == "jwt" and self.api_jwt_issuer is None:
            raise ValueError(
                "api_auth jwt needs api_jwt_issuer (MODELWATCH_API_JWT_ISSUER): the token issuer"
            )
        return self

    @field_validator("catalog_models")
    @classmethod
    def _check_catalog_names(cls, value: list[str]) -> list[str]:
        for name in value:
            check_model_name(name)
        return value

    @property
    def served_models(self) -> list[str]:
        """The optional filter of served models (empty: every model with a manifest)."""
        return list(self.catalog_models)

    @property
    def model_cache_budget_mb(self) -> float:
        """The cache's budget: ``model_cache_mb``, or its default (see the field)."""
        if self.model_cache_mb is not None:
            return self.model_cache_mb
        if self.function_memory_mb is not None:
            return self.function_memory_mb * LAMBDA_CACHE_FRACTION
        return LOCAL_CACHE_MB
