"""The deployment configuration: cdk.json context key ``modelwatch``, parsed and checked at synth.

A bad entry fails the synth with a message naming it (``models.0.name: ...``),
before any construct is built.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from infra import constants
from modelwatch.contracts.channels import Channel, parse_channels
from modelwatch.contracts.custom_metrics import parse_custom_metrics
from modelwatch.contracts.manifest import DEFAULT_SERVED_ALIASES
from modelwatch.contracts.monitoring_config import DriftConfig, QualityThresholds
from modelwatch.contracts.names import MODEL_NAME_PATTERN

# The retention periods CloudWatch Logs accepts.
LOG_RETENTION_DAYS = frozenset(
    {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}
)


class ConfigError(ValueError):
    """The ``modelwatch`` context of cdk.json is invalid."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IamAuth(_Strict):
    """Callers sign requests with SigV4 and need ``execute-api:Invoke``."""

    type: Literal["iam"] = "iam"


class JwtAuth(_Strict):
    """Callers present a JWT issued by ``issuer`` for one of ``audience``.

    ``predict_scopes`` and ``feedback_scopes``: the token must carry one of them to call the
    predict routes, or to send labels (so a caller who may score cannot relabel its results).
    """

    type: Literal["jwt"]
    issuer: str = Field(pattern=r"^https://\S+$")
    audience: list[str] = Field(min_length=1)
    predict_scopes: list[str] = Field(default_factory=list)
    feedback_scopes: list[str] = Field(default_factory=list)


class Throttle(_Strict):
    rate_limit: float = Field(constants.DEFAULT_RATE_LIMIT, gt=0)
    burst_limit: int = Field(constants.DEFAULT_BURST_LIMIT, gt=0)


class ModelConfig(_Strict):
    """A ``dedicated`` model: its own function (memory, timeout, concurrency) and its own route.

    Models are data: a model arrives by being published through the registry (a serving
    manifest), and the flavour functions serve it with no entry here. An entry under
    ``models`` exists only to isolate a model, so it must say ``dedicated: true``; any other
    entry is a configuration error naming it (it would otherwise be silently ignored).
    """

    name: str = Field(pattern=MODEL_NAME_PATTERN)
    flavor: Literal["sklearn", "onnx"]
    dedicated: bool = Field(
        False, description="Must be true: the model gets its own function and a literal route."
    )
    memory_mb: int = Field(constants.DEFAULT_MODEL_MEMORY_MB, ge=128, le=10240)
    timeout_s: int = Field(constants.DEFAULT_MODEL_TIMEOUT_S, ge=1, le=29)
    reserved_concurrency: int | None = Field(
        None, ge=1, le=10_000, description="Reserved concurrent executions of the dedicated function."
    )

    @model_validator(mode="after")
    def _check_dedicated(self) -> ModelConfig:
        if not self.dedicated:
            raise ValueError(
                f"model {self.name!r} is not dedicated: models are data now (publish it through the "
                "registry and the flavour functions serve it, no entry needed); keep an entry under "
                "`models` only with `dedicated: true`, for a model that needs its own function"
            )
        return self

    @property
    def id_suffix(self) -> str:
        """The name reduced to letters and digits, usable in CloudFormation logical ids."""
        return re.sub(r"[^A-Za-z0-9]", "", self.name)


class MonitoringConfig(_Strict):
    """The drift, quality and performance jobs, dispatched for every served model.

    ``window_minutes`` is the window of a model whose serving manifest names none
    (``monitoring.window_minutes`` in the manifest: a model's own window is data, not configuration).
    """

    window_minutes: int = Field(constants.DEFAULT_MONITORING_WINDOW_MINUTES, ge=5, le=10_080)
    label_lag_minutes: int = Field(0, ge=0, le=60 * 24 * 30)
    drift: dict[str, Any] = Field(default_factory=dict, description="modelwatch.monitoring.drift.DriftConfig")
    quality_thresholds: dict[str, Any] = Field(
        default_factory=dict, description="modelwatch.monitoring.quality.QualityThresholds"
    )
    performance_thresholds: dict[Literal["min", "max"], dict[str, float]] = Field(default_factory=dict)

    @field_validator("drift")
    @classmethod
    def _check_drift(cls, value: dict[str, Any]) -> dict[str, Any]:
        DriftConfig.model_validate(value)
        return value

    @field_validator("quality_thresholds")
    @classmethod
    def _check_quality(cls, value: dict[str, Any]) -> dict[str, Any]:
        QualityThresholds.model_validate(value)
        return value


