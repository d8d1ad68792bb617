"""Names, sizes, timeouts and paths of the infrastructure, in one place."""

from __future__ import annotations

from pathlib import Path
from typing import Final

REPO_ROOT = Path(__file__).resolve().parent.parent

# cdk.json context key holding the modelwatch configuration.
CONTEXT_KEY = "modelwatch"

# Stack construct ids (the CloudFormation stack names are prefixed with the project).
CAPTURE_STACK_ID = "Capture"
SERVING_STACK_ID = "Serving"
OBSERVABILITY_STACK_ID = "Observability"

# Config defaults.
DEFAULT_PROJECT = "modelwatch"
DEFAULT_ARCHITECTURE: Final = "arm64"
DEFAULT_SERVING_ALIAS = "production"
DEFAULT_RATE_LIMIT = 50
DEFAULT_BURST_LIMIT = 100
DEFAULT_MAX_INSTANCES = 1000
DEFAULT_MANIFEST_TTL_SECONDS = 30
DEFAULT_EVENTS_RETENTION_DAYS = 365
DEFAULT_REJECTED_RETENTION_DAYS = 90
DEFAULT_LOG_RETENTION_DAYS = 30
DEFAULT_MODEL_MEMORY_MB = 1024
DEFAULT_MODEL_TIMEOUT_S = 15
# The flavour whose function takes the route POST /v1/models/{model}/predict.
DEFAULT_FLAVOR: Final = "sklearn"
# A flavour function serves every model of its flavour from a cache bounded by its memory.
FLAVOR_FUNCTION_MEMORY_MB = 1024
FLAVOR_FUNCTION_TIMEOUT_S = 15

# Catalog function (listings, health, docs, 404s): no model runtime.
CATALOG_FUNCTION_NAME = "catalog"
CATALOG_MEMORY_MB = 512
CATALOG_TIMEOUT_S = 10

# Storage: every key and prefix of the buckets is modelwatch.contracts.layout's.
EVENTS_INFREQUENT_ACCESS_AFTER_DAYS = 30
ABORT_INCOMPLETE_UPLOADS_AFTER_DAYS = 7
ACCESS_LOGS_RETENTION_DAYS = 90
MODEL_CACHE_DIR = "/tmp/modelwatch-models"
CAPTURE_DLQ_NAME = "capture-dlq"
CAPTURE_DLQ_RETENTION_DAYS = 14
# The capture replay's claims (state/capture_replay/) outlive every message they could match.
CAPTURE_REPLAY_CLAIMS_RETENTION_DAYS = CAPTURE_DLQ_RETENTION_DAYS + 1

# Firehose delivery to S3.
FIREHOSE_BUFFER_INTERVAL_S = 60
# Every capture stream partitions dynamically (by model), which needs a buffer of 64 MiB at least;
# its objects are then delivered per model every interval (up to 1.5x it end to end).
FIREHOSE_PARTITIONED_BUFFER_SIZE_MIB = 64
REJECTED_STREAM_KEY = "rejected"


# Monitoring jobs.
DEFAULT_MONITORING_WINDOW_MINUTES = 60
MONITORING_STACK_ID = "Monitoring"
# The rollout job: its own function and queue (dispatched only for models with a running rollout).
ROLLOUT_JOB = "rollout"
MONITORING_JOBS = ("drift", "quality", "performance", ROLLOUT_JOB)
MONITORING_REQUIREMENTS: tuple[str, ...] = ("numpy>=1.26",)
MONITORING_MEMORY_MB = 1024
MONITORING_TIMEOUT_S = 300
PROFILE_TIMEOUT_S = 60
MONITORING_RETRY_ATTEMPTS = 2
MONITORING_DLQ_RETENTION_DAYS = 14
# The job dispatcher: one schedule for every model; one queue per job, consumed by the job's function.
JOB_DISPATCH_FUNCTION_NAME = "job_dispatch"
JOB_DISPATCH_EVERY_MINUTES = 5
JOB_DISPATCH_MEMORY_MB = 256
JOB_DISPATCH_TIMEOUT_S = 60
JOB_DISPATCH_MAX_CATCH_UP_WINDOWS = 3
# Idempotent jobs: a batch that times out is retried whole, and its finished windows are skipped.
JOB_QUEUE_BATCH_SIZE = 5
JOB_QUEUE_MAX_CONCURRENCY = 5
# AWS's advice for an SQS event source: a visibility timeout of six times the function's timeout.
JOB_QUEUE_VISIBILITY_TIMEOUT_S = 6 * MONITORING_TIMEOUT_S
# A message is received once and retried MONITORING_RETRY_ATTEMPTS times, then dead-lettered.
JOB_QUEUE_MAX_RECEIVE_COUNT = MONITORING_RETRY_ATTEMPTS + 1

