"""Registry-sync function: reconcile MLflow aliases with the serving manifests in the models bucket.

Runs every minute (EventBridge schedule) and on demand (``aws lambda invoke``, optionally
with ``{"models": ["fraud_detection"]}``). It talks to MLflow through the light REST client
(no MLflow package in the bundle) with the credentials from Secrets Manager. When MLflow is
unreachable the invocation fails, naming the URI, and every manifest stays as it was.
"""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from modelwatch.observability import logger, metrics, tracer
from modelwatch.registry.sync import SyncRunner
from modelwatch.settings import RegistrySyncSettings, load_settings
from modelwatch.stores import aws
from modelwatch.stores.objects import S3Storage

runner = SyncRunner(load_settings(RegistrySyncSettings), S3Storage(aws.client("s3")))


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    models = event.get("models") if isinstance(event, dict) else None
    report = runner.run(models)
    metrics.add_metric(name="ManifestsPublished", unit=MetricUnit.Count, value=len(report.published))
    metrics.add_metric(name="SyncFailures", unit=MetricUnit.Count, value=len(report.failures))
    logger.info("registry sync", extra={"report": report.model_dump(mode="json")})
    report.raise_for_failures()
    return report.model_dump(mode="json")
