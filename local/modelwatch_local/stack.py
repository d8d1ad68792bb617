"""Start and stop the local stack on 127.0.0.1.

``moto_server`` stands in for S3, Firehose and SQS; the prediction API runs
under uvicorn with the very app the Lambda functions run. Nothing in modelwatch
knows it is local: the API gets the same ``MODELWATCH_*`` settings it gets in
AWS, plus ``AWS_ENDPOINT_URL`` pointing at moto.

One events stream serves every model, as in AWS. moto's Firehose writes each put to S3
at once, uncompressed, and neither partitions by model nor evaluates ``!{...}``
expressions (it appends ``YYYY/MM/DD/HH/`` to a static prefix). So the local streams
deliver under ``local-delivery/<kind>/`` and the local partitioner
(``modelwatch_local.partitioner``) re-lays each delivered object where Firehose would
have put it: ``<kind>/model=<m>/dt=YYYY-MM-DD/hour=HH/`` for events, rejected and labels.
It runs before anything local reads the events bucket (``LocalStack.events()``, every
scheduled handler, each metrics export), so readers see the AWS layout only. What stays
different: objects are not gzipped, and there is one object per put rather than per
buffer interval.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from modelwatch.contracts import layout
from modelwatch.stores.events import EventStore
from modelwatch.stores.objects import S3Storage
from modelwatch_local.log_files import log_file
from modelwatch_local.partitioner import LocalPartitioner, PartitionReport
from modelwatch_local.paths import cli_env_file, lake_dir
from modelwatch_local.processes import HOST, StackError, port_free, spawn, terminate, wait_http
from modelwatch_local.prometheus_server import LocalPrometheus, PrometheusError, start_prometheus

REGION = "us-east-1"
EVENTS_BUCKET = "modelwatch-events"
MODELS_BUCKET = "modelwatch-models"
EVENTS_STREAM = "modelwatch-events"
REJECTED_STREAM = "modelwatch-rejected"
LABELS_STREAM = "modelwatch-labels"
DLQ_NAME = "modelwatch-capture-dlq"
PLATFORM_BUS = "modelwatch-platform"
FIREHOSE_ROLE = "arn:aws:iam::123456789012:role/modelwatch-firehose"


@dataclass
class LocalStack:
    """Where the running local stack answers, and the processes behind it."""

    state_dir: str
    moto_url: str
    api_url: str
    models: list[str]
    pids: dict[str, int] = field(default_factory=dict)
    dlq_url: str = ""
    prometheus_url: str = ""
    mlflow_url: str = ""
    dashboards_url: str = ""

    @property
    def remote_write_url(self) -> str:
        return f"{self.prometheus_url}/api/v1/write" if self.prometheus_url else ""

    def prometheus(self) -> LocalPrometheus | None:
        """The stack's Prometheus, for queries (None when the stack runs without one)."""
        if not self.prometheus_url:
            return None
        state = Path(self.state_dir)
        return LocalPrometheus(
            url=self.prometheus_url,
            pid=self.pids["prometheus"],
            data_dir=str(state / "prometheus-data"),
            config_file=str(state / "prometheus.yml"),
            log_file=str(self.log_file("prometheus")),
        )

    def log_file(self, name: str) -> Path:
        """The log file of the stack's process ``name`` (a key of ``pids``) or of ``"jobs"``, the
        demo's own process: ``<state>/logs/<service>.log``."""
        return log_file(self.state_dir, name)

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
            "MODELWATCH_EVENTS_STREAM": EVENTS_STREAM,
            "MODELWATCH_REJECTED_STREAM": REJECTED_STREAM,
            "MODELWATCH_LABELS_STREAM": LABELS_STREAM,
            "MODELWATCH_CAPTURE_DLQ_URL": self.dlq_url,
            "MODELWATCH_MANIFEST_TTL_SECONDS": os.environ.get("MODELWATCH_MANIFEST_TTL_SECONDS", "5"),
            "MODELWATCH_MODEL_CACHE_DIR": str(Path(self.state_dir) / "model-cache"),
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING"),
        }

    def monitoring_env(self, window_minutes: int = 60) -> dict[str, str]:
        """The ``MODELWATCH_*`` settings of the monitoring functions, as the CDK stack sets them."""
        return {
            "MODELWATCH_EVENTS_BUCKET": EVENTS_BUCKET,
            "MODELWATCH_MODELS_BUCKET": MODELS_BUCKET,
            "MODELWATCH_EVENT_BUS_NAME": PLATFORM_BUS,
            "MODELWATCH_WINDOW_MINUTES": str(window_minutes),
            # Where AWS runs SQL on Athena: DuckDB over the bucket's objects, synced to files.
            "MODELWATCH_QUERY_ENGINE": "duckdb",
            "MODELWATCH_LAKE_DIR": str(lake_dir(self.state_dir)),
            **({"MODELWATCH_REMOTE_WRITE_URL": self.remote_write_url} if self.prometheus_url else {}),
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING"),
        }

    def cli_env(self) -> dict[str, str]:
        """What the ``modelwatch`` command needs on this stack (``modelwatch sql``): moto, buckets, engine."""
        return {**self.aws_env(), **self.monitoring_env()}

    def write_cli_env(self) -> Path:
        """Write ``<state>/env.sh``: ``. .local/env.sh`` in a shell, then ``modelwatch sql "..."`` works."""
        path = cli_env_file(self.state_dir)
        lines = [f"export {name}={shlex.quote(value)}" for name, value in self.cli_env().items()]
        path.write_text(
            "# the modelwatch command on the local stack: . " + str(path) + "\n" + "\n".join(lines) + "\n"
        )
        return path

    def storage(self) -> S3Storage:
        """The stack's S3 (moto) as the library's object storage."""
        return S3Storage(self.boto3_client("s3"))

    def events(self) -> EventStore:
        """What the API captured, read back from the events bucket: once no capture is in flight,
        partitioned as in AWS."""
        self.wait_for_capture()
        self.partition_deliveries()
        return EventStore(self.storage(), EVENTS_BUCKET)

    def wait_for_capture(self, timeout: float = 30.0) -> bool:
        """Wait until the API sends no capture (it sends after each response); False on timeout.

        Asks the local app's ``GET /_local/capture``; an API that does not answer is not waited for.
        """
        import time
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.api_url}/_local/capture", timeout=5.0) as answer:
                    if json.loads(answer.read())["in_flight"] == 0:
                        return True
            except (OSError, ValueError, KeyError):
                return False
            time.sleep(0.05)
        return False

    def snapshot_lake(self) -> int:
        """Bring the lake up to date with every capture object in moto; return how many it downloaded.

        Run before the stack stops (moto keeps its bucket in memory): the lake then keeps what the
        stack captured, and ``modelwatch sql --no-sync`` still answers after ``make demo`` or ``make down``.
        """
        from modelwatch.contracts.layout import CAPTURE_KINDS
        from modelwatch.stores.sql import ObjectLake

        self.partition_deliveries()
        lake = ObjectLake(self.storage(), EVENTS_BUCKET, lake_dir(self.state_dir))
        return lake.sync_all(CAPTURE_KINDS).downloaded

    def partition_deliveries(self) -> PartitionReport:
        """Re-lay what the local streams delivered so far at the keys Firehose uses in AWS."""
        return LocalPartitioner(self.boto3_client("s3"), EVENTS_BUCKET).run()

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


