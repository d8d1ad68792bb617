"""Profile function: profile and count each delivered object once, for the drift and quality jobs to merge.

Invoked by the EventBridge rule on the events bucket's "Object Created" events under
``events/`` (a profile and quality counts) and ``rejected/`` (quality counts only).
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from modelwatch.jobs.context import build_job_context
from modelwatch.jobs.object_profiles import process_delivered_object
from modelwatch.jobs.requests import ObjectCreated
from modelwatch.observability import logger, metrics, tracer
from modelwatch.settings import MonitoringSettings, load_settings

job_context = build_job_context(load_settings(MonitoringSettings))


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    created = ObjectCreated.from_event(event)
    done = process_delivered_object(
        job_context.events, job_context.profiles, created.key, created.etag, job_context.references()
    )
    answer: dict[str, Any] = {
        "key": created.key,
        "kind": done.kind,
        "records": done.quality.n_records,
        "unreadable_lines": done.quality.unreadable_lines,
        "checked": sorted({c.version for c in done.quality.versions if c.checked}),
    }
    if done.profile is not None:
        answer.update(
            events=done.profile.n_events,
            versions=sorted(done.profile.versions),
            unprofiled=done.profile.unprofiled,
        )
    return answer
