"""The MLflow task's memory, measured on the real server the image runs, against the Fargate size chosen.

The server is started by the image's entrypoint (``mlflow server --app-name basic-auth
--workers 2`` against a real PostgreSQL over TLS; fixtures and environment of
``test_mlflow_entrypoint``), twice: as shipped (the entrypoint's default turns MLflow's
server-side job runner off) and with ``MLFLOW_SERVER_ENABLE_JOB_EXECUTION=true`` (MLflow's own
default). Each is
exercised as the registry is used: models registered with their artifacts, versions listed,
promotions, the registry sync's run (it downloads every published version's files through
``model-versions/get-artifact``) and repeated searches and version reads. The memory of the whole
process tree the entrypoint started (the server, uvicorn and its workers, and the job runner with
its consumers when on) is sampled every 0.2 s throughout: its peak resident set (RSS, summed, so
shared pages count once per process: an upper bound) and proportional set (PSS, shared pages
split: what the task's cgroup charges for them, file pages included) and unique set (USS, the
processes' own pages: the floor). The shipped peak PSS must leave 30 % headroom under the default
task memory (``DEFAULT_MLFLOW_TASK_MEMORY_MB``), and even the RSS bound must fit in it.
docs/registry.md records the figures this test prints (``-s``) and writes to
``.local/mlflow_memory.json``:

    PYTHONPATH=$PWD:$PWD/layers/modelwatch:$PWD/local .venv/bin/pytest -q -s \
        tests/integration/test_mlflow_memory.py
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import psutil
import pytest
from modelwatch_local.fraud import FRAUD_SCHEMA

from infra import constants
from modelwatch.registry import ModelRegistry
from modelwatch.registry.rest import MlflowRestClient
from modelwatch.registry.sync import SyncRunner
from modelwatch.settings import RegistrySyncSettings
from modelwatch.stores.objects import S3Storage
from tests.integration.test_mlflow_entrypoint import (  # noqa: F401 (postgres: a fixture)
    ADMIN,
    BUCKET,
    ENTRYPOINT,
    SEARCH,
    START_TIMEOUT_S,
    SYNC,
    Postgres,
    Server,
    admin_uri,
    call,
    free_port,
    postgres,
    pytestmark,
    task_environment,
)

MIB = 2**20
HEADROOM = 0.7  # the shipped peak PSS may use at most this share of the task's memory
MODELS = 3
VERSIONS_PER_MODEL = 2
SEARCHES = 200
REPORT = Path(".local") / "mlflow_memory.json"
MEASURED: dict[str, dict[str, Any]] = {}


def _memory(root: psutil.Process) -> tuple[int, int, int, int]:
    """(processes, summed RSS, summed PSS, summed USS) of ``root`` and its descendants, in bytes."""
    rss = pss = uss = count = 0
    for process in [root, *root.children(recursive=True)]:
        try:
            info = process.memory_full_info()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        count += 1
        rss += info.rss
        pss += getattr(info, "pss", info.rss)
        uss += info.uss
    return count, rss, pss, uss


class _Sampler:
    """Peak memory of a process tree, sampled in a thread."""

    def __init__(self, root: psutil.Process) -> None:
        self._root = root
        self._stop = threading.Event()
        self.peak_rss = self.peak_pss = self.peak_uss = self.processes = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            count, rss, pss, uss = _memory(self._root)
            self.processes = max(self.processes, count)
            self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)
            self.peak_uss = max(self.peak_uss, uss)
            self._stop.wait(0.2)

    def __enter__(self) -> _Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _start(
    database: Postgres, root: Path, job_execution: str | None
) -> Iterator[tuple[Server, psutil.Process]]:
    """The entrypoint run as the task runs it (``test_mlflow_entrypoint.server``), its process kept."""
    (root / "home").mkdir()
    port = free_port()
    environment = task_environment(database, root / "home", root / "artifacts", port)
    if job_execution is not None:
        environment["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = job_execution
    log = root / "mlflow.log"
    started = time.monotonic()
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(ENTRYPOINT)],
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(f"the entrypoint exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            if time.monotonic() - started > START_TIMEOUT_S:
                pytest.fail(f"/health did not answer in {START_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.25)
        time.sleep(5)  # the job runner, when on, starts its consumers after the server answers
        server = Server(
            url=url, environment=environment, log=log, started_in_seconds=time.monotonic() - started
        )
        yield server, psutil.Process(process.pid)  # the entrypoint exec'd mlflow: the tree's root
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def _exercise(server: Server, trained_model_file: Path, rows: list[dict[str, Any]]) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    registry = ModelRegistry(admin_uri(server), models_bucket=BUCKET, storage=S3Storage(s3))
    columns = {column: [row[column] for row in rows] for column in rows[0]}
    secret = boto3.client("secretsmanager").create_secret(
        Name=f"mlflow-sync-{time.monotonic_ns()}",
        SecretString=json.dumps({"username": SYNC[0], "password": SYNC[1]}),
    )["ARN"]
    names = [f"memory_{i}_{time.monotonic_ns()}" for i in range(MODELS)]
    admin = MlflowRestClient(admin_uri(server))
    for name in names:
        versions = [
            registry.register_model(
                model_path=str(trained_model_file),
                name=name,
                input_schema=FRAUD_SCHEMA,
                training_data=columns,
                prediction_type="probability",
            ).rsplit("/", 1)[-1]
            for _ in range(VERSIONS_PER_MODEL)
        ]
        registry.promote(name, versions[0], "staging")
        registry.promote(name, versions[0], "production")
        admin.set_alias(name, "production", versions[1])  # moved "in the UI": the sync publishes it
        assert len(registry.list_versions(name)) == VERSIONS_PER_MODEL
    settings = RegistrySyncSettings(
        mlflow_tracking_uri=server.url, models_bucket=BUCKET, mlflow_credentials_secret=secret
    )
    report = SyncRunner(settings, S3Storage(s3)).run(names)
    assert report.failures == []
    assert sum(a.action == "published" for a in report.actions) == MODELS
    for i in range(SEARCHES):
        assert call(server, "GET", SEARCH, auth=ADMIN if i % 2 else SYNC)[0] == 200
        admin.get_version(names[i % MODELS], "1")


def _job_runner(root: psutil.Process) -> bool:
    """Whether MLflow's job runner runs in the tree."""
    return any("mlflow.server.jobs" in " ".join(p.cmdline()) for p in root.children(recursive=True))


