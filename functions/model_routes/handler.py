"""Model-routes function: a literal predict route for each model of a non-default flavour.

Invoked by EventBridge for every Object Created or Object Deleted under the models bucket's
``manifests/`` (one rule), it writes, updates or deletes that model's route through the API
Gateway v2 API; any other event (the hourly schedule, ``aws lambda invoke`` with ``{}``)
reconciles every route with every manifest. A model that could not be handled fails the
invocation, naming it, so EventBridge retries it (and the next reconcile catches up).
"""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from modelwatch.observability import logger, metrics, tracer
from modelwatch.registry.routes import RouteWriter
from modelwatch.settings import ModelRoutesSettings, load_settings
from modelwatch.stores import aws
from modelwatch.stores.objects import S3Storage
from modelwatch.stores.routes import ApiGatewayRoutes

settings = load_settings(ModelRoutesSettings)
writer = RouteWriter(
    ApiGatewayRoutes(aws.client("apigatewayv2"), settings.api_id),
    S3Storage(aws.client("s3")),
    settings.models_bucket,
    serving_alias=settings.serving_alias,
    default_flavor=settings.default_flavor,
    integrations=settings.flavor_integrations,
    dedicated=settings.dedicated_models,
    manifest_prefix=settings.manifest_prefix,
)


def _object_key(event: Any) -> str | None:
    if isinstance(event, dict) and event.get("source") == "aws.s3":
        key = event.get("detail", {}).get("object", {}).get("key")
        return key if isinstance(key, str) else None
    return None


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    key = _object_key(event)
    report = writer.reconcile() if key is None else writer.apply(writer.models_of_keys([key]))
    for action in ("created", "updated", "deleted"):
        metrics.add_metric(name=f"Routes{action.title()}", unit=MetricUnit.Count, value=report.count(action))
    metrics.add_metric(name="RouteFailures", unit=MetricUnit.Count, value=len(report.failures))
    logger.info("model routes", extra={"key": key, "report": report.as_dict()})
    report.raise_for_failures()
    return report.as_dict()
