"""Predict function: the modelwatch prediction API behind API Gateway, through Mangum.

One function per served model (bundled with only that model's flavour runtime),
plus a catalog function (no runtime) for listings, health, docs and unknown paths.
Settings are validated here, at initialisation, so a misconfiguration fails the
cold start with a message naming the variable.

Capture is sent after the response: an internal extension registered here, at init,
flushes each invocation's records in the post-invoke phase. Without the Lambda
Extensions API (``AWS_LAMBDA_RUNTIME_API`` unset, or registration refused) the
records are sent before the handler returns, and the log says why once.
"""

import os
import warnings
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from mangum import Mangum

from modelwatch.observability import logger, metrics, tracer
from modelwatch.serving.app import create_app
from modelwatch.serving.context import build_context
from modelwatch.serving.post_invoke import start_post_invoke
from modelwatch.settings import ServingSettings, load_settings

# Listing, health and docs requests emit no metric; Powertools would warn on each.
warnings.filterwarnings("ignore", message="No application metrics to publish")

settings = load_settings(ServingSettings)
serving = build_context(settings)
app = create_app(serving)
asgi_handler = Mangum(app, lifespan="off")
post_invoke = start_post_invoke(
    serving.capture,
    os.environ.get("AWS_LAMBDA_RUNTIME_API"),
    settings.capture_extension_name,
    enabled=settings.capture_post_invoke,
)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
@tracer.capture_lambda_handler
def _answer(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return asgi_handler(event, context)  # type: ignore[arg-type]


def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        response: dict[str, Any] = _answer(event, context)
        return response
    finally:
        if post_invoke is not None:  # the answer is ready: the extension may flush
            post_invoke.invocation_done()
