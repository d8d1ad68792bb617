"""``make chaos``: named experiments against the local stack under load, each with a verdict.

Each experiment states a hypothesis, injects one fault for a bounded time (a hung or killed
moto_server, S3 errors on manifest reads through ``fault_proxy``, MLflow or Prometheus killed, a
corrupt artifact, the metrics export's state deleted, a job killed), clears it, and checks what
callers saw, where every event went (``modelwatch_local.load.reconcile``: lost must be 0), how
long recovery took, and what ``/health`` and the alert rules said.
"""
