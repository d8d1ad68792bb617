"""The registry-sync function's setup: credentials read once per environment, failures named."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from modelwatch.registry.sync import SyncAction, SyncFailed, SyncReport, SyncRunner
from modelwatch.settings import RegistrySyncSettings
from modelwatch.stores.objects import InMemoryStorage


class CountingSecrets:
    def __init__(self) -> None:
        self.calls = 0

    def get_secret_value(self, SecretId: str) -> dict[str, Any]:
        self.calls += 1
        return {"SecretString": json.dumps({"username": "admin", "password": f"pw-{SecretId}"})}


def test_credentials_are_read_from_secrets_manager_once_per_environment() -> None:
    settings = RegistrySyncSettings(
        mlflow_tracking_uri="http://mlflow.internal",
        models_bucket="models",
        mlflow_credentials_secret="mlflow-admin",
    )
    secrets = CountingSecrets()
    runner = SyncRunner(settings, InMemoryStorage(), secrets_client=secrets)

    first = runner._backend()
    second = runner._backend()

    assert secrets.calls == 1
    assert first is not second  # a client per run, the credentials kept


def test_a_report_with_failures_raises_naming_each_model_and_alias() -> None:
    now = datetime(2026, 11, 26, tzinfo=UTC)
    report = SyncReport(
        tracking_uri="http://mlflow",
        started_at=now,
        finished_at=now,
        actions=[
            SyncAction(model="fraud", alias="production", action="failed", error="artifact missing"),
            SyncAction(model="churn", alias="staging", action="published", version="3"),
        ],
    )

    with pytest.raises(SyncFailed, match="fraud/production: artifact missing"):
        report.raise_for_failures()
    assert [a.model for a in report.published] == ["churn"]
