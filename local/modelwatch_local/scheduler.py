"""The local stand-in for EventBridge and Lambda's SQS event source: invokes the monitoring handlers.

The handlers are the very ``functions/<job>/handler.py`` files Lambda runs, loaded in
this process with the settings the CDK stack gives them and boto3 pointed at moto.
The jobs run as in AWS: :meth:`LocalScheduler.dispatch` invokes the dispatcher, which
puts one message per due (model, job, window) on a real moto SQS queue per job, and
:meth:`LocalScheduler.drain_job_queues` delivers them to the job handlers in the SQS
event shape Lambda's event source mapping sends, deleting the records the handler did
not report in ``batchItemFailures``; a record that keeps failing moves to the
monitoring dead-letter queue after ``JOB_QUEUE_MAX_RECEIVE_COUNT`` receives.

In Lambda each process runs one function, so the Lambda context keys Powertools' Logger
adds to every line (``function_name``, ...) are right for the whole process. Here one
process hosts them all: the keys of an invocation are removed when it ends, and the
metrics export (run in its own thread, beside the handlers) logs under keys of its own.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

from modelwatch.observability import logger
from modelwatch_local.paths import FUNCTIONS_DIR
from modelwatch_local.stack import EVENTS_BUCKET, MODELS_BUCKET, REGION, LocalStack

# The export runs every minute in AWS; locally more often, so the demo's figures fill in.
EXPORT_EVERY_SECONDS = 5.0

# The job queues and their dead-letter queue, as the monitoring stack makes them (the rollout
# job's gets messages only for a model with a running rollout).
JOBS = ("drift", "quality", "performance", "rollout")
DISPATCH_FUNCTION = "job_dispatch"
JOB_QUEUE_BATCH_SIZE = 5
JOB_QUEUE_MAX_RECEIVE_COUNT = 3
MONITORING_DLQ_NAME = "modelwatch-monitoring-dlq"
EXPORT_FUNCTION = "metrics_export"
# What ``logger.inject_lambda_context`` adds to every log line of an invocation.
LAMBDA_CONTEXT_KEYS = (
    "cold_start",
    "function_name",
    "function_memory_size",
    "function_arn",
    "function_request_id",
)


def job_queue_name(job: str) -> str:
    return f"modelwatch-{job}-jobs"


@dataclass
class _LambdaContext:
    function_name: str
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:local"
    aws_request_id: str = ""
    function_version: str = "$LATEST"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def function_name(name: str) -> str:
    """The name a local invocation of the function ``name`` logs under (``modelwatch-drift``)."""
    return f"modelwatch-{name}"


def lambda_context_keys(context: _LambdaContext, cold_start: bool = False) -> dict[str, object]:
    """The log keys Powertools' ``inject_lambda_context`` would add for ``context``."""
    return {
        "cold_start": cold_start,
        "function_name": context.function_name,
        "function_memory_size": context.memory_limit_in_mb,
        "function_arn": context.invoked_function_arn,
        "function_request_id": context.aws_request_id,
    }


@contextmanager
def logging_as(name: str) -> Iterator[None]:
    """Log as an invocation of the function ``name`` in this thread (Powertools' thread-local keys),
    whatever Lambda context keys another invocation left on the shared logger."""
    context = _LambdaContext(function_name=function_name(name), aws_request_id=uuid.uuid4().hex)
    logger.thread_safe_append_keys(**lambda_context_keys(context))
    try:
        yield
    finally:
        logger.thread_safe_remove_keys(LAMBDA_CONTEXT_KEYS)


