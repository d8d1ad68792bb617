"""Start and stop the local stack on 127.0.0.1.

``moto_server`` stands in for S3, Firehose and SQS; the prediction API runs
under uvicorn with the very app the Lambda functions run. Nothing in modelwatch
knows it is local: the API gets the same ``MODELWATCH_*`` settings it gets in
AWS, plus ``AWS_ENDPOINT_URL`` pointing at moto.

Known difference from AWS: moto's Firehose writes each put to S3 at once,
uncompressed, and appends ``YYYY/MM/DD/HH/`` to a static prefix instead of
evaluating ``!{timestamp:...}``; so local events land under
``events/model=<m>/YYYY/MM/DD/HH/`` rather than ``.../dt=YYYY-MM-DD/hour=HH/``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

HOST = "127.0.0.1"
REGION = "us-east-1"
EVENTS_BUCKET = "modelwatch-events"
MODELS_BUCKET = "modelwatch-models"
REJECTED_STREAM = "modelwatch-rejected"
LABELS_STREAM = "modelwatch-labels"
DLQ_NAME = "modelwatch-capture-dlq"
FIREHOSE_ROLE = "arn:aws:iam::123456789012:role/modelwatch-firehose"


def events_stream_name(model: str) -> str:
    return f"modelwatch-events-{model}"


class StackError(RuntimeError):
    """The local stack could not start (port taken, process died, ...)."""


@dataclass
class LocalStack:
    """Where the running local stack answers, and the processes behind it."""

    state_dir: str
    moto_url: str
    api_url: str
    models: list[str]
    pids: dict[str, int] = field(default_factory=dict)
    dlq_url: str = ""

    @property
    def state_file(self) -> Path:
        return Path(self.state_dir) / "stack.json"

    def aws_env(self) -> dict[str, str]:
        """Environment that points boto3 at moto."""
        return {
            "AWS_ENDPOINT_URL": self.moto_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
        }

    def serving_env(self) -> dict[str, str]:
        """The ``MODELWATCH_*`` settings, as the CDK stack sets them on the functions."""
        return {
            "MODELWATCH_MODELS_BUCKET": MODELS_BUCKET,
            "MODELWATCH_EVENTS_STREAMS": json.dumps({m: events_stream_name(m) for m in self.models}),
            "MODELWATCH_REJECTED_STREAM": REJECTED_STREAM,
            "MODELWATCH_LABELS_STREAM": LABELS_STREAM,
            "MODELWATCH_CAPTURE_DLQ_URL": self.dlq_url,
            "MODELWATCH_MANIFEST_TTL_SECONDS": os.environ.get("MODELWATCH_MANIFEST_TTL_SECONDS", "5"),
            "MODELWATCH_MODEL_CACHE_DIR": str(Path(self.state_dir) / "model-cache"),
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING"),
        }

    def boto3_client(self, service: str) -> Any:
        import boto3

        env = self.aws_env()
        return boto3.client(  # type: ignore[call-overload]  # the service is a run-time name
            service,
            endpoint_url=self.moto_url,
            region_name=REGION,
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=env["AWS_SESSION_TOKEN"],
        )


def _wait_http(url: str, process: subprocess.Popen[bytes], name: str, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise StackError(f"{name} exited with code {process.returncode}; log {log}:\n{tail}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise StackError(f"{name} did not answer at {url} within {timeout:.0f} s (log: {log})")


def _port_free(port: int) -> bool:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    handle = log.open("ab")
    return subprocess.Popen(
        args,
        env={**os.environ, **env},
        stdout=handle,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )


def _create_resources(stack: LocalStack) -> None:
    s3 = stack.boto3_client("s3")
    for bucket in (EVENTS_BUCKET, MODELS_BUCKET):
        s3.create_bucket(Bucket=bucket)
    sqs = stack.boto3_client("sqs")
    stack.dlq_url = sqs.create_queue(QueueName=DLQ_NAME)["QueueUrl"]
    firehose = stack.boto3_client("firehose")
    streams = {events_stream_name(m): f"events/model={m}/" for m in stack.models}
    streams[REJECTED_STREAM] = "rejected/"
    streams[LABELS_STREAM] = "labels/"
    for name, prefix in streams.items():
        firehose.create_delivery_stream(
            DeliveryStreamName=name,
            DeliveryStreamType="DirectPut",
            ExtendedS3DestinationConfiguration={
                "RoleARN": FIREHOSE_ROLE,
                "BucketARN": f"arn:aws:s3:::{EVENTS_BUCKET}",
                "Prefix": prefix,
                "CompressionFormat": "UNCOMPRESSED",
                "BufferingHints": {"IntervalInSeconds": 60, "SizeInMBs": 5},
            },
        )


def start_stack(
    models: list[str],
    state_dir: str | Path = ".local",
    moto_port: int = 5100,
    api_port: int = 8000,
    timeout: float = 60.0,
) -> LocalStack:
    """Start moto_server and the API; create the buckets, streams and queue.

    Raises
    ------
    StackError
        A port is taken or a process does not come up.
    """
    state = Path(state_dir).resolve()
    state.mkdir(parents=True, exist_ok=True)
    for port in (moto_port, api_port):
        if not _port_free(port):
            raise StackError(f"port {HOST}:{port} is in use (is a stack already up? try `make down`)")
    stack = LocalStack(
        state_dir=str(state),
        moto_url=f"http://{HOST}:{moto_port}",
        api_url=f"http://{HOST}:{api_port}",
        models=list(models),
    )
    moto = _spawn(
        [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(moto_port)], {}, state / "moto.log"
    )
    stack.pids["moto"] = moto.pid
    try:
        _wait_http(f"{stack.moto_url}/moto-api/", moto, "moto_server", timeout, state / "moto.log")
        _create_resources(stack)
        api = _spawn(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "modelwatch.local.asgi:app",
                "--host",
                HOST,
                "--port",
                str(api_port),
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            {**stack.aws_env(), **stack.serving_env()},
            state / "api.log",
        )
        stack.pids["api"] = api.pid
        _wait_http(f"{stack.api_url}/openapi.json", api, "prediction API", timeout, state / "api.log")
    except BaseException:
        stop_stack(stack)
        raise
    stack.state_file.write_text(json.dumps(asdict(stack), indent=2))
    return stack


def stop_stack(stack: LocalStack) -> None:
    """Stop every process of the stack (SIGTERM, then SIGKILL after 5 s)."""
    for pid in stack.pids.values():
        _terminate(pid)
    stack.state_file.unlink(missing_ok=True)


def _terminate(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        _reap(pid)
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    _reap(pid)


def _reap(pid: int) -> None:
    """Collect the exit status of our own child, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def load_running_stack(state_dir: str | Path = ".local") -> LocalStack | None:
    path = Path(state_dir).resolve() / "stack.json"
    if not path.exists():
        return None
    return LocalStack(**json.loads(path.read_text()))
