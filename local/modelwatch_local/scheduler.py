"""The local stand-in for EventBridge: invokes the monitoring handlers with the events it would send.

The handlers are the very ``functions/<job>/handler.py`` files Lambda runs, loaded in
this process with the settings the CDK stack gives them and boto3 pointed at moto.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from types import ModuleType
from typing import Any

from modelwatch.observability import logger
from modelwatch_local.paths import FUNCTIONS_DIR
from modelwatch_local.stack import EVENTS_BUCKET, MODELS_BUCKET, LocalStack

# The export runs every minute in AWS; locally more often, so the demo's figures fill in.
EXPORT_EVERY_SECONDS = 5.0


@dataclass
class _LambdaContext:
    function_name: str
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:local"
    aws_request_id: str = ""
    function_version: str = "$LATEST"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


class LocalScheduler:
    """Loads each monitoring handler once (a cold start) and invokes it on demand."""

    def __init__(self, stack: LocalStack, window_minutes: int = 60) -> None:
        self._stack = stack
        self._env = {**stack.aws_env(), **stack.monitoring_env(window_minutes)}
        # The handlers log as in Lambda; in this process only warnings reach the terminal.
        logger.setLevel(self._env.get("POWERTOOLS_LOG_LEVEL", "WARNING"))
        self._handlers: dict[str, ModuleType] = {}

    def _handler(self, name: str) -> ModuleType:
        if name not in self._handlers:
            path = FUNCTIONS_DIR / name / "handler.py"
            if not path.is_file():
                raise FileNotFoundError(f"no handler at {path} (set MODELWATCH_REPO_ROOT to the repository)")
            os.environ.update(self._env)
            module_name = f"modelwatch_local_{name}_{uuid.uuid4().hex[:8]}"
            spec = importlib.util.spec_from_file_location(module_name, path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
            self._handlers[name] = module
        return self._handlers[name]

    def preload(self, name: str) -> None:
        """Load the handler ``name`` now (its cold start), before the first invocation."""
        self._handler(name)

    def invoke(self, name: str, event: dict[str, Any]) -> Any:
        # What Firehose would have delivered by now is where AWS puts it (the local partitioner).
        self._stack.partition_deliveries()
        context = _LambdaContext(function_name=f"modelwatch-{name}", aws_request_id=uuid.uuid4().hex)
        return self._handler(name).handler(event, context)

    def export_metrics(self) -> Any:
        """One run of the metrics export (every minute in AWS): serving metrics from captured events."""
        from modelwatch.metrics import DiscardingSink, MetricsSink, RemoteWriteSink
        from modelwatch.metrics.serving_metrics import run_metrics_export
        from modelwatch.settings import ExportSettings
        from modelwatch.stores.dead_letter_queue import SqsQueue

        self._stack.partition_deliveries()
        sink: MetricsSink = (
            RemoteWriteSink.from_url(self._stack.remote_write_url)
            if self._stack.remote_write_url
            else DiscardingSink()
        )
        settings = ExportSettings(
            events_bucket=EVENTS_BUCKET,
            served_models=self._stack.models,
            export_schedule_seconds=EXPORT_EVERY_SECONDS,
            capture_dlq_url=self._stack.dlq_url or None,
            models_bucket=MODELS_BUCKET,
        )
        dead_letters = (
            SqsQueue(self._stack.boto3_client("sqs"), settings.capture_dlq_url)
            if settings.capture_dlq_url
            else None
        )
        return run_metrics_export(
            settings, storage=self._stack.storage(), sink=sink, dead_letters=dead_letters
        )

    def start_metrics_export(self, every: float = EXPORT_EVERY_SECONDS) -> Callable[[], None]:
        """Run the export every ``every`` seconds in a daemon thread; return what stops it.

        Stopping waits for a run in progress, so the stack is never stopped under a running export.
        """
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(every):
                try:
                    self.export_metrics()
                except Exception as error:  # keep exporting; the next run catches up
                    print(f"metrics export failed: {error}", file=sys.stderr)

        thread = threading.Thread(target=loop, name="metrics-export", daemon=True)
        thread.start()

        def stop_and_wait() -> None:
            stop.set()
            thread.join(timeout=60)

        return stop_and_wait

    def run_job(self, job: str, model: str, window_start: datetime, window_minutes: int) -> Any:
        """What an on-demand run of ``job`` gets: the model and the window to (re)compute."""
        return self.invoke(
            job,
            {
                "model": model,
                "window_start": window_start.isoformat(),
                "window_minutes": window_minutes,
                "force": True,
            },
        )