@pytest.fixture(scope="module", params=[None, "true"], ids=["shipped", "job-execution-on"])
def measured(
    request: pytest.FixtureRequest,
    postgres: Postgres,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
    trained_model_file: Path,
    rows: list[dict[str, Any]],
) -> Iterator[dict[str, Any]]:
    job_execution: str | None = request.param  # None: the entrypoint's own default
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }.items():
            patch.setenv(name, value)
        patch.delenv("AWS_ENDPOINT_URL", raising=False)
        from moto import mock_aws

        starting = _start(postgres, tmp_path_factory.mktemp("mlflow-memory"), job_execution)
        server, root = next(starting)
        try:
            _, idle_rss, idle_pss, _ = _memory(root)
            started = time.monotonic()
            with mock_aws(), _Sampler(root) as sampler:
                _exercise(server, trained_model_file, rows)
            _, after_rss, after_pss, _ = _memory(root)
            job_runner = _job_runner(root)
        finally:
            starting.close()
    figures = {
        "job_execution": job_execution or "entrypoint default",
        "job_runner": job_runner,
        "processes": sampler.processes,
        "idle_rss_mib": round(idle_rss / MIB, 1),
        "idle_pss_mib": round(idle_pss / MIB, 1),
        "peak_rss_mib": round(sampler.peak_rss / MIB, 1),
        "peak_pss_mib": round(sampler.peak_pss / MIB, 1),
        "peak_uss_mib": round(sampler.peak_uss / MIB, 1),
        "after_rss_mib": round(after_rss / MIB, 1),
        "after_pss_mib": round(after_pss / MIB, 1),
        "exercise_seconds": round(time.monotonic() - started, 1),
    }
    MEASURED["shipped" if job_execution is None else "job_execution_on"] = figures
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(
        json.dumps(
            {
                "command": "pytest -q -s tests/integration/test_mlflow_memory.py",
                "exercise": f"{MODELS} models x {VERSIONS_PER_MODEL} versions registered, promoted, "
                f"synced; {SEARCHES} searches and version reads",
                "task_memory_mib": constants.DEFAULT_MLFLOW_TASK_MEMORY_MB,
                "task_cpu_units": constants.DEFAULT_MLFLOW_TASK_CPU,
                **MEASURED,
            },
            indent=2,
        )
        + "\n"
    )
    print("MLflow task memory:", json.dumps(figures))
    yield figures


def test_the_measured_tree_fits_the_default_task_memory_with_headroom_as_shipped(
    measured: dict[str, Any],
) -> None:
    if measured["job_execution"] == "true":
        assert measured["job_runner"]
        # MLflow's default: its job runner and consumers beside the workers. Not shipped; measured
        # so docs/registry.md can say what turning it off saves, and to catch it growing smaller.
        assert "shipped" in MEASURED, "measured after the shipped configuration (module order)"
        assert measured["processes"] > 5
        assert measured["peak_rss_mib"] > MEASURED["shipped"]["peak_rss_mib"]
        return
    assert not measured["job_runner"]  # the entrypoint turns it off
    assert measured["processes"] >= 5  # mlflow server, uvicorn, its two workers, its resource tracker
    assert measured["peak_pss_mib"] <= HEADROOM * constants.DEFAULT_MLFLOW_TASK_MEMORY_MB
    assert measured["peak_rss_mib"] < constants.DEFAULT_MLFLOW_TASK_MEMORY_MB  # even the upper bound