def create_resources(stack: LocalStack) -> None:
    """Create the buckets, the dead-letter queue, the platform bus and the Firehose streams in moto."""
    s3 = stack.boto3_client("s3")
    for bucket in (EVENTS_BUCKET, MODELS_BUCKET):
        s3.create_bucket(Bucket=bucket)
    sqs = stack.boto3_client("sqs")
    stack.dlq_url = sqs.create_queue(QueueName=DLQ_NAME)["QueueUrl"]
    stack.boto3_client("events").create_event_bus(Name=PLATFORM_BUS)
    firehose = stack.boto3_client("firehose")
    # moto's Firehose appends YYYY/MM/DD/HH/ to the prefix; the local partitioner re-lays from there.
    streams = {
        EVENTS_STREAM: layout.local_delivery_prefix("events"),
        REJECTED_STREAM: layout.local_delivery_prefix("rejected"),
        LABELS_STREAM: layout.local_delivery_prefix("labels"),
    }
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


def moto_command(port: int) -> list[str]:
    """The command line of the stack's ``moto_server`` on 127.0.0.1:``port``."""
    return [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(port)]


def api_command(port: int, app: str = "modelwatch_local.asgi:app") -> list[str]:
    """The command line of the prediction API (``app``) under uvicorn on 127.0.0.1:``port``."""
    return [
        sys.executable, "-m", "uvicorn", app,
        "--host", HOST,
        "--port", str(port),
        "--no-access-log",
        "--log-level", "warning",
    ]  # fmt: skip


