"""Notify function: each alert of the SNS alert topic to its channels (Slack, Teams, PagerDuty, ...).

The channels come from ``MODELWATCH_CHANNELS`` (validated at cold start); their secrets from Secrets
Manager, cached, never logged. A channel that fails after its retries does not fail the invocation
(SNS would re-send to the channels that took the alert): it is logged and counted, and the
``ChannelDeliveryFailuresTotal`` alarm tells the other channels.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from modelwatch.notifications.alert import notification_from_sns
from modelwatch.notifications.delivery import PowertoolsFailureCounter, deliver, powertools_secret_reader
from modelwatch.notifications.transport import Urllib3Transport
from modelwatch.observability import logger, metrics, tracer
from modelwatch.settings import NotifySettings, load_settings

settings = load_settings(NotifySettings)
read_secret = powertools_secret_reader(settings.secret_max_age_seconds)
transport = Urllib3Transport()
counter = PowertoolsFailureCounter(metrics)


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    reports = [
        deliver(
            notification_from_sns(record),
            settings.channels,
            read_secret=read_secret,
            transport=transport,
            counter=counter,
            failure_alarm_name=settings.failure_alarm_name,
        )
        for record in event.get("Records", [])
    ]
    return {
        "delivered": sum(len(report.delivered) for report in reports),
        "failed": sorted({outcome.channel for report in reports for outcome in report.failed}),
    }
