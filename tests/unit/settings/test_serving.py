"""Serving settings read from MODELWATCH_* environment variables."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from modelwatch.settings import ServingSettings, SettingsError, load_settings


@pytest.fixture
def required_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("MODELWATCH_MODELS_BUCKET", "models")
    monkeypatch.setenv("MODELWATCH_REJECTED_STREAM", "rejected")
    monkeypatch.setenv("MODELWATCH_EVENTS_STREAM", "events")
    return monkeypatch


def test_defaults(required_env: pytest.MonkeyPatch) -> None:
    settings = ServingSettings()
    assert settings.models_bucket == "models"
    assert settings.rejected_stream == "rejected"
    assert settings.events_stream == "events"  # one stream for every model: Firehose partitions by model
    assert settings.served_models == []
    assert settings.catalog_models == []
    assert settings.manifest_prefix == "manifests"
    assert settings.serving_alias == "production"
    assert settings.capture_dlq_url is None
    assert (settings.capture_max_attempts, settings.max_instances, settings.manifest_ttl_seconds) == (
        3,
        1000,
        30.0,
    )


def test_catalog_models_comma_list_is_the_optional_filter(required_env: pytest.MonkeyPatch) -> None:
    required_env.setenv("MODELWATCH_CATALOG_MODELS", " fraud, churn ,,ltv ")
    settings = ServingSettings()
    assert settings.catalog_models == ["fraud", "churn", "ltv"]
    assert settings.served_models == ["fraud", "churn", "ltv"]


def test_fleet_cache_defaults(required_env: pytest.MonkeyPatch) -> None:
    settings = ServingSettings()
    assert settings.served_flavors == []  # resolved at start-up to the installed runtimes
    assert settings.negative_ttl_seconds == 10.0
    assert settings.model_cache_budget_mb == 1024.0  # outside Lambda


def test_cache_budget_is_half_the_lambda_memory_unless_set(required_env: pytest.MonkeyPatch) -> None:
    required_env.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "2048")
    assert ServingSettings().model_cache_budget_mb == 1024.0
    required_env.setenv("MODELWATCH_MODEL_CACHE_MB", "300")
    assert ServingSettings().model_cache_budget_mb == 300.0


def test_served_flavors_comma_list(required_env: pytest.MonkeyPatch) -> None:
    required_env.setenv("MODELWATCH_SERVED_FLAVORS", "onnx, sklearn")
    assert ServingSettings().served_flavors == ["onnx", "sklearn"]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MODELWATCH_SERVED_FLAVORS", "sklearn,pytorch"),
        ("MODELWATCH_MODEL_CACHE_MB", "0"),
        ("MODELWATCH_NEGATIVE_TTL_SECONDS", "-1"),
    ],
)
def test_bad_fleet_cache_settings_name_the_variable(
    required_env: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    required_env.setenv(variable, value)
    with pytest.raises(SettingsError, match=variable):
        load_settings(ServingSettings)


def test_numbers_and_optional_values_parsed(required_env: pytest.MonkeyPatch) -> None:
    required_env.setenv("MODELWATCH_MAX_INSTANCES", "25")
    required_env.setenv("MODELWATCH_MANIFEST_TTL_SECONDS", "0.5")
    required_env.setenv("MODELWATCH_CAPTURE_DLQ_URL", "https://sqs.us-east-1.amazonaws.com/1/dlq")
    settings = ServingSettings()
    assert settings.max_instances == 25
    assert settings.manifest_ttl_seconds == 0.5
    assert settings.capture_dlq_url == "https://sqs.us-east-1.amazonaws.com/1/dlq"


@pytest.mark.parametrize(
    ("variable", "value", "field"),
    [
        ("MODELWATCH_CATALOG_MODELS", "fraud,../x", "invalid model name '../x'"),
        ("MODELWATCH_MAX_INSTANCES", "0", "max_instances"),
        ("MODELWATCH_CAPTURE_MAX_ATTEMPTS", "11", "capture_max_attempts"),
        ("MODELWATCH_CAPTURE_POST_INVOKE", "maybe", "capture_post_invoke"),
        ("MODELWATCH_CAPTURE_EXTENSION_NAME", "", "capture_extension_name"),
        ("MODELWATCH_MANIFEST_TTL_SECONDS", "-1", "manifest_ttl_seconds"),
    ],
)
def test_invalid_values_rejected(
    required_env: pytest.MonkeyPatch, variable: str, value: str, field: str
) -> None:
    required_env.setenv(variable, value)
    with pytest.raises(ValidationError, match=field.replace(".", r"\.")):
        ServingSettings()


def test_the_events_stream_is_required(required_env: pytest.MonkeyPatch) -> None:
    required_env.delenv("MODELWATCH_EVENTS_STREAM")
    with pytest.raises(SettingsError, match=r"^invalid modelwatch settings: MODELWATCH_EVENTS_STREAM"):
        load_settings(ServingSettings)


@pytest.mark.parametrize(
    "missing", ["MODELWATCH_MODELS_BUCKET", "MODELWATCH_REJECTED_STREAM", "MODELWATCH_EVENTS_STREAM"]
)
def test_missing_required_variable_names_the_field(required_env: pytest.MonkeyPatch, missing: str) -> None:
    required_env.delenv(missing)
    with pytest.raises(ValidationError) as caught:
        ServingSettings()
    field = missing.removeprefix("MODELWATCH_").lower()
    assert [error["loc"] for error in caught.value.errors()] == [(field,)]
    assert caught.value.errors()[0]["type"] == "missing"
