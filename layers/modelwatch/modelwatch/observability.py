"""Powertools observability singletons, shared by every handler and module.

Handlers decorate in one order: logger context, metrics, tracer.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "modelwatch"
METRICS_NAMESPACE = "modelwatch"

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(service=SERVICE, namespace=METRICS_NAMESPACE)
