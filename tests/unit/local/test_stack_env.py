"""The local stack: its jobs and its command line run SQL on DuckDB over a lake under the state dir."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from modelwatch_local.paths import cli_env_file, lake_dir
from modelwatch_local.stack import EVENTS_BUCKET, LocalStack

from modelwatch.jobs.context import build_query_engine
from modelwatch.settings import MonitoringSettings, load_settings
from modelwatch.stores.objects import InMemoryStorage
from modelwatch.stores.sql import DuckDBEngine


def _stack(state_dir: Path) -> LocalStack:
    return LocalStack(
        state_dir=str(state_dir), moto_url="http://127.0.0.1:5100", api_url="http://127.0.0.1:8000", models=[]
    )


def test_the_monitoring_functions_get_duckdb_over_the_stacks_lake(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in _stack(tmp_path).monitoring_env().items():
        monkeypatch.setenv(name, value)

    engine = build_query_engine(load_settings(MonitoringSettings), InMemoryStorage())

    assert isinstance(engine, DuckDBEngine)
    assert engine.root == lake_dir(tmp_path) == tmp_path.resolve() / "lake"
    assert engine.lake is not None and engine.lake.bucket == EVENTS_BUCKET


def test_the_cli_env_file_points_modelwatch_sql_at_moto_and_the_lake(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = _stack(tmp_path)

    path = stack.write_cli_env()

    assert path == cli_env_file(tmp_path)
    exported = {}
    for line in path.read_text().splitlines():
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            exported[name] = shlex.split(value)[0]
    assert exported["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5100"
    assert exported["MODELWATCH_QUERY_ENGINE"] == "duckdb"
    assert exported["MODELWATCH_LAKE_DIR"] == str(lake_dir(tmp_path))
    for name, value in exported.items():
        monkeypatch.setenv(name, value)
    assert isinstance(build_query_engine(load_settings(MonitoringSettings), InMemoryStorage()), DuckDBEngine)
