"""The MLflow image's entrypoint, run as ECS runs it, against a real PostgreSQL server that requires TLS.

No Docker engine: ``infra/docker/mlflow/entrypoint.sh`` runs directly, with the pinned MLflow
of requirements.txt (the Dockerfile's pins) and the environment the task definition injects.
PostgreSQL is a cluster of its own in a temporary directory (``initdb``/``pg_ctl``; as the
``postgres`` user of Debian's package when the tests run as root, since PostgreSQL refuses
root), accepting only TLS connections with a self-signed certificate: the entrypoint's
``sslmode=require`` is exercised, not assumed. One server serves the module (~20 s to start).

The registry sync's user is checked against what the sync does: the sync itself runs with it
(``SyncRunner``, its credentials from a Secrets Manager secret in moto) and publishes a manifest.
"""

from __future__ import annotations

import base64
import glob
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from modelwatch_local.fraud import FRAUD_SCHEMA

from modelwatch.registry import ModelRegistry, RegistryError, Stage
from modelwatch.registry.rest import MlflowRestClient
from modelwatch.registry.sync import SyncRunner
from modelwatch.settings import RegistrySyncSettings
from modelwatch.stores.manifests import ManifestStore
from modelwatch.stores.objects import S3Storage
from tests.integration.certificates import OPENSSL, self_signed_certificate

REPO = Path(__file__).resolve().parents[2]
ENTRYPOINT = REPO / "infra" / "docker" / "mlflow" / "entrypoint.sh"
SYNC_USER_SCRIPT = ENTRYPOINT.parent / "sync_user.py"
REQUIRED = (
    "DB_HOST",
    "DB_PORT",
    "DB_NAME",
    "DB_USERNAME",
    "DB_PASSWORD",
    "ARTIFACTS_DESTINATION",
    "MLFLOW_AUTH_ADMIN_PASSWORD",
    "MLFLOW_FLASK_SERVER_SECRET_KEY",
    "MLFLOW_SYNC_USERNAME",
    "MLFLOW_SYNC_PASSWORD",
)
ADMIN = ("admin", "admin-password-0123456789")
SYNC = ("modelwatch-sync", "sync-password-0123456789")
BUCKET = "models-bucket"
START_TIMEOUT_S = 120


def _postgres_bindir() -> Path | None:
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(found[-1]).parent if found else None


