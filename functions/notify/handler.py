"""Notify function: alerts from the SNS alert topic to a webhook (Slack-style HTTPS POST).

The webhook URL is read from Secrets Manager (``MODELWATCH_WEBHOOK_SECRET_ARN``), cached for
five minutes, never logged. A delivery that fails raises, so SNS/Lambda retry it.
"""

from typing import Any

from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.typing import LambdaContext

from modelwatch.metrics.notifications import (
    notification_from_sns,
    post_webhook,
    webhook_payload,
    webhook_url_from_secret,
)
from modelwatch.observability import logger, metrics, tracer
from modelwatch.settings import NotifySettings, load_settings

settings = load_settings(NotifySettings)


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    secret = parameters.get_secret(
        settings.webhook_secret_arn, max_age=settings.webhook_secret_max_age_seconds
    )
    url = webhook_url_from_secret(str(secret))
    sent = 0
    for record in event.get("Records", []):
        notification = notification_from_sns(record)
        post_webhook(url, webhook_payload(notification))
        logger.info("alert delivered", extra={"alert": notification.alertname, "status": notification.status})
        sent += 1
    metrics.add_metric(name="AlertsDelivered", unit="Count", value=sent)
    return {"delivered": sent}
