"""Job dispatcher function: every due (model, job, window) onto the job queues (modelwatch.jobs.dispatch).

A schedule's event (``{"time": ...}``) dispatches the windows that closed since the last tick;
``{"backfill": {"model", "from", "to", "jobs", "force"}}`` queues every window of that range
instead (modelwatch.jobs.backfill), answering how many windows it queued per job.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from modelwatch.contracts.window import parse_timestamp
from modelwatch.jobs.backfill import queue_backfill
from modelwatch.jobs.context import utc_now
from modelwatch.jobs.dispatch import build_dispatch_context, run_dispatch
from modelwatch.observability import logger, metrics, tracer
from modelwatch.settings import JobDispatchSettings, load_settings

dispatch_context = build_dispatch_context(load_settings(JobDispatchSettings), clock=utc_now)


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, object]:
    if "backfill" in event:
        return queue_backfill(dispatch_context, event["backfill"]).summary()
    scheduled = event.get("time")
    now = parse_timestamp(scheduled) if isinstance(scheduled, str) else None
    return run_dispatch(dispatch_context, now).summary()
