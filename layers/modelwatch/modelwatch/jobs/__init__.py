"""Monitoring jobs: drift, data quality and performance over windows of captured events.

Each job reads one window of one model's captured events from S3 (grouped by the
version that served them), compares it with that version's reference profile or
schema, writes a result JSON and an HTML report under ``reports/``, and puts an
event on the platform's EventBridge bus when something is wrong. Runs are
idempotent per (job, model, window): a window already reported is not redone
unless forced. Lambda handlers (``functions/drift`` ...) only parse their event
and call ``run_job``.
"""
