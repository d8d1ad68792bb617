"""The local stack (moto_server + the API under uvicorn) on 127.0.0.1, started once for these tests."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from modelwatch_local.prometheus_server import LocalPrometheus, start_prometheus, stop_prometheus
from modelwatch_local.stack import LocalStack, start_stack, stop_stack

from tests.e2e.dashboard_samples import write_representative_samples

MODEL = "fraud_detection"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def local_stack(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch_session: pytest.MonkeyPatch
) -> Iterator[LocalStack]:
    # Manifests are re-read every second here, so promotion tests do not wait long.
    monkeypatch_session.setenv("MODELWATCH_MANIFEST_TTL_SECONDS", "1")
    state = tmp_path_factory.mktemp("stack")
    stack = start_stack(
        [MODEL],
        state_dir=state,
        moto_port=free_port(),
        api_port=free_port(),
        prometheus_port=free_port(),
        mlflow_port=None,  # the registry tests start their own MLflow server
        dashboards_port=free_port(),
    )
    yield stack
    stop_stack(stack)
    for log in ("api", "moto", "prometheus", "dashboards"):
        path = stack.log_file(log)
        if path.exists() and "Traceback" in path.read_text(errors="replace"):
            pytest.fail(f"{log} of the local stack holds a traceback:\n{path.read_text()[-3000:]}")


@pytest.fixture(scope="session")
def monkeypatch_session() -> Iterator[pytest.MonkeyPatch]:
    patch = pytest.MonkeyPatch()
    yield patch
    patch.undo()


@pytest.fixture(scope="session")
def prometheus_with_data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalPrometheus, float]]:
    running = start_prometheus(tmp_path_factory.mktemp("prometheus"), port=free_port())
    now = time.time()
    try:
        write_representative_samples(running, now)
        yield running, now
    finally:
        stop_prometheus(running)
