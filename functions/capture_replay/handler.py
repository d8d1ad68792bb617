"""Capture replay function: drain the capture dead-letter queue back into Firehose, on demand.

Invoke it after an incident (``aws lambda invoke --function-name <CaptureReplayFunctionName>
--payload '{}' out.json``); the payload may ask ``{"dry_run": true}``, ``{"max_messages": 500}``
or ``{"resend_in_doubt": true}`` (unknown keys are refused). It replays until the queue is
empty, ``max_messages`` are read, or the invocation's time is nearly up, and answers the
report (``modelwatch.jobs.capture_replay.ReplayReport``); invoke it again while the report
says ``"stopped"``. Each event reaches Firehose at most once, however often it is invoked.
"""

import time
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from modelwatch.jobs.capture_replay import ReplayRequest, build_capture_replay
from modelwatch.observability import logger, metrics, tracer
from modelwatch.settings import CaptureReplaySettings, load_settings

settings = load_settings(CaptureReplaySettings)
replay = build_capture_replay(settings)


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = ReplayRequest.model_validate(event or {})
    report = replay.run(
        dry_run=request.dry_run,
        max_messages=request.max_messages or settings.replay_max_messages,
        deadline=time.monotonic() + context.get_remaining_time_in_millis() / 1000,
        resend_in_doubt=request.resend_in_doubt,
    )
    if not report.dry_run:
        metrics.add_metric(name="ReplayedLines", unit=MetricUnit.Count, value=report.lines)
        metrics.add_metric(name="ReplayFailures", unit=MetricUnit.Count, value=report.failures)
        metrics.add_metric(name="ReplayInDoubt", unit=MetricUnit.Count, value=report.in_doubt)
    if not report.clean:
        logger.warning("capture replay left messages in the queue", extra={"errors": report.errors})
    return report.model_dump(mode="json")
