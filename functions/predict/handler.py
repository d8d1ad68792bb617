"""Predict function: the modelwatch prediction API behind API Gateway, through Mangum.

One function per served model (bundled with only that model's flavour runtime),
plus a catalog function (no runtime) for listings, health, docs and unknown paths.
Settings are validated here, at initialisation, so a misconfiguration fails the
cold start with a message naming the variable.
"""

import warnings
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from mangum import Mangum

from modelwatch.observability import logger, metrics, tracer
from modelwatch.serving.app import create_app
from modelwatch.serving.context import build_context
from modelwatch.settings import ServingSettings, load_settings

# Listing, health and docs requests emit no metric; Powertools would warn on each.
warnings.filterwarnings("ignore", message="No application metrics to publish")

app = create_app(build_context(load_settings(ServingSettings)))
asgi_handler = Mangum(app, lifespan="off")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return asgi_handler(event, context)  # type: ignore[arg-type]
