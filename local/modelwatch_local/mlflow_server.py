"""A real MLflow tracking server on 127.0.0.1: SQLite backend, local artifact directory.

The local stack's stand-in for MLflow on ECS Fargate. It serves the REST API,
the UI and artifact proxying (``mlflow-artifacts:/``), like the deployed one,
without authentication (it listens on the loopback interface only). Starting it
takes about 18 s on a small machine (MLflow imports and database migrations).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

from modelwatch_local.processes import HOST, StackError, port_free, spawn, terminate, wait_http

MLFLOW_ENV = {"MLFLOW_DISABLE_TELEMETRY": "true", "PYTHONUNBUFFERED": "1"}


@dataclass
class MlflowServer:
    """A running local MLflow server."""

    url: str
    pid: int
    state_dir: str
    started_in_seconds: float

    @property
    def log(self) -> Path:
        return Path(self.state_dir) / "mlflow.log"


def mlflow_server_command(state_dir: Path, port: int, host: str = HOST, workers: int = 1) -> list[str]:
    """The ``mlflow server`` command line of the local server (SQLite + local artifacts)."""
    return [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", f"sqlite:///{state_dir / 'mlflow.db'}",
        "--artifacts-destination", str(state_dir / "artifacts"),
        "--host", host,
        "--port", str(port),
        "--workers", str(workers),
    ]  # fmt: skip


def start_mlflow_server(
    state_dir: str | Path = ".local/mlflow", port: int = 5000, timeout: float = 120.0
) -> MlflowServer:
    """Start ``mlflow server`` on 127.0.0.1:``port`` and wait until ``/health`` answers.

    Parameters
    ----------
    state_dir:
        Holds ``mlflow.db`` (the SQLite backend), ``artifacts/`` and ``mlflow.log``; kept
        between runs, so registered models survive a restart.
    port:
        TCP port on 127.0.0.1.
    timeout:
        Seconds to wait for ``/health``.

    Returns
    -------
    MlflowServer
        Its URL (the tracking URI), process id and start-up time.

    Raises
    ------
    StackError
        The port is taken, or the server exits or does not answer in time (the message
        ends with the log's tail).
    """
    state = Path(state_dir).resolve()
    state.mkdir(parents=True, exist_ok=True)
    if not port_free(port):
        raise StackError(f"port {HOST}:{port} is in use (is an MLflow server already up?)")
    started = time.monotonic()
    process = spawn(mlflow_server_command(state, port), MLFLOW_ENV, state / "mlflow.log")
    url = f"http://{HOST}:{port}"
    try:
        wait_http(f"{url}/health", process, "MLflow server", timeout, state / "mlflow.log")
    except BaseException:
        terminate(process.pid)
        raise
    return MlflowServer(
        url=url, pid=process.pid, state_dir=str(state), started_in_seconds=time.monotonic() - started
    )


def stop_mlflow_server(server: MlflowServer) -> None:
    """Stop the server and its workers (SIGTERM to its process group, SIGKILL after 5 s)."""
    terminate(server.pid)
