"""The local harness: the platform's handlers and app on one machine, AWS faked by moto_server.

Not part of the deployable library (nothing here ships in a Lambda bundle). It starts
moto_server, the prediction API under uvicorn, Prometheus and an MLflow server on
127.0.0.1, invokes the monitoring handlers of ``functions/`` as EventBridge would, and
runs the demo behind ``make demo`` (``python -m modelwatch_local demo``).
"""
