"""Metrics export function: serving metrics from the captured events to AMP, every minute.

In AWS the events bucket's Object Created events reach it through an SQS queue, a batch a minute
(``MODELWATCH_EXPORT_KEYS_FROM=events``), and a schedule runs it for its health samples; otherwise
(and locally) each scheduled run lists the event objects Firehose delivered in the last hours. It
counts the new ones into cumulative counters (state in the events bucket), and remote-writes every
serving series (plus custom metrics, its own job health and the capture dead-letter queue's depth)
to AMP.
Settings and custom-metric declarations are validated here, at initialisation.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from modelwatch.metrics.provider import sink_from_settings
from modelwatch.metrics.serving_metrics import (
    CloudWatchCaptureFailures,
    delivered_keys_of,
    run_metrics_export,
)
from modelwatch.observability import METRICS_NAMESPACE, logger, metrics, tracer
from modelwatch.settings import ExportSettings, load_settings
from modelwatch.stores import aws
from modelwatch.stores.dead_letter_queue import SqsQueue
from modelwatch.stores.objects import S3Storage

settings = load_settings(ExportSettings)
sink = sink_from_settings(settings)
storage = S3Storage(aws.client("s3"))
capture_failures = CloudWatchCaptureFailures(aws.client("cloudwatch"), namespace=METRICS_NAMESPACE)
dead_letters = SqsQueue(aws.client("sqs"), settings.capture_dlq_url) if settings.capture_dlq_url else None


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if "Records" in event:  # a batch of Object Created messages from the export queue
        delivered: list[str] | None = delivered_keys_of(event["Records"], settings.events_bucket)
    else:  # the schedule: lists the look-back's objects, or (keys from events) only reports health
        delivered = [] if settings.export_keys_from == "events" else None
    outcome = run_metrics_export(
        settings,
        storage=storage,
        sink=sink,
        capture_failures=capture_failures,
        dead_letters=dead_letters,
        delivered=delivered,
    )
    metrics.add_metric(name="ExportedObjects", unit="Count", value=outcome.objects)
    return {
        "objects": outcome.objects,
        "series": outcome.series,
        "written": outcome.write.written,
        "rejected": outcome.write.rejected,
        "failed": outcome.write.failed,
        "unreadable": len(outcome.unreadable),
    }
