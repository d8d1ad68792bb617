"""The SQL engine from the settings (Athena, DuckDB over a synced lake, or none); bad ones fail at load."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelwatch.jobs.context import build_job_context, build_query_engine
from modelwatch.settings import MonitoringSettings, SettingsError, load_settings
from modelwatch.stores.athena import AthenaEngine
from modelwatch.stores.objects import InMemoryStorage
from modelwatch.stores.sql import DuckDBEngine

BUCKETS = {"MODELWATCH_EVENTS_BUCKET": "events", "MODELWATCH_MODELS_BUCKET": "models"}


def _load(monkeypatch: pytest.MonkeyPatch, **variables: str) -> MonitoringSettings:
    for name, value in {**BUCKETS, **variables}.items():
        monkeypatch.setenv(name, value)
    return load_settings(MonitoringSettings)


def test_athena_is_wired_with_the_workgroup_and_database(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _load(
        monkeypatch,
        MODELWATCH_QUERY_ENGINE="athena",
        MODELWATCH_ATHENA_WORKGROUP="modelwatch",
        MODELWATCH_ATHENA_DATABASE="modelwatch_events",
    )

    context = build_job_context(settings)

    assert isinstance(context.sql, AthenaEngine)
    assert (context.sql.workgroup, context.sql.database) == ("modelwatch", "modelwatch_events")


def test_duckdb_is_wired_over_a_lake_of_the_events_bucket(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = _load(
        monkeypatch,
        MODELWATCH_QUERY_ENGINE="duckdb",
        MODELWATCH_LAKE_DIR=str(tmp_path),
        MODELWATCH_QUERY_BYTES_LIMIT="1000",
    )
    storage = InMemoryStorage()

    engine = build_query_engine(settings, storage)

    assert isinstance(engine, DuckDBEngine)
    assert engine.root == tmp_path and engine.bytes_limit == 1000
    assert engine.lake is not None
    assert (engine.lake.storage, engine.lake.bucket, engine.lake.root) == (storage, "events", tmp_path)


def test_a_function_that_asks_for_no_engine_gets_none(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _load(monkeypatch)  # drift and quality: no query settings at all

    assert build_query_engine(settings, InMemoryStorage()) is None


@pytest.mark.parametrize(
    ("variables", "missing"),
    [
        (
            {"MODELWATCH_QUERY_ENGINE": "athena"},
            ["MODELWATCH_ATHENA_WORKGROUP", "MODELWATCH_ATHENA_DATABASE"],
        ),
        ({"MODELWATCH_ATHENA_WORKGROUP": "modelwatch"}, ["MODELWATCH_ATHENA_DATABASE"]),
        ({"MODELWATCH_QUERY_ENGINE": "duckdb"}, ["MODELWATCH_LAKE_DIR"]),
    ],
)
def test_an_engine_without_its_settings_fails_at_load_naming_them(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], missing: list[str]
) -> None:
    with pytest.raises(SettingsError) as raised:
        _load(monkeypatch, **variables)

    message = str(raised.value)
    assert "\n" not in message
    for name in missing:
        assert f"{name}: required when MODELWATCH_QUERY_ENGINE is" in message
    assert message.count("required when") == len(missing)