class QueryConfig(_Strict):
    """SQL over the captured records: the Glue database and the Athena workgroup (names default from the
    project), and the most one query may scan before Athena cancels it."""

    database_name: str | None = Field(
        None, pattern=r"^[a-z][a-z0-9_]{0,254}$", description="Glue database; default <project>_events."
    )
    workgroup_name: str | None = Field(
        None, pattern=r"^[A-Za-z0-9._-]{1,128}$", description="Athena workgroup; default <project>-queries."
    )
    bytes_scanned_cutoff_per_query: int = Field(
        constants.DEFAULT_QUERY_BYTES_SCANNED_CUTOFF,
        ge=constants.ATHENA_MIN_BYTES_SCANNED_CUTOFF,
        description="Athena cancels a query scanning more than this (bytes; its minimum is 10 MB).",
    )

    def database(self, project: str) -> str:
        return self.database_name or f"{project.replace('-', '_')}_events"

    def workgroup(self, project: str) -> str:
        return self.workgroup_name or f"{project}-queries"


class GrafanaConfig(_Strict):
    """The Amazon Managed Grafana workspace (needs IAM Identity Center for AWS_SSO, or a SAML IdP)."""

    enabled: bool = True
    authentication: Literal["AWS_SSO", "SAML"] = "AWS_SSO"


