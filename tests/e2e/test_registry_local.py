"""The registry demo on the local stack: a real MLflow server, promotion followed by the running API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from modelwatch_local.demo import publish_demo_model
from modelwatch_local.mlflow_server import MlflowServer, start_mlflow_server, stop_mlflow_server
from modelwatch_local.registry_demo import run_registry_demo
from modelwatch_local.stack import LocalStack

from tests.e2e.conftest import free_port


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    server = start_mlflow_server(tmp_path_factory.mktemp("mlflow"), port=free_port())
    yield server
    stop_mlflow_server(server)
    log = server.log.read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]


def test_promotion_reaches_the_running_api(
    local_stack: LocalStack, mlflow_server: MlflowServer, capsys: pytest.CaptureFixture[str]
) -> None:
    publish_demo_model(local_stack, version="1", seed=0, n_estimators=5)  # what `make demo` serves first
    api_pid = local_stack.pids["api"]

    result = run_registry_demo(local_stack, mlflow_server.url, switch_timeout=30)

    out = capsys.readouterr().out
    assert result.ok, out
    assert result.versions == ["1", "2"] and result.promoted == "2"
    assert result.comparison.winner == "2" and result.comparison.gate is not None
    assert result.served_after == "2" and local_stack.pids["api"] == api_pid
    assert "best" in out and "serving switched to version 2" in out
    print(
        f"MLflow up in {mlflow_server.started_in_seconds:.1f} s; switch after {result.switch_seconds:.1f} s"
    )
