"""Metrics export function: serving metrics from the captured events to AMP, every minute.

EventBridge schedules it each minute. It lists the event objects Firehose delivered in the
last hours, counts the new ones into cumulative counters (state in the events bucket), and
remote-writes every serving series (plus custom metrics and its own job health) to AMP.
Settings and custom-metric declarations are validated here, at initialisation.
"""

from typing import Any

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext

from modelwatch.metrics.custom import custom_metrics_from_environment
from modelwatch.metrics.provider import sink_from_settings
from modelwatch.metrics.serving_metrics import (
    CloudWatchCaptureFailures,
    load_export_settings,
    run_metrics_export,
)
from modelwatch.observability import METRICS_NAMESPACE, logger, metrics, tracer

settings = load_export_settings()
custom = custom_metrics_from_environment()
sink = sink_from_settings()
s3 = boto3.client("s3")
capture_failures = CloudWatchCaptureFailures(boto3.client("cloudwatch"), namespace=METRICS_NAMESPACE)


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    outcome = run_metrics_export(
        settings, s3_client=s3, sink=sink, custom=custom, capture_failures=capture_failures
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