class ObservabilityConfig(_Strict):
    """Metrics (AMP), alerts and their channels, dashboards (Grafana), retraining trigger.

    ``channels`` is the list of :mod:`modelwatch.contracts.channels`. ``alert_emails`` and
    ``webhook_secret_arn`` remain as shorthand: an ``email`` channel per address (``email-1``, ...)
    and a ``slack`` channel named ``webhook``, for every severity and model; :attr:`all_channels`
    holds both kinds.
    """

    channels: list[dict[str, Any]] = Field(
        default_factory=list, description="Alert channels: name, type, secret_arn or address, filters."
    )
    alert_emails: list[str] = Field(default_factory=list)
    webhook_secret_arn: str | None = Field(
        None,
        pattern=r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$",
        description="Shorthand for a slack channel named 'webhook' (Secrets Manager secret, never the URL).",
    )
    retraining_target_arn: str | None = Field(
        None,
        pattern=r"^arn:aws[a-z-]*:(states:[a-z0-9-]+:\d{12}:stateMachine:[A-Za-z0-9_-]+"
        r"|sagemaker:[a-z0-9-]+:\d{12}:pipeline/[A-Za-z0-9-]+)$",
        description="Step Functions state machine or SageMaker pipeline started on monitoring alerts.",
    )
    grafana: GrafanaConfig = GrafanaConfig()
    custom_metrics: list[dict[str, Any]] = Field(default_factory=list)

    @field_validator("alert_emails")
    @classmethod
    def _check_emails(cls, emails: list[str]) -> list[str]:
        for email in emails:
            if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
                raise ValueError(f"{email!r} is not an e-mail address")
        return emails

    @field_validator("custom_metrics")
    @classmethod
    def _check_custom_metrics(cls, declarations: list[dict[str, Any]]) -> list[dict[str, Any]]:
        parse_custom_metrics(declarations)  # raises naming the entry
        return declarations

    @field_validator("channels")
    @classmethod
    def _check_channels(cls, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        parse_channels(entries)  # raises naming the channel
        return entries

    @model_validator(mode="after")
    def _check_shorthand_names(self) -> ObservabilityConfig:
        parse_channels([*self.channels, *self._shorthand()])  # a name taken twice raises
        return self

    def _shorthand(self) -> list[dict[str, Any]]:
        channels: list[dict[str, Any]] = [
            {"name": f"email-{index}", "type": "email", "address": address}
            for index, address in enumerate(self.alert_emails, start=1)
        ]
        if self.webhook_secret_arn is not None:
            channels.append({"name": "webhook", "type": "slack", "secret_arn": self.webhook_secret_arn})
        return channels

    @property
    def all_channels(self) -> tuple[Channel, ...]:
        """The configured channels, then those of the shorthand (``alert_emails``, ``webhook_secret_arn``)."""
        return parse_channels([*self.channels, *self._shorthand()])


class RegistryConfig(_Strict):
    """The model registry: MLflow on ECS Fargate (arm64), PostgreSQL on RDS, the registry-sync function.

    ``task_cpu`` and ``task_memory_mb`` must be a size Fargate offers (256 CPU units take 512 to
    2048 MiB, 512 take 1024 to 4096, ...). ``container_insights`` turns on ECS Container Insights
    for the cluster (off by default: it bills its metrics and performance logs, docs/cost.md).
    """

    enabled: bool = True
    task_cpu: Literal[256, 512, 1024, 2048, 4096] = constants.DEFAULT_MLFLOW_TASK_CPU
    task_memory_mb: int = Field(constants.DEFAULT_MLFLOW_TASK_MEMORY_MB, ge=512, le=30720)
    container_insights: bool = False
    max_tasks: int = Field(constants.DEFAULT_MLFLOW_MAX_TASKS, ge=1, le=20)
    db_instance_type: str = Field(
        constants.DEFAULT_MLFLOW_DB_INSTANCE_TYPE, pattern=r"^[a-z0-9]+\.[a-z0-9]+$"
    )
    db_storage_gb: int = Field(constants.DEFAULT_MLFLOW_DB_STORAGE_GB, ge=20, le=1000)
    db_multi_az: bool = False
    served_aliases: list[str] = Field(default_factory=lambda: list(DEFAULT_SERVED_ALIASES), min_length=1)
    certificate_arn: str | None = Field(
        None,
        pattern=r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]{36}$",
        description="ACM certificate (in the stack's region) for domain_name: the load balancer then "
        "listens on 443 with TLS and port 80 only redirects. Without one it listens on plain HTTP.",
    )
    domain_name: str | None = Field(
        None,
        description="The name clients reach MLflow by (a private hosted zone for it is created in the "
        "registry's VPC); the certificate must cover it. Required with certificate_arn.",
    )

    @field_validator("served_aliases")
    @classmethod
    def _check_aliases(cls, aliases: list[str]) -> list[str]:
        for alias in aliases:
            if not re.fullmatch(MODEL_NAME_PATTERN, alias):
                raise ValueError(f"alias {alias!r} breaks the naming rule {MODEL_NAME_PATTERN}")
        return aliases

    @field_validator("domain_name")
    @classmethod
    def _check_domain_name(cls, name: str | None) -> str | None:
        label = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
        if name is not None and (len(name) > 253 or not re.fullmatch(rf"({label}\.)+[a-z]{{2,63}}", name)):
            raise ValueError(f"{name!r} is not a lower-case DNS name such as mlflow.internal.example.com")
        return name

    @model_validator(mode="after")
    def _check_task_size(self) -> RegistryConfig:
        lowest, highest, step = constants.FARGATE_TASK_MEMORY_MB[self.task_cpu]
        if not (lowest <= self.task_memory_mb <= highest and self.task_memory_mb % step == 0):
            raise ValueError(
                f"task_memory_mb {self.task_memory_mb} is not a Fargate size for task_cpu {self.task_cpu}: "
                f"use {lowest} to {highest} MiB in steps of {step}"
            )
        return self

    @model_validator(mode="after")
    def _check_https(self) -> RegistryConfig:
        if (self.certificate_arn is None) != (self.domain_name is None):
            raise ValueError(
                "certificate_arn and domain_name go together: clients must reach MLflow by a name the "
                "certificate covers (ACM cannot issue one for the load balancer's own DNS name)"
            )
        return self

    @property
    def https(self) -> bool:
        """Whether the load balancer terminates TLS (a certificate is configured)."""
        return self.certificate_arn is not None


