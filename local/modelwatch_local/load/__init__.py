"""``make load``: a bounded Locust load test of the prediction API, with the capture reconciled.

The profile (``locustfile.py``) runs against the local stack or, signed with SigV4 or a JWT,
against a deployed API; ``run`` starts the local stack, drives the profile, reads every captured
event back through ``modelwatch.stores`` and writes the report; ``ramp`` finds the throughput at
which p99 latency passes its threshold, next to a bare FastAPI app serving the same model.
"""
