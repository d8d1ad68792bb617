"""The documents the platform's parts exchange, and where each is kept.

Versioned documents: ``manifest`` (what serving serves), ``schema`` (a model's input),
``events`` (what serving captures), ``dead_letters`` (what the capture dead-letter queue
holds), ``profile`` (data profiles), ``results`` (job results), ``monitoring_config``
(drift, quality and performance settings), ``estimation`` (score statistics for performance
estimation without labels), ``platform_events`` (the bus's alerts),
``catalogue``, ``sample`` and ``custom_metrics`` (metrics). ``layout`` owns every S3 key and
partition; ``window`` the time windows of the jobs; ``names`` the rule for model, version
and alias names.

This package depends on nothing else of modelwatch and does no I/O; the CDK app
imports only this package of the library.
"""
