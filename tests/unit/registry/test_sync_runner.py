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


def test_refused_credentials_are_read_again_once_then_the_run_is_retried(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a runner whose first credentials MLflow refuses (the secret was reset since they were read)
    from modelwatch.registry import CredentialsRefused
    from modelwatch.registry import sync as sync_module

    settings = RegistrySyncSettings(
        mlflow_tracking_uri="http://mlflow.internal",
        models_bucket="models",
        mlflow_credentials_secret="mlflow-sync",
    )
    secrets = CountingSecrets()
    runner = SyncRunner(settings, InMemoryStorage(), secrets_client=secrets)
    runner._backend()  # the first run read the credentials
    attempts: list[str] = []

    def reconcile(backend: Any, *args: Any, **kwargs: Any) -> SyncReport:
        attempts.append(backend._headers["Authorization"])
        if len(attempts) == 1:
            raise CredentialsRefused("MLflow at http://mlflow.internal refused the credentials (HTTP 401)")
        now = datetime(2026, 11, 26, tzinfo=UTC)
        return SyncReport(tracking_uri="http://mlflow.internal", started_at=now, finished_at=now, actions=[])

    monkeypatch.setattr(sync_module, "sync_models_bucket", reconcile)

    # When it runs, then the secret was read again and the run retried once
    report = runner.run()

    assert report.actions == [] and len(attempts) == 2 and secrets.calls == 2
    # And a second refusal right away is not retried in a loop
    attempts.clear()

    def always_refused(backend: Any, *args: Any, **kwargs: Any) -> SyncReport:
        attempts.append("x")
        raise CredentialsRefused("refused")

    monkeypatch.setattr(sync_module, "sync_models_bucket", always_refused)
    with pytest.raises(CredentialsRefused):
        runner.run()
    assert len(attempts) == 2