def dashboards_command(prometheus_url: str, port: int) -> list[str]:
    """The command line of the dashboard site on 127.0.0.1:``port``, drawing from ``prometheus_url``."""
    return [
        sys.executable, "-m", "modelwatch_local", "dashboards",
        "--prometheus-url", prometheus_url,
        "--port", str(port),
    ]  # fmt: skip


def start_stack(
    models: list[str],
    state_dir: str | Path = ".local",
    moto_port: int = 5100,
    api_port: int = 8000,
    timeout: float = 60.0,
    prometheus_port: int | None = 9090,
    mlflow_port: int | None = 5000,
    moto_env: dict[str, str] | None = None,
    api_env: dict[str, str] | None = None,
    dashboards_port: int | None = None,
    on_ready: Callable[[str], None] | None = None,
) -> LocalStack:
    """Start moto_server, the API, Prometheus and MLflow; create the buckets, streams, queue and bus.

    ``prometheus_port=None`` leaves Prometheus out (metrics are then discarded);
    ``mlflow_port=None`` leaves the MLflow server out (no registry). MLflow keeps its
    database under ``<state_dir>/mlflow`` between runs. ``moto_env`` and ``api_env`` add to
    the environment of moto_server and of the API (the chaos experiments record moto's
    requests, and send the API's S3 calls through a fault-injecting proxy). ``dashboards_port``
    adds the dashboard site (``dashboards/*.json`` drawn against the stack's Prometheus; ``make up``
    uses 3000). Each process logs to ``<state_dir>/logs/<service>.log``; ``on_ready`` is called
    with a process's key (``"moto"``, ``"api"``, ``"prometheus"``, ``"dashboards"``,
    ``"mlflow"``) once it answers.

    Raises
    ------
    StackError
        A port is taken, Prometheus is not installed, or a process does not come up (its
        ``log`` names the file with the details).
    """
    state = Path(state_dir).resolve()
    state.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(lake_dir(state), ignore_errors=True)  # moto starts empty: so does its mirror
    for port in (moto_port, api_port, *[p for p in (prometheus_port, mlflow_port, dashboards_port) if p]):
        if not port_free(port):
            raise StackError(f"port {HOST}:{port} is in use (is a stack already up? try `make down`)")
    stack = LocalStack(
        state_dir=str(state),
        moto_url=f"http://{HOST}:{moto_port}",
        api_url=f"http://{HOST}:{api_port}",
        models=list(models),
    )
    mlflow = None
    if mlflow_port is not None:
        # Started first: it takes the longest (about 18 s), and comes up while the rest does.
        from modelwatch_local.mlflow_server import MLFLOW_ENV, mlflow_server_command

        (state / "mlflow").mkdir(exist_ok=True)
        mlflow_log = stack.log_file("mlflow")
        mlflow = spawn(mlflow_server_command(state / "mlflow", mlflow_port), MLFLOW_ENV, mlflow_log)
        stack.pids["mlflow"] = mlflow.pid
    ready = on_ready or (lambda name: None)
    moto = spawn(moto_command(moto_port), dict(moto_env or {}), stack.log_file("moto"))
    stack.pids["moto"] = moto.pid
    try:
        wait_http(f"{stack.moto_url}/moto-api/", moto, "moto_server", timeout, stack.log_file("moto"))
        create_resources(stack)
        ready("moto")
        api_log = stack.log_file("api")
        api = spawn(
            api_command(api_port), {**stack.aws_env(), **stack.serving_env(), **(api_env or {})}, api_log
        )
        stack.pids["api"] = api.pid
        wait_http(f"{stack.api_url}/openapi.json", api, "prediction API", timeout, api_log)
        ready("api")
        if prometheus_port is not None:
            prometheus_log = stack.log_file("prometheus")
            try:
                prometheus = start_prometheus(
                    state, port=prometheus_port, timeout=timeout, log_file=prometheus_log
                )
            except PrometheusError as error:
                raise StackError(str(error).splitlines()[0], log=prometheus_log) from None
            stack.pids["prometheus"] = prometheus.pid
            stack.prometheus_url = prometheus.url
            ready("prometheus")
            if dashboards_port is not None:
                command = dashboards_command(prometheus.url, dashboards_port)
                site = spawn(command, {}, stack.log_file("dashboards"))
                stack.pids["dashboards"] = site.pid
                url = f"http://{HOST}:{dashboards_port}"
                wait_http(f"{url}/", site, "dashboard site", timeout, stack.log_file("dashboards"))
                stack.dashboards_url = url
                ready("dashboards")
        if mlflow is not None:
            url = f"http://{HOST}:{mlflow_port}"
            wait_http(f"{url}/health", mlflow, "MLflow server", max(timeout, 180.0), stack.log_file("mlflow"))
            stack.mlflow_url = url
            ready("mlflow")
    except BaseException:
        stop_stack(stack)
        raise
    stack.state_file.write_text(json.dumps(asdict(stack), indent=2))
    stack.write_cli_env()
    return stack


