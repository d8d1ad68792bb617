"""One loader for every function's settings: each bad variable named, typed JSON documents checked inside."""

from __future__ import annotations

import pytest

from modelwatch.contracts.monitoring_config import DriftConfig, PerformanceThresholds, QualityThresholds
from modelwatch.settings import (
    ExportSettings,
    MonitoringSettings,
    NotifySettings,
    RegistrySyncSettings,
    RemoteWriteSettings,
    ServingSettings,
    SettingsError,
    load_settings,
)


@pytest.mark.parametrize(
    ("settings_class", "required"),
    [
        (
            ServingSettings,
            ["MODELWATCH_MODELS_BUCKET", "MODELWATCH_EVENTS_STREAM", "MODELWATCH_REJECTED_STREAM"],
        ),
        (MonitoringSettings, ["MODELWATCH_EVENTS_BUCKET", "MODELWATCH_MODELS_BUCKET"]),
        (ExportSettings, ["MODELWATCH_EVENTS_BUCKET"]),
        (RegistrySyncSettings, ["MODELWATCH_MLFLOW_TRACKING_URI", "MODELWATCH_MODELS_BUCKET"]),
        (NotifySettings, ["MODELWATCH_CHANNELS"]),
    ],
)
def test_every_missing_variable_is_named_in_one_message(settings_class: type, required: list[str]) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(settings_class)

    message = str(caught.value)
    assert message.startswith("invalid modelwatch settings: ")
    assert message.count("Field required") == len(required)
    for variable in required:
        assert f"{variable}: Field required" in message


def test_monitoring_configuration_is_typed_json_with_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELWATCH_EVENTS_BUCKET", "events")
    monkeypatch.setenv("MODELWATCH_MODELS_BUCKET", "models")
    defaults = load_settings(MonitoringSettings)
    assert defaults.drift_config == DriftConfig()
    assert defaults.quality_thresholds == QualityThresholds()
    assert defaults.performance_thresholds == PerformanceThresholds()

    monkeypatch.setenv("MODELWATCH_DRIFT_CONFIG", '{"fdr_q": 0.01, "features": {"hour": {"enabled": false}}}')
    monkeypatch.setenv("MODELWATCH_QUALITY_THRESHOLDS", '{"out_of_range": 0.1}')
    monkeypatch.setenv("MODELWATCH_PERFORMANCE_THRESHOLDS", '{"min": {"auc": 0.7}, "max": {"rmse": 3}}')
    settings = load_settings(MonitoringSettings)

    assert settings.drift_config.fdr_q == 0.01 and not settings.drift_config.features["hour"].enabled
    assert settings.quality_thresholds.out_of_range == 0.1
    assert settings.performance_thresholds == PerformanceThresholds(min={"auc": 0.7}, max={"rmse": 3.0})


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        (
            "MODELWATCH_DRIFT_CONFIG",
            '{"fdr_q": 2}',
            "MODELWATCH_DRIFT_CONFIG.fdr_q: Input should be less than 1",
        ),
        ("MODELWATCH_DRIFT_CONFIG", "{fdr_q: 0.1}", "MODELWATCH_DRIFT_CONFIG: Value error, not JSON"),
        (
            "MODELWATCH_QUALITY_THRESHOLDS",
            '{"missng": 0.1}',
            "MODELWATCH_QUALITY_THRESHOLDS.missng: Extra inputs",
        ),
        (
            "MODELWATCH_PERFORMANCE_THRESHOLDS",
            '{"min": {"auc": "high"}}',
            "MODELWATCH_PERFORMANCE_THRESHOLDS.min.auc: Input should be a valid number",
        ),
        (
            "MODELWATCH_WINDOW_MINUTES",
            "0",
            "MODELWATCH_WINDOW_MINUTES: Input should be greater than or equal to 1",
        ),
    ],
)
def test_a_bad_document_names_the_variable_and_the_path_inside_it(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv("MODELWATCH_EVENTS_BUCKET", "events")
    monkeypatch.setenv("MODELWATCH_MODELS_BUCKET", "models")
    monkeypatch.setenv(variable, value)

    with pytest.raises(SettingsError) as caught:
        load_settings(MonitoringSettings)

    assert expected in str(caught.value)


def test_the_functions_that_push_metrics_share_the_remote_write_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MODELWATCH_EVENTS_BUCKET", "events")
    monkeypatch.setenv("MODELWATCH_MODELS_BUCKET", "models")
    monkeypatch.setenv("MODELWATCH_REMOTE_WRITE_URL", "http://127.0.0.1:9090/api/v1/write")
    monkeypatch.setenv("MODELWATCH_REMOTE_WRITE_MAX_ATTEMPTS", "5")

    for settings_class in (RemoteWriteSettings, MonitoringSettings, ExportSettings):
        settings = load_settings(settings_class)
        assert isinstance(settings, RemoteWriteSettings)
        assert (settings.remote_write_url, settings.remote_write_max_attempts) == (
            "http://127.0.0.1:9090/api/v1/write",
            5,
        )


def test_registry_sync_and_notify_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELWATCH_MLFLOW_TRACKING_URI", "http://mlflow.internal:5000")
    monkeypatch.setenv("MODELWATCH_MODELS_BUCKET", "models")
    monkeypatch.setenv("MODELWATCH_SERVED_ALIASES", "production, canary")
    hook = "arn:aws:secretsmanager:us-east-1:123456789012:secret:hook"
    monkeypatch.setenv(
        "MODELWATCH_CHANNELS", f'[{{"name": "chat", "type": "slack", "secret_arn": "{hook}"}}]'
    )

    sync = load_settings(RegistrySyncSettings)
    notify = load_settings(NotifySettings)

    assert sync.served_aliases == ["production", "canary"] and sync.manifest_prefix == "manifests"
    assert [(c.name, c.secret_arn) for c in notify.channels] == [("chat", hook)]
    assert notify.secret_max_age_seconds == 300 and notify.channels[0].severities[0] == "critical"


def test_notify_settings_name_the_bad_channel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELWATCH_CHANNELS", '[{"name": "pager", "type": "pagerduty", "address": "a@b.co"}]')

    with pytest.raises(SettingsError, match=r"MODELWATCH_CHANNELS: .*channels\[0\] \(pager\): .*secret_arn"):
        load_settings(NotifySettings)
