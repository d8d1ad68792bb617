"""Profile function: profile each delivered events object once, for the drift job to merge.

Invoked by the EventBridge rule on the events bucket's "Object Created" events
under ``events/``.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from modelwatch.jobs.context import build_job_context
from modelwatch.jobs.object_profiles import load_or_profile
from modelwatch.jobs.requests import ObjectCreated
from modelwatch.observability import logger, metrics, tracer
from modelwatch.settings import MonitoringSettings, load_settings

job_context = build_job_context(load_settings(MonitoringSettings))


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    created = ObjectCreated.from_event(event)
    profile = load_or_profile(
        job_context.events, job_context.profiles, created.key, created.etag, job_context.references()
    )
    return {
        "key": created.key,
        "events": profile.n_events,
        "versions": sorted(profile.versions),
        "unprofiled": profile.unprofiled,
    }
