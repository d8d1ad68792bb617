"""Model-routes settings: the API, the default flavour and the integrations, checked at cold start."""

from __future__ import annotations

import pytest

from modelwatch.settings import ModelRoutesSettings, SettingsError, load_settings


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("MODELWATCH_API_ID", "abc123")
    monkeypatch.setenv("MODELWATCH_MODELS_BUCKET", "models")
    monkeypatch.setenv("MODELWATCH_DEFAULT_FLAVOR", "sklearn")
    monkeypatch.setenv("MODELWATCH_FLAVOR_INTEGRATIONS", '{"onnx": "int1"}')
    return monkeypatch


def test_settings_read_the_integrations_and_dedicated_models(env: pytest.MonkeyPatch) -> None:
    env.setenv("MODELWATCH_DEDICATED_MODELS", "big, fast,")
    settings = load_settings(ModelRoutesSettings)

    assert (settings.api_id, settings.default_flavor) == ("abc123", "sklearn")
    assert settings.flavor_integrations == {"onnx": "int1"}
    assert settings.dedicated_models == ["big", "fast"]
    assert (settings.serving_alias, settings.manifest_prefix) == ("production", "manifests")


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("MODELWATCH_FLAVOR_INTEGRATIONS", '{"torch": "x"}', "MODELWATCH_FLAVOR_INTEGRATIONS.torch"),
        ("MODELWATCH_FLAVOR_INTEGRATIONS", "onnx=int1", "MODELWATCH_FLAVOR_INTEGRATIONS: .*not JSON"),
        ("MODELWATCH_DEFAULT_FLAVOR", "torch", "MODELWATCH_DEFAULT_FLAVOR"),
        ("MODELWATCH_DEDICATED_MODELS", "ok,-bad", "MODELWATCH_DEDICATED_MODELS"),
        ("MODELWATCH_API_ID", "", "MODELWATCH_API_ID"),
    ],
)
def test_a_bad_variable_is_named(env: pytest.MonkeyPatch, variable: str, value: str, named: str) -> None:
    env.setenv(variable, value)

    with pytest.raises(SettingsError, match=named):
        load_settings(ModelRoutesSettings)