def _run_as() -> list[str] | None:
    """The command prefix that runs PostgreSQL as a non-root user; None when none is available."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return None
    runuser = shutil.which("runuser")
    return [runuser, "-u", "postgres", "--"] if runuser else None


BINDIR = _postgres_bindir()
RUN_AS = _run_as()
pytestmark = [
    pytest.mark.skipif(
        BINDIR is None,
        reason="PostgreSQL is not installed (apt-get install postgresql: initdb and pg_ctl; .ci/run does)",
    ),
    pytest.mark.skipif(
        OPENSSL is None, reason="openssl is not installed (it makes PostgreSQL's certificate)"
    ),
    pytest.mark.skipif(
        RUN_AS is None,
        reason="running as root without a 'postgres' user and runuser: PostgreSQL refuses to run as root",
    ),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Postgres:
    port: int
    user: str
    password: str
    database: str


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    assert BINDIR is not None and RUN_AS is not None
    # Not pytest's tmp_path: its parents are private to the test's user, and PostgreSQL runs as another.
    root = Path(tempfile.mkdtemp(prefix="modelwatch-pg-"))
    data = root / "data"
    password_file = root / "password"
    password = uuid.uuid4().hex
    password_file.write_text(password)
    if RUN_AS:
        shutil.chown(root, "postgres", "postgres")
        shutil.chown(password_file, "postgres", "postgres")
    password_file.chmod(0o600)
    port = free_port()

    def run(*command: str) -> None:
        subprocess.run([*RUN_AS, *command], check=True, capture_output=True, timeout=120)

    try:
        run(
            str(BINDIR / "initdb"),
            "--pgdata",
            str(data),
            "--username",
            "mlflow",
            "--pwfile",
            str(password_file),
            "--auth",
            "scram-sha-256",
            "--encoding",
            "UTF8",
        )
        certificate, key = self_signed_certificate(data)
        (data / "pg_hba.conf").write_text("hostssl all all 127.0.0.1/32 scram-sha-256\n")  # TLS or nothing
        if RUN_AS:
            for path in (certificate, key, data / "pg_hba.conf"):
                shutil.chown(path, "postgres", "postgres")
        options = f"-c listen_addresses=127.0.0.1 -p {port} -c ssl=on -c unix_socket_directories={root}"
        run(
            str(BINDIR / "pg_ctl"),
            "--pgdata",
            str(data),
            "--log",
            str(root / "log"),
            "-w",
            "-o",
            options,
            "start",
        )
        import psycopg2

        connection = psycopg2.connect(
            host="127.0.0.1",
            port=port,
            user="mlflow",
            password=password,
            dbname="postgres",
            sslmode="require",
        )
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("CREATE DATABASE mlflow")
        connection.close()
        yield Postgres(port=port, user="mlflow", password=password, database="mlflow")
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(
                [*RUN_AS, str(BINDIR / "pg_ctl"), "--pgdata", str(data), "-m", "fast", "stop"],
                capture_output=True,
                timeout=60,
                check=False,
            )
        shutil.rmtree(root, ignore_errors=True)


def task_environment(postgres: Postgres, home: Path, artifacts: Path, port: int) -> dict[str, str]:
    """What the ECS task definition gives the container, plus where to listen here."""
    venv_bin = Path(sys.executable).parent
    return {
        "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "PYTHONUNBUFFERED": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DB_HOST": "127.0.0.1",
        "DB_PORT": str(postgres.port),
        "DB_NAME": postgres.database,
        "DB_USERNAME": postgres.user,
        "DB_PASSWORD": postgres.password,
        "ARTIFACTS_DESTINATION": str(artifacts),  # s3://<artifact bucket>/artifacts in AWS
        "MLFLOW_AUTH_ADMIN_USERNAME": ADMIN[0],
        "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN[1],
        "MLFLOW_FLASK_SERVER_SECRET_KEY": uuid.uuid4().hex,
        "MLFLOW_SYNC_USERNAME": SYNC[0],
        "MLFLOW_SYNC_PASSWORD": SYNC[1],
        "ALLOWED_HOSTS": "*",
        "LISTEN_HOST": "127.0.0.1",
        "LISTEN_PORT": str(port),
    }


@dataclass
class Server:
    url: str
    environment: dict[str, str]
    log: Path
    started_in_seconds: float


@pytest.fixture(scope="module")
def server(postgres: Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("mlflow-task")
    (root / "home").mkdir()
    port = free_port()
    environment = task_environment(postgres, root / "home", root / "artifacts", port)
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
        elapsed = time.monotonic() - started
        print(f"MLflow entrypoint: /health answered {elapsed:.1f} s after start")
        yield Server(url=url, environment=environment, log=log, started_in_seconds=elapsed)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)  # the entrypoint exec'd mlflow, which leads the group
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def call(
    server: Server, method: str, path: str, body: Any = None, auth: tuple[str, str] | None = None
) -> tuple[int, Any]:
    """``(status, JSON body or None)`` of one request to the server."""
    headers = {"Content-Type": "application/json"}
    if auth is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(":".join(auth).encode()).decode()
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(server.url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        raw, status = error.read(), error.code
        error.close()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, None


SEARCH = "/api/2.0/mlflow/registered-models/search"


# -- the entrypoint --------------------------------------------------------------------------------


def test_health_answers_without_credentials(server: Server) -> None:
    with urllib.request.urlopen(f"{server.url}/health", timeout=5) as response:
        assert (response.status, response.read()) == (200, b"OK")
    assert server.started_in_seconds < START_TIMEOUT_S


def test_basic_auth_is_enforced(server: Server) -> None:
    assert call(server, "GET", SEARCH)[0] == 401
    assert call(server, "GET", SEARCH, auth=(ADMIN[0], "wrong-password-0123"))[0] == 401
    assert call(server, "GET", SEARCH, auth=ADMIN)[0] == 200
    assert call(server, "GET", SEARCH, auth=SYNC)[0] == 200


def test_the_backend_store_is_postgresql_over_tls(server: Server) -> None:
    config = (Path(server.environment["HOME"]) / "basic_auth.ini").read_text()

    assert "database_uri = postgresql+psycopg2://" in config and "sslmode=require" in config
    assert "auth_cache_ttl_seconds = 60" in config
    assert oct((Path(server.environment["HOME"]) / "basic_auth.ini").stat().st_mode & 0o777) == "0o600"
    # pg_hba accepts TLS connections only, so the server running at all shows the entrypoint uses TLS.


@pytest.mark.parametrize("missing", REQUIRED)
def test_a_missing_variable_stops_the_container_naming_it(missing: str, tmp_path: Path) -> None:
    environment = task_environment(Postgres(5432, "u", "p", "d"), tmp_path, tmp_path / "artifacts", 1)
    del environment[missing]

    result = subprocess.run([str(ENTRYPOINT)], env=environment, capture_output=True, text=True, timeout=30)

    assert result.returncode == 64
    assert f"required variables are not set: {missing} " in result.stderr
    assert not (tmp_path / "basic_auth.ini").exists()


def test_an_empty_variable_counts_as_missing(tmp_path: Path) -> None:
    environment = task_environment(Postgres(5432, "u", "p", "d"), tmp_path, tmp_path / "artifacts", 1)
    environment["MLFLOW_FLASK_SERVER_SECRET_KEY"] = ""

    result = subprocess.run([str(ENTRYPOINT)], env=environment, capture_output=True, text=True, timeout=30)

    assert result.returncode == 64 and "MLFLOW_FLASK_SERVER_SECRET_KEY" in result.stderr


# -- the registry sync's user ----------------------------------------------------------------------


@pytest.fixture
def name() -> str:
    return f"model_{uuid.uuid4().hex[:8]}"


def admin_uri(server: Server) -> str:
    return server.url.replace("http://", f"http://{ADMIN[0]}:{ADMIN[1]}@")


def test_the_sync_publishes_with_its_own_least_privileged_user(
    server: Server, aws: None, name: str, trained_model_file: Path, rows: list[dict[str, Any]]
) -> None:
    # Given a model registered and promoted by a person (admin here), then moved in "the UI".
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    registry = ModelRegistry(admin_uri(server), models_bucket=BUCKET, storage=S3Storage(s3))
    columns = {column: [row[column] for row in rows] for column in rows[0]}
    v1, v2 = (
        registry.register_model(
            model_path=str(trained_model_file),
            name=name,
            input_schema=FRAUD_SCHEMA,
            training_data=columns,
            prediction_type="probability",
        ).rsplit("/", 1)[-1]
        for _ in range(2)
    )
    registry.promote(name, v1, "staging")
    registry.promote(name, v1, "production")
    MlflowRestClient(admin_uri(server)).set_alias(name, "production", v2)
    secret = boto3.client("secretsmanager").create_secret(
        Name="mlflow-sync", SecretString=json.dumps({"username": SYNC[0], "password": SYNC[1]})
    )["ARN"]
    settings = RegistrySyncSettings(
        mlflow_tracking_uri=server.url, models_bucket=BUCKET, mlflow_credentials_secret=secret
    )

    # When the sync runs as the deployed function does, with the sync user's secret.
    report = SyncRunner(settings, S3Storage(s3)).run([name])

    # Then it read the version and its artifacts, published, and recorded the stages (tags).
    production = next(a for a in report.actions if a.alias == "production")
    assert (production.action, production.version, production.previous_version) == ("published", v2, v1)
    assert report.failures == []
    read = ManifestStore(S3Storage(s3), BUCKET).read(name, "production")
    assert read is not None and read.manifest.version == v2
    assert registry.get_version(name, v2).stage is Stage.PRODUCTION
    assert registry.get_version(name, v2).history[-1].actor == "registry-sync"
    assert registry.get_version(name, v1).stage is Stage.ARCHIVED
    assert registry.history(name)[-1].actor == "registry-sync"  # the model's tag


def test_the_sync_user_may_not_delete_administer_or_read_runs(server: Server, name: str) -> None:
    admin = MlflowRestClient(admin_uri(server), max_attempts=1)
    experiment = admin.get_or_create_experiment("training")
    run = admin.create_run(experiment, "r", {})
    admin.create_or_tag_model(name, {"modelwatch.managed": "true"})
    admin.create_version(name, f"{run.artifact_uri}/model", run.run_id, {})
    admin.set_alias(name, "production", "1")
    sync = MlflowRestClient(server.url, username=SYNC[0], password=SYNC[1], max_attempts=1)

    refused = {
        "delete model": ("DELETE", "/api/2.0/mlflow/registered-models/delete", {"name": name}),
        "delete version": ("DELETE", "/api/2.0/mlflow/model-versions/delete", {"name": name, "version": "1"}),
        "delete alias": (
            "DELETE",
            "/api/2.0/mlflow/registered-models/alias",
            {"name": name, "alias": "production"},
        ),
        "read a run": ("GET", f"/api/2.0/mlflow/runs/get?run_id={run.run_id}", None),
        "create an experiment": ("POST", "/api/2.0/mlflow/experiments/create", {"name": f"x-{name}"}),
        "create a user": (
            "POST",
            "/api/2.0/mlflow/users/create",
            {"username": "mallory", "password": "p" * 16},
        ),
        "change the admin's password": (
            "PATCH",
            "/api/2.0/mlflow/users/update-password",
            {"username": ADMIN[0], "password": "p" * 16},
        ),
        "grant itself MANAGE": (
            "POST",
            "/api/3.0/mlflow/users/permissions/grant",
            {
                "username": SYNC[0],
                "resource_type": "registered_model",
                "resource_id": "*",
                "permission": "MANAGE",
            },
        ),
    }
    statuses = {
        what: call(server, method, path, body, auth=SYNC)[0] for what, (method, path, body) in refused.items()
    }

    assert statuses == dict.fromkeys(refused, 403)
    with pytest.raises(RegistryError, match="refused the credentials"):
        sync.get_run_metrics(run.run_id)
    assert admin.get_model(name).aliases == {"production": "1"}


def test_what_mlflow_cannot_narrow_edit_on_a_model_also_moves_its_aliases(server: Server, name: str) -> None:
    # docs/registry.md says so: EDIT on registered models (needed for their tags) includes set-alias.
    # If a later MLflow separates them, this test fails and the sync's grants can shrink.
    admin = MlflowRestClient(admin_uri(server), max_attempts=1)
    experiment = admin.get_or_create_experiment("training")
    run = admin.create_run(experiment, "r", {})
    admin.create_or_tag_model(name, {})
    admin.create_version(name, f"{run.artifact_uri}/model", run.run_id, {})

    sync = MlflowRestClient(server.url, username=SYNC[0], password=SYNC[1], max_attempts=1)

    sync.set_alias(name, "canary", "1")
    sync.create_or_tag_model(f"{name}_new", {})  # creation is not gated without MLflow workspaces

    assert admin.get_model(name).aliases == {"canary": "1"}
    assert admin.get_model(f"{name}_new").name == f"{name}_new"


def test_the_entrypoint_created_the_sync_user_before_the_server_started(server: Server) -> None:
    log = server.log.read_text()

    created = log.index(f"sync user '{SYNC[0]}' created; grants: EDIT registered_model")
    assert created < log.index("Application startup complete")


def test_a_restart_brings_the_sync_user_back_in_line_with_its_secret(server: Server) -> None:
    # A user whose password and admin flag drifted from its secret (made here through the API,
    # never logged in with, so no worker has cached a credential check of it) ...
    username, old, new = f"rotation-{uuid.uuid4().hex[:6]}", "old-password-0123", "new-password-0123"
    created = call(
        server, "POST", "/api/2.0/mlflow/users/create", {"username": username, "password": old}, ADMIN
    )
    made_admin = call(
        server, "PATCH", "/api/2.0/mlflow/users/update-admin", {"username": username, "is_admin": True}, ADMIN
    )
    assert (created[0], made_admin[0]) == (200, 200)

    # ... is brought in line by the script, as at a task's start, against the server's database.
    result = subprocess.run(
        [sys.executable, str(SYNC_USER_SCRIPT)],
        env={
            **server.environment,
            "MLFLOW_AUTH_CONFIG_PATH": str(Path(server.environment["HOME"]) / "basic_auth.ini"),
            "MLFLOW_SYNC_USERNAME": username,
            "MLFLOW_SYNC_PASSWORD": new,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert f"sync user '{username}' password updated, admin flag cleared" in result.stderr
    assert call(server, "GET", SEARCH, auth=(username, old))[0] == 401
    assert call(server, "GET", SEARCH, auth=(username, new))[0] == 200
    mallory = {"username": f"m-{username}", "password": "p" * 16}
    assert call(server, "POST", "/api/2.0/mlflow/users/create", mallory, auth=(username, new))[0] == 403