# SQL over the captured records: Glue tables (partition projection) and an Athena workgroup.
ATHENA_ENGINE_VERSION = "Athena engine version 3"
DEFAULT_QUERY_BYTES_SCANNED_CUTOFF = 10 * 1024**3  # per query; Athena bills $5 per TB scanned
ATHENA_MIN_BYTES_SCANNED_CUTOFF = 10_000_000  # Athena's minimum per-query cutoff (10 MB)
QUERY_RESULTS_RETENTION_DAYS = 7
# The jobs that run SQL (the label join; the rollout's per-variant figures); only they may query.
QUERYING_JOBS = ("performance", ROLLOUT_JOB)

# The capture replay function (monitoring stack), invoked on demand: the capture DLQ back into Firehose.
CAPTURE_REPLAY_FUNCTION_NAME = "capture-replay"
CAPTURE_REPLAY_FUNCTION_DIR = REPO_ROOT / "functions" / "capture_replay"
CAPTURE_REPLAY_MEMORY_MB = 512
CAPTURE_REPLAY_TIMEOUT_S = 300
# A received message stays hidden longer than one invocation runs.
CAPTURE_REPLAY_VISIBILITY_TIMEOUT_S = CAPTURE_REPLAY_TIMEOUT_S + 60

# CloudWatch alarms on the capture DLQ (observability stack), to the alert topic.
CAPTURE_DLQ_VISIBLE_ALARM_MINUTES = 5  # messages visible for this long
CAPTURE_DLQ_AGE_ALARM_SECONDS = 3600  # the oldest message older than this

# Lambda functions.
PYTHON_RUNTIME_VERSION = "3.11"
HANDLER = "handler.handler"
FUNCTIONS_DIR = REPO_ROOT / "functions"
PREDICT_FUNCTION_DIR = FUNCTIONS_DIR / "predict"
LIBRARY_PROJECT_DIR = REPO_ROOT / "layers" / "modelwatch"
LIBRARY_PACKAGE_DIR = LIBRARY_PROJECT_DIR / "modelwatch"
POWERTOOLS_SERVICE_NAME = "modelwatch"
POWERTOOLS_METRICS_NAMESPACE = "modelwatch"
POWERTOOLS_LOG_LEVEL = "INFO"

# The model-routes function: a literal predict route per model of a non-default flavour,
# written through the API Gateway v2 API when the model's manifest is published.
MODEL_ROUTES_FUNCTION_NAME = "model-routes"
MODEL_ROUTES_FUNCTION_DIR = FUNCTIONS_DIR / "model_routes"
MODEL_ROUTES_MEMORY_MB = 256
MODEL_ROUTES_TIMEOUT_S = 60
MODEL_ROUTES_RETRY_ATTEMPTS = 2
MODEL_ROUTES_RECONCILE_HOURS = 1  # a full reconcile of every route, in case an event was lost

# AWS quotas the fleet is checked against (tests/infra/test_fleet_quotas.py, docs/architecture.md).
HTTP_API_ROUTES_QUOTA = 300

# Logging and tracing dials (cdk.json "logging", "tracing", "api_access_logs"; docs/cost.md).
# JSON at system level WARN: no START/END/REPORT lines (about 300 bytes an invocation).
DEFAULT_LOG_FORMAT: Final = "JSON"
DEFAULT_SYSTEM_LOG_LEVEL: Final = "WARN"
DEFAULT_APPLICATION_LOG_LEVEL: Final = "INFO"
# The HTTP API sends no trace header: PassThrough records no trace of a prediction; Active would
# trace X-Ray's default sample (1 a second, then 5 %: ~$0.35 a million at 50 req/s).
DEFAULT_PREDICT_TRACING: Final = "PassThrough"
DEFAULT_FUNCTIONS_TRACING: Final = "PassThrough"

# Runtime of each model flavour, bundled only into that flavour's predict functions.
FLAVOR_REQUIREMENTS: dict[str, tuple[str, ...]] = {
    "sklearn": ("numpy>=1.26", "scikit-learn>=1.4", "joblib>=1.3"),
    "onnx": ("numpy>=1.26", "onnxruntime>=1.17"),
}

# Distributions the Lambda Python runtime already provides (boto3 and its
# dependencies); removed from bundles so they neither grow them nor shadow the runtime's copy.
RUNTIME_PROVIDED_DISTRIBUTIONS = frozenset(
    {"boto3", "botocore", "s3transfer", "jmespath", "urllib3", "python-dateutil", "six"}
)