class ChaosConfig(_Strict):
    """Optional AWS FIS experiment templates (the chaos stack); off by default, never started by a deploy.

    ``lambda_extension_layer_arn`` is the AWS FIS Lambda extension layer of the region and of the
    functions' architecture: when set, it is attached to the predict and job functions (with
    ``AWS_LAMBDA_EXEC_WRAPPER`` and ``AWS_FIS_CONFIGURATION_LOCATION``), which the
    ``aws:lambda:invocation-*`` actions need; without it those templates synthesise but do nothing.
    """

    enabled: bool = False
    lambda_extension_layer_arn: str | None = Field(
        None, pattern=r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:layer:[A-Za-z0-9_-]+:\d+$"
    )
    duration_minutes: int = Field(constants.DEFAULT_CHAOS_DURATION_MINUTES, ge=1, le=60)
    delay_ms: int = Field(constants.DEFAULT_CHAOS_DELAY_MS, ge=1, le=900_000)
    delay_percentage: int = Field(constants.DEFAULT_CHAOS_DELAY_PERCENTAGE, ge=1, le=100)
    error_percentage: int = Field(constants.DEFAULT_CHAOS_ERROR_PERCENTAGE, ge=1, le=100)
    max_5xx_percent: float = Field(constants.DEFAULT_CHAOS_MAX_5XX_PERCENT, gt=0, le=100)
    max_p99_latency_ms: int = Field(constants.DEFAULT_CHAOS_MAX_P99_LATENCY_MS, ge=100, le=30_000)

    @model_validator(mode="after")
    def _check_errors_under_stop(self) -> ChaosConfig:
        if self.error_percentage >= self.max_5xx_percent:
            raise ValueError(
                f"error_percentage ({self.error_percentage}) must stay under max_5xx_percent "
                f"({self.max_5xx_percent:g}): the injected errors alone would stop the experiment"
            )
        return self


TracingMode = Literal["PassThrough", "Active"]


class LoggingConfig(_Strict):
    """Every function's log format and levels (Lambda's advanced logging controls).

    With ``JSON`` and ``system_log_level`` ``WARN`` Lambda writes no START/END/REPORT lines; the
    application level is also Powertools' (``POWERTOOLS_LOG_LEVEL``), so the two agree. It can be
    no higher than ``INFO``: Lambda files a line without a ``level`` as INFO, and the embedded-metric
    lines (capture failures, which the metrics export reads back) have none.
    """

    format: Literal["JSON", "Text"] = constants.DEFAULT_LOG_FORMAT
    system_log_level: Literal["DEBUG", "INFO", "WARN"] = constants.DEFAULT_SYSTEM_LOG_LEVEL
    application_log_level: Literal["TRACE", "DEBUG", "INFO"] = constants.DEFAULT_APPLICATION_LOG_LEVEL


class TracingConfig(_Strict):
    """X-Ray tracing: ``predict`` for the predict path (predict and catalog functions), ``functions`` for
    every other function. ``PassThrough`` traces only what arrives with a sampled trace header."""

    predict: TracingMode = constants.DEFAULT_PREDICT_TRACING
    functions: TracingMode = constants.DEFAULT_FUNCTIONS_TRACING


class AccessLogConfig(_Strict):
    """The HTTP API's access log: on or off, and its fields (of ``API_ACCESS_LOG_FORMAT_FIELDS``)."""

    enabled: bool = True
    fields: list[str] = Field(
        default_factory=lambda: list(constants.DEFAULT_API_ACCESS_LOG_FIELDS), min_length=1
    )

    @field_validator("fields")
    @classmethod
    def _check_fields(cls, fields: list[str]) -> list[str]:
        unknown = [f for f in fields if f not in constants.API_ACCESS_LOG_FORMAT_FIELDS]
        if unknown:
            raise ValueError(
                f"unknown field(s) {unknown}: known are {sorted(constants.API_ACCESS_LOG_FORMAT_FIELDS)}"
            )
        return fields


class ApiDocsConfig(_Strict):
    """The API's Swagger UI (``GET /docs``) and OpenAPI document (``GET /openapi.json``).

    ``public: true`` gives these two routes no authoriser, so a browser opens them against the
    deployment; every other route (predictions, feedback, listings, health) keeps the API's
    authoriser. Default: they stay behind it like every route.
    """

    public: bool = False


