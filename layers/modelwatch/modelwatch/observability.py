"""Powertools observability singletons, shared by every handler and module.

Handlers decorate in one order: logger context, metrics, tracer.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "modelwatch"
METRICS_NAMESPACE = "modelwatch"

logger = Logger(service=SERVICE)
# Only what modelwatch calls is patched: by default the X-Ray SDK patches every library it
# supports that is installed (sqlalchemy, requests, ...), importing each at cold start.
tracer = Tracer(service=SERVICE, patch_modules=["boto3", "botocore"])
metrics = Metrics(service=SERVICE, namespace=METRICS_NAMESPACE)
