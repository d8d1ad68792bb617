"""Rollout function: the rollout job over a window of a running rollout (see modelwatch.jobs.rollout_job)."""

from modelwatch.jobs.context import build_job_context
from modelwatch.jobs.lambda_handler import job_handler
from modelwatch.settings import MonitoringSettings, load_settings

job_context = build_job_context(load_settings(MonitoringSettings))
handler = job_handler("rollout", lambda: job_context)