class LocalScheduler:
    """Loads each monitoring handler once (a cold start) and invokes it on demand."""

    def __init__(self, stack: LocalStack, window_minutes: int = 60) -> None:
        self._stack = stack
        self._env = {**stack.aws_env(), **stack.monitoring_env(window_minutes)}
        self._window_minutes = window_minutes
        # The handlers log as in Lambda; in this process only warnings reach the terminal.
        logger.setLevel(self._env.get("POWERTOOLS_LOG_LEVEL", "WARNING"))
        self._handlers: dict[str, ModuleType] = {}
        self._queue_urls: dict[str, str] = {}

    def _handler(self, name: str) -> ModuleType:
        if name not in self._handlers:
            path = FUNCTIONS_DIR / name / "handler.py"
            if not path.is_file():
                raise FileNotFoundError(f"no handler at {path} (set MODELWATCH_REPO_ROOT to the repository)")
            os.environ.update(self._env)
            if name == DISPATCH_FUNCTION:
                os.environ.update(self._dispatch_env())
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
        context = _LambdaContext(function_name=function_name(name), aws_request_id=uuid.uuid4().hex)
        try:
            return self._handler(name).handler(event, context)
        finally:
            logger.remove_keys(LAMBDA_CONTEXT_KEYS)

    def export_metrics(self) -> Any:
        """One run of the metrics export (every minute in AWS): serving metrics from captured events.

        Its log lines carry the export function's name, also while a handler runs in another thread.
        """
        with logging_as(EXPORT_FUNCTION):
            return self._export_metrics()

    def _export_metrics(self) -> Any:
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

    # --- the jobs through the dispatcher and the job queues, as in AWS ---------------------------

    def job_queue_urls(self) -> dict[str, str]:
        """The URL of each job's queue (created on first use, redriving to the monitoring DLQ)."""
        if not self._queue_urls:
            sqs = self._stack.boto3_client("sqs")
            dlq_url = sqs.create_queue(QueueName=MONITORING_DLQ_NAME)["QueueUrl"]
            dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            redrive = json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": JOB_QUEUE_MAX_RECEIVE_COUNT}
            )
            for job in JOBS:
                url = sqs.create_queue(QueueName=job_queue_name(job), Attributes={"RedrivePolicy": redrive})
                self._queue_urls[job] = url["QueueUrl"]
            self._queue_urls["dlq"] = dlq_url
        return {job: url for job, url in self._queue_urls.items() if job in JOBS}

    def dead_letter_queue_url(self) -> str:
        self.job_queue_urls()
        return self._queue_urls["dlq"]

    def _dispatch_env(self) -> dict[str, str]:
        """The dispatcher's settings, as the monitoring stack sets them."""
        return {
            "MODELWATCH_JOB_QUEUE_URLS": json.dumps(self.job_queue_urls()),
            "MODELWATCH_SERVED_ALIAS": "production",
            "MODELWATCH_WINDOW_MINUTES": str(self._window_minutes),
            # moto delivers at once and the partitioner runs before each handler: no delivery delay
            "MODELWATCH_DELIVERY_LAG_MINUTES": "0",
        }

    def dispatch(self, now: datetime | None = None) -> Any:
        """One tick of the dispatch schedule at ``now``: the event EventBridge sends, ``{"time": ...}``."""
        moment = (now or datetime.now(UTC)).astimezone(UTC)
        return self.invoke(DISPATCH_FUNCTION, {"time": moment.strftime("%Y-%m-%dT%H:%M:%SZ")})

    def drain_job_queues(self, max_batches: int = 100) -> dict[str, list[dict[str, Any]]]:
        """Deliver every visible message to its job's handler, batch by batch, as the event source does.

        Returns each job's answers (``{"batchItemFailures": [...]}``). A reported record is made
        visible again (a retry); after ``JOB_QUEUE_MAX_RECEIVE_COUNT`` receives SQS moves it to
        the dead-letter queue.
        """
        sqs = self._stack.boto3_client("sqs")
        answers: dict[str, list[dict[str, Any]]] = {}
        for job, url in self.job_queue_urls().items():
            arn = f"arn:aws:sqs:{REGION}:123456789012:{job_queue_name(job)}"
            for _ in range(max_batches):
                messages = sqs.receive_message(
                    QueueUrl=url,
                    MaxNumberOfMessages=JOB_QUEUE_BATCH_SIZE,
                    VisibilityTimeout=300,
                    MessageSystemAttributeNames=["All"],
                ).get("Messages", [])
                if not messages:
                    break
                answer = self.invoke(job, sqs_event(messages, arn))
                answers.setdefault(job, []).append(answer)
                failed = {item["itemIdentifier"] for item in answer.get("batchItemFailures", [])}
                for message in messages:
                    handle = message["ReceiptHandle"]
                    if message["MessageId"] in failed:
                        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)
                    else:
                        sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)
        return answers

    def run_due_jobs(self, now: datetime | None = None) -> dict[str, Any]:
        """One tick: dispatch, then run every job the dispatch put on the queues."""
        dispatched = self.dispatch(now)
        return {"dispatch": dispatched, "jobs": self.drain_job_queues()}

    def start_job_schedule(self, every: float) -> Callable[[], None]:
        """Run :meth:`run_due_jobs` every ``every`` seconds in a daemon thread; return what stops it."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(every):
                try:
                    self.run_due_jobs()
                except Exception as error:  # the next tick dispatches what this one could not
                    print(f"job dispatch failed: {error}", file=sys.stderr)

        thread = threading.Thread(target=loop, name="job-dispatch", daemon=True)
        thread.start()

        def stop_and_wait() -> None:
            stop.set()
            thread.join(timeout=60)

        return stop_and_wait


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """What Lambda's SQS event source mapping delivers for ``messages`` (boto3's receive_message)."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": message.get("MessageAttributes", {}),
                "md5OfBody": message.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": REGION,
            }
            for message in messages
        ]
    }