def start_ticker(stack: LocalStack) -> None:
    """Start ``python -m modelwatch_local tick`` in the background (the local one-minute schedule)."""
    ticker = spawn(
        [sys.executable, "-m", "modelwatch_local", "tick", "--state-dir", stack.state_dir],
        {**stack.aws_env(), **stack.monitoring_env()},
        stack.log_file("tick"),
    )
    stack.pids["tick"] = ticker.pid
    stack.state_file.write_text(json.dumps(asdict(stack), indent=2))


def stop_stack(stack: LocalStack, keep_lake: bool = False) -> None:
    """Stop every process of the stack, last started first (SIGTERM, then SIGKILL after 5 s).

    ``keep_lake`` (``make down``, the end of ``make demo``): first the lake gets a last sync
    from moto (best effort), so the captured records stay queryable with ``modelwatch sql
    --no-sync`` (``<state>/env.sh`` is kept for that). The load and chaos runs do not pay for it.
    """
    if keep_lake and _alive(stack.pids.get("moto")):
        try:
            stack.snapshot_lake()
        except Exception as error:  # a stack that failed to start has no bucket: nothing to keep
            print(f"the lake was not synced before stopping: {error}", file=sys.stderr)
    for pid in reversed(list(stack.pids.values())):
        terminate(pid)
    stack.state_file.unlink(missing_ok=True)


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def load_running_stack(state_dir: str | Path = ".local") -> LocalStack | None:
    path = Path(state_dir).resolve() / "stack.json"
    if not path.exists():
        return None
    return LocalStack(**json.loads(path.read_text()))