# Bundles.
BUNDLE_CACHE_DIR = REPO_ROOT / ".build" / "bundles"
BUNDLE_IMAGE = f"public.ecr.aws/sam/build-python{PYTHON_RUNTIME_VERSION}"
LAMBDA_UNZIPPED_LIMIT_BYTES = 250 * 1024 * 1024
MIB = 1024 * 1024

# HTTP API.
API_ACCESS_LOG_FORMAT_FIELDS = {
    "requestId": "$context.requestId",
    "ip": "$context.identity.sourceIp",
    "caller": "$context.identity.caller",
    "user": "$context.identity.user",
    "requestTime": "$context.requestTime",
    "httpMethod": "$context.httpMethod",
    "routeKey": "$context.routeKey",
    "path": "$context.path",
    "status": "$context.status",
    "protocol": "$context.protocol",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationLatency": "$context.integrationLatency",
    "integrationError": "$context.integrationErrorMessage",
    "authorizerError": "$context.authorizer.error",
    "requestTimeEpoch": "$context.requestTimeEpoch",
}
# The access-log fields on by default: who called which route, when, with what outcome and latency.
DEFAULT_API_ACCESS_LOG_FIELDS = (
    "requestId",
    "requestTimeEpoch",
    "ip",
    "caller",
    "routeKey",
    "status",
    "responseLatency",
    "integrationError",
    "authorizerError",
)


def predict_path(model: str) -> str:
    """Return the HTTP path of a model's predict route."""
    return f"/v1/models/{model}/predict"


# The route of every model of the default flavour (a literal predict_path route wins over it).
FLEET_PREDICT_ROUTE_PATH = "/v1/models/{model}/predict"
FLEET_PREDICT_ROUTE_KEY = f"POST {FLEET_PREDICT_ROUTE_PATH}"

# The feedback route of every model (the catalog function answers it).
FEEDBACK_ROUTE_PATH = "/v1/models/{model}/feedback"

# Swagger UI and the OpenAPI document it loads (the catalog function serves both); routes of their
# own, without authoriser, only with api_docs.public. Swagger UI's OAuth2 redirect page is left out:
# the document's bearer scheme takes a pasted token, no OAuth2 flow.
API_DOCS_PATHS = ("/docs", "/openapi.json")


# Observability: AMP, alerts, Grafana, the metrics export (see infra/stacks/observability_stack.py).
DASHBOARDS_DIR = REPO_ROOT / "dashboards"
RULES_DIR = DASHBOARDS_DIR / "rules"
ALERTMANAGER_FILE = DASHBOARDS_DIR / "alertmanager.yml"
METRICS_EXPORT_FUNCTION_DIR = REPO_ROOT / "functions" / "metrics_export"
NOTIFY_FUNCTION_DIR = REPO_ROOT / "functions" / "notify"
GRAFANA_PROVISIONER_FUNCTION_DIR = REPO_ROOT / "functions" / "grafana_provisioner"
METRICS_EXPORT_MEMORY_MB = 512
METRICS_EXPORT_TIMEOUT_S = 50  # under the one-minute schedule
# Every minute it writes every series (an idle model reads a rate of 0: rate()'s windows need two
# samples), its health, the dead-letter queue's depth and the published versions; it lists nothing.
METRICS_EXPORT_SCHEDULE_MINUTES = 1
# The export is fed by the events bucket's Object Created events through a queue, a batch a minute
# (docs/cost.md): nothing is listed, and its cost no longer grows with the number of models.
METRICS_EXPORT_BATCH_WINDOW_S = 60
METRICS_EXPORT_BATCH_SIZE = 10_000
METRICS_EXPORT_MAX_CONCURRENCY = 2  # the least SQS allows; runs share one conditionally saved state
METRICS_EXPORT_QUEUE_VISIBILITY_S = 6 * 50  # six times the function's timeout, as AWS advises
METRICS_EXPORT_QUEUE_RETENTION_DAYS = 4
METRICS_EXPORT_DLQ_RETENTION_DAYS = 14
METRICS_EXPORT_MAX_RECEIVES = 5
NOTIFY_MEMORY_MB = 256
# Channels are sent to in parallel, each at most 3 attempts of 5 s with 0.5 + 1 s back-off (16.5 s).
NOTIFY_TIMEOUT_S = 30
# The notify function's failed deliveries (ChannelDeliveryFailuresTotal, Sum) alarm the alert topic.
NOTIFY_FAILURE_ALARM_PERIOD_MINUTES = 5
NOTIFY_FAILURES_TOTAL_METRIC = "ChannelDeliveryFailuresTotal"
GRAFANA_PROVISIONER_MEMORY_MB = 256
GRAFANA_PROVISIONER_TIMEOUT_S = 120
GRAFANA_VERSION = "10.4"