class ModelwatchConfig(_Strict):
    """Everything a deployment can set; defaults live in ``infra.constants``."""

    project: str = Field(constants.DEFAULT_PROJECT, pattern=r"^[a-z][a-z0-9-]{0,30}$")
    architecture: Literal["arm64", "x86_64"] = constants.DEFAULT_ARCHITECTURE
    serving_alias: str = Field(constants.DEFAULT_SERVING_ALIAS, pattern=MODEL_NAME_PATTERN)
    auth: Annotated[IamAuth | JwtAuth, Field(discriminator="type")] = IamAuth()
    throttle: Throttle = Throttle()
    max_instances: int = Field(constants.DEFAULT_MAX_INSTANCES, ge=1, le=10_000)
    manifest_ttl_seconds: int = Field(constants.DEFAULT_MANIFEST_TTL_SECONDS, ge=0)
    events_retention_days: int = Field(constants.DEFAULT_EVENTS_RETENTION_DAYS, ge=1)
    rejected_retention_days: int = Field(constants.DEFAULT_REJECTED_RETENTION_DAYS, ge=1)
    log_retention_days: int = constants.DEFAULT_LOG_RETENTION_DAYS
    default_flavor: Literal["sklearn", "onnx"] = Field(
        constants.DEFAULT_FLAVOR,
        description="The flavour whose function takes POST /v1/models/{model}/predict; a model of another "
        "flavour gets a literal route to its flavour's function when its manifest is published.",
    )
    models: list[ModelConfig] = Field(
        default_factory=list, description="Dedicated models only (each with `dedicated: true`)."
    )
    tags: dict[str, str] = Field(default_factory=dict)
    observability: ObservabilityConfig = ObservabilityConfig()
    monitoring: MonitoringConfig = MonitoringConfig()
    query: QueryConfig = QueryConfig()
    registry: RegistryConfig = RegistryConfig()
    chaos: ChaosConfig = ChaosConfig()
    logging: LoggingConfig = LoggingConfig()
    tracing: TracingConfig = TracingConfig()
    api_access_logs: AccessLogConfig = AccessLogConfig()
    api_docs: ApiDocsConfig = ApiDocsConfig()

    @field_validator("log_retention_days")
    @classmethod
    def _check_log_retention(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            raise ValueError(f"must be one of {sorted(LOG_RETENTION_DAYS)} (CloudWatch Logs retention)")
        return value

    @field_validator("events_retention_days")
    @classmethod
    def _check_events_retention(cls, value: int) -> int:
        if value <= constants.EVENTS_INFREQUENT_ACCESS_AFTER_DAYS:
            raise ValueError(
                f"must exceed {constants.EVENTS_INFREQUENT_ACCESS_AFTER_DAYS} "
                "(events move to Infrequent Access after that many days)"
            )
        return value

    @field_validator("models")
    @classmethod
    def _check_unique_models(cls, models: list[ModelConfig]) -> list[ModelConfig]:
        seen: dict[str, str] = {}
        for model in models:
            key = model.id_suffix.lower()
            if key in seen:
                raise ValueError(
                    f"model {model.name!r} clashes with {seen[key]!r}: names must stay distinct "
                    "when reduced to letters and digits, case-insensitively (they name AWS resources)"
                )
            seen[key] = model.name
        return models

    @model_validator(mode="after")
    def _check_catalog_name(self) -> ModelwatchConfig:
        if any(m.id_suffix.lower() == constants.CATALOG_FUNCTION_NAME for m in self.models):
            raise ValueError(f"a model cannot be named {constants.CATALOG_FUNCTION_NAME!r} (reserved)")
        return self

    @property
    def dedicated_models(self) -> list[ModelConfig]:
        """The models with a function of their own (every entry of ``models`` is one)."""
        return [model for model in self.models if model.dedicated]

    @property
    def serving_flavors(self) -> tuple[str, ...]:
        """The flavours with a serving function: every flavour with a runtime, the default first."""
        others = [flavor for flavor in constants.FLAVOR_REQUIREMENTS if flavor != self.default_flavor]
        return (self.default_flavor, *others)

    @property
    def all_tags(self) -> dict[str, str]:
        """Tags applied to every resource: the configured ones plus ``project``."""
        return {"project": self.project, **self.tags}


def _location(loc: tuple[int | str, ...]) -> str:
    # Discriminated unions add the tag ("jwt") to the location; it names no entry.
    return ".".join(str(part) for part in loc if part not in ("iam", "jwt"))


def parse_config(raw: Any) -> ModelwatchConfig:
    """Return the validated configuration from the raw ``modelwatch`` context value.

    Raises
    ------
    ConfigError
        Naming every bad entry, e.g. ``modelwatch.models.0.flavor: Input should be 'sklearn' or 'onnx'``.
    """
    if raw is None:
        raw = {}
    if isinstance(raw, str):  # `cdk -c modelwatch='{...}'` passes a JSON string
        import json

        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as error:
            raise ConfigError(
                f"cdk.json context {constants.CONTEXT_KEY!r} is not valid JSON: {error}"
            ) from None
    try:
        return ModelwatchConfig.model_validate(raw)
    except ValidationError as error:
        problems = "; ".join(
            f"{constants.CONTEXT_KEY}.{_location(e['loc'])}: {e['msg']}".rstrip(".") for e in error.errors()
        )
        raise ConfigError(f"invalid cdk.json context: {problems}") from None
