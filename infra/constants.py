"""Names, sizes, timeouts and paths of the infrastructure, in one place."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

# cdk.json context key holding the modelwatch configuration.
CONTEXT_KEY = "modelwatch"

# Stack construct ids (the CloudFormation stack names are prefixed with the project).
CAPTURE_STACK_ID = "Capture"
SERVING_STACK_ID = "Serving"

# Config defaults.
DEFAULT_PROJECT = "modelwatch"
DEFAULT_ARCHITECTURE = "arm64"
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

# Catalog function (listings, health, docs, 404s): no model runtime.
CATALOG_FUNCTION_NAME = "catalog"
CATALOG_MEMORY_MB = 512
CATALOG_TIMEOUT_S = 10

# Storage layout.
EVENTS_PREFIX = "events/"
REJECTED_PREFIX = "rejected/"
LABELS_PREFIX = "labels/"
EVENTS_INFREQUENT_ACCESS_AFTER_DAYS = 30
ABORT_INCOMPLETE_UPLOADS_AFTER_DAYS = 7
ACCESS_LOGS_RETENTION_DAYS = 90
MANIFEST_PREFIX = "manifests"
ARTIFACT_PREFIX = "models"
MODEL_CACHE_DIR = "/tmp/modelwatch-models"
CAPTURE_DLQ_NAME = "capture-dlq"
CAPTURE_DLQ_RETENTION_DAYS = 14

# Firehose delivery to S3.
FIREHOSE_BUFFER_INTERVAL_S = 60
FIREHOSE_BUFFER_SIZE_MIB = 5
REJECTED_STREAM_KEY = "rejected"


def events_data_prefix(model: str) -> str:
    """Return the S3 prefix Firehose writes a model's prediction events under."""
    return f"events/model={model}/dt=!{{timestamp:yyyy-MM-dd}}/hour=!{{timestamp:HH}}/"


def events_error_prefix(model: str) -> str:
    """Return the S3 prefix of records Firehose failed to deliver for a model."""
    return f"errors/events/model={model}/!{{firehose:error-output-type}}/dt=!{{timestamp:yyyy-MM-dd}}/"


REJECTED_DATA_PREFIX = "rejected/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/"
REJECTED_ERROR_PREFIX = "errors/rejected/!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/"
LABELS_DATA_PREFIX = "labels/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/"
LABELS_ERROR_PREFIX = "errors/labels/!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/"

# Lambda functions.
PYTHON_RUNTIME_VERSION = "3.11"
HANDLER = "handler.handler"
PREDICT_FUNCTION_DIR = REPO_ROOT / "functions" / "predict"
LIBRARY_PROJECT_DIR = REPO_ROOT / "layers" / "modelwatch"
LIBRARY_PACKAGE_DIR = LIBRARY_PROJECT_DIR / "modelwatch"
POWERTOOLS_SERVICE_NAME = "modelwatch"
POWERTOOLS_METRICS_NAMESPACE = "modelwatch"
POWERTOOLS_LOG_LEVEL = "INFO"

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
}


def predict_path(model: str) -> str:
    """Return the HTTP path of a model's predict route."""
    return f"/v1/models/{model}/predict"