# Model registry: MLflow on ECS Fargate, PostgreSQL on RDS, the registry-sync function
# (see infra/stacks/registry_stack.py).
REGISTRY_STACK_ID = "Registry"
MLFLOW_VERSION = "3.17.2"  # also pinned in infra/docker/mlflow/Dockerfile and the library's `registry` extra
MLFLOW_DOCKER_DIR = REPO_ROOT / "infra" / "docker" / "mlflow"
MLFLOW_CONTAINER_PORT = 5000
MLFLOW_LISTENER_PORT = 80  # plain HTTP without a certificate; with one, it only redirects
MLFLOW_HTTPS_LISTENER_PORT = 443
MLFLOW_HEALTH_PATH = "/health"
MLFLOW_DATABASE_NAME = "mlflow"
MLFLOW_DATABASE_USER = "mlflow"
MLFLOW_DATABASE_PORT = 5433  # not the engine's default
MLFLOW_ADMIN_USER = "admin"
MLFLOW_SYNC_USER = "modelwatch-sync"  # created by the image's entrypoint with least privilege
MLFLOW_FLASK_SECRET_KEY_LENGTH = 64
MLFLOW_VPC_CIDR = "10.42.0.0/16"
MLFLOW_SECRET_ROTATION_DAYS = 30
MLFLOW_DB_BACKUP_DAYS = 7
MLFLOW_SCALE_CPU_PERCENT = 60
# The smallest Fargate size that serves the registry, from its measured memory
# (tests/integration/test_mlflow_memory.py, docs/registry.md); arm64 (Graviton).
DEFAULT_MLFLOW_TASK_CPU: Final = 256
DEFAULT_MLFLOW_TASK_MEMORY_MB = 1024
# Fargate's CPU units and the memory (MiB) each accepts: (lowest, highest, step).
FARGATE_TASK_MEMORY_MB: Final = {
    256: (512, 2048, 512),
    512: (1024, 4096, 1024),
    1024: (2048, 8192, 1024),
    2048: (4096, 16384, 1024),
    4096: (8192, 30720, 1024),
}
MLFLOW_IMAGE_PLATFORM = "linux/arm64"  # the task's architecture; CodeBuild builds on an ARM host
MLFLOW_IMAGES_KEPT = 3  # the ECR repository's lifecycle rule: older images are expired
# Without a certificate the tasks are found by a Cloud Map private DNS name (no load balancer).
MLFLOW_CLOUD_MAP_NAMESPACE = "registry.{project}.internal"  # per project: two deployments never share it
MLFLOW_CLOUD_MAP_SERVICE = "mlflow"
MLFLOW_DNS_TTL_S = 10
MLFLOW_HEALTH_START_PERIOD_S = 120
DEFAULT_MLFLOW_MAX_TASKS = 3
DEFAULT_MLFLOW_DB_INSTANCE_TYPE = "t4g.micro"
DEFAULT_MLFLOW_DB_STORAGE_GB = 20
REGISTRY_SYNC_FUNCTION_DIR = FUNCTIONS_DIR / "registry_sync"
REGISTRY_SYNC_MEMORY_MB = 512
REGISTRY_SYNC_TIMEOUT_S = 55  # under the one-minute schedule
REGISTRY_SYNC_SCHEDULE_MINUTES = 1

# Chaos: AWS FIS experiment templates, optional (cdk.json "chaos": {"enabled": true}); see
# infra/stacks/chaos_stack.py and docs/reliability.md. Never started by a deployment: templates only.
CHAOS_STACK_ID = "Chaos"
DEFAULT_CHAOS_DURATION_MINUTES = 5
DEFAULT_CHAOS_DELAY_MS = 3000
DEFAULT_CHAOS_DELAY_PERCENTAGE = 25
DEFAULT_CHAOS_ERROR_PERCENTAGE = 10
DEFAULT_CHAOS_MAX_5XX_PERCENT = 20.0  # stop: callers see more server errors than the faults explain
DEFAULT_CHAOS_MAX_P99_LATENCY_MS = 12_000  # stop: p99 near the predict functions' timeout
CHAOS_ALARM_PERIOD_S = 60
CHAOS_ALARM_EVALUATION_PERIODS = 2
# The AWS FIS Lambda extension: its wrapper script and where FIS leaves its fault configuration.
FIS_EXTENSION_EXEC_WRAPPER = "/opt/aws-fis/bootstrap"
FIS_CONFIG_PREFIX = "FisConfigs/"
FIS_AUTOMATION_MARGIN_MINUTES = 5  # the automation's maxDuration beyond its hold, for its rollback
