"""Registry-sync function: reconcile MLflow aliases with the serving manifests in the models bucket.

Runs every minute (EventBridge schedule) and on demand (``aws lambda invoke``, optionally
with ``{"models": ["fraud_detection"]}``). It talks to MLflow through the light REST client
(no MLflow package in the bundle) with the credentials from Secrets Manager. When MLflow is
unreachable the invocation fails, naming the URI, and every manifest stays as it was.
"""

from typing import Any

import boto3
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from modelwatch.observability import logger, metrics, tracer
from modelwatch.registry.rest import MlflowRestClient
from modelwatch.registry.sync import RegistrySyncSettings, mlflow_credentials, reconcile_manifests

settings = RegistrySyncSettings()  # type: ignore[call-arg]  # from MODELWATCH_* variables, checked at init
s3 = boto3.client("s3")
_credentials: tuple[str, str] | None = None


class SyncFailed(RuntimeError):
    """Some manifests could not be reconciled (the report names them)."""


def _backend() -> MlflowRestClient:
    global _credentials
    username = password = None
    if settings.mlflow_credentials_secret:
        if _credentials is None:
            _credentials = mlflow_credentials(
                settings.mlflow_credentials_secret, boto3.client("secretsmanager")
            )
        username, password = _credentials
    return MlflowRestClient(
        settings.mlflow_tracking_uri,
        username=username,
        password=password,
        timeout=settings.mlflow_timeout_seconds,
        max_attempts=settings.mlflow_max_attempts,
    )


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    models = event.get("models") if isinstance(event, dict) else None
    report = reconcile_manifests(
        _backend(),
        s3,
        settings.models_bucket,
        aliases=settings.served_aliases,
        manifest_prefix=settings.manifest_prefix,
        models=models,
    )
    metrics.add_metric(name="ManifestsPublished", unit=MetricUnit.Count, value=len(report.published))
    metrics.add_metric(name="SyncFailures", unit=MetricUnit.Count, value=len(report.failures))
    result = report.model_dump(mode="json")
    logger.info("registry sync", extra={"report": result})
    if report.failures:
        raise SyncFailed("; ".join(f"{a.model}/{a.alias}: {a.error}" for a in report.failures))
    return result
