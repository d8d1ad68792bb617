"""Drift function: the drift job over a window of captured events (see modelwatch.jobs)."""

from modelwatch.jobs.context import build_job_context
from modelwatch.jobs.lambda_handler import job_handler
from modelwatch.settings import MonitoringSettings, load_settings

job_context = build_job_context(load_settings(MonitoringSettings))
handler = job_handler("drift", lambda: job_context)
