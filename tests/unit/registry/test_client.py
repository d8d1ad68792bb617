"""``ModelRegistry`` takes its backend from the tracking URI, reads settings once, leaves the environment."""

from __future__ import annotations

import os
import urllib.error
from pathlib import Path

import pytest

from modelwatch.registry import (
    InMemoryRegistryBackend,
    ModelRegistry,
    RegistryConfigurationError,
    TrackingServerUnavailable,
    rest,
)
from modelwatch.registry.rest import MlflowRestClient
from modelwatch.stores.manifests import ManifestStore
from modelwatch.stores.objects import InMemoryStorage
from tests.unit.registry.fakes import FakeServer, ok

MODELS = {"registered_models": []}


@pytest.fixture(autouse=True)
def _no_mlflow_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("MLFLOW_") or name == "GITHUB_SHA":
            monkeypatch.delenv(name)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> FakeServer:
    fake = FakeServer([])
    monkeypatch.setattr(rest, "urlopen", fake)
    return fake


def test_an_http_server_is_reached_with_this_registrys_timeout(server: FakeServer) -> None:
    server.answers += [ok(MODELS), ok(MODELS)]
    before = dict(os.environ)
    quick = ModelRegistry("http://mlflow.test:5000", timeout=2.0)
    patient = ModelRegistry("https://mlflow.test", timeout=30.0)

    quick.list_models()
    patient.list_models()

    assert isinstance(quick.backend, MlflowRestClient) and isinstance(patient.backend, MlflowRestClient)
    assert server.timeouts == [2.0, 30.0]
    assert dict(os.environ) == before  # no process-wide MLFLOW_* defaults any more


def test_retries_are_per_registry(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    refused = urllib.error.URLError(ConnectionRefusedError(111, "Connection refused"))
    server.answers += [refused] * 2
    monkeypatch.setattr("time.sleep", lambda seconds: None)

    with pytest.raises(TrackingServerUnavailable, match="after 2 attempts"):
        ModelRegistry("http://mlflow.test:5000", max_retries=1).list_models()
    assert len(server.requests) == 2


def test_credentials_from_the_environment_or_the_uri(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.answers += [ok(MODELS), ok(MODELS), ok(MODELS)]
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "ana")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "s3cret")

    ModelRegistry("http://mlflow.test:5000").list_models()
    in_uri = ModelRegistry("http://bo:pw@mlflow.test:5000")
    in_uri.list_models()
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME")
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "t0k")
    ModelRegistry("http://mlflow.test:5000").list_models()

    headers = [r.get_header("Authorization") for r in server.requests]
    assert headers == ["Basic YW5hOnMzY3JldA==", "Basic Ym86cHc=", "Bearer t0k"]
    assert in_uri.tracking_uri == "http://mlflow.test:5000"


def test_the_tracking_uri_and_bucket_default_to_the_environment(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(RegistryConfigurationError, match="MLFLOW_TRACKING_URI"):
        ModelRegistry()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://from-env:5000")
    monkeypatch.setenv("MODELWATCH_MODELS_BUCKET", "models-from-env")

    registry = ModelRegistry()

    assert registry.tracking_uri == "http://from-env:5000"
    assert registry.models_bucket == "models-from-env"
    assert ModelRegistry(models_bucket="explicit").models_bucket == "explicit"


class RecordingMlflowClient:
    def __init__(self, tracking_uri: str, registry_uri: str) -> None:
        self.uris = (tracking_uri, registry_uri)


def test_other_uris_go_to_mlflows_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from modelwatch.registry import mlflow_client

    monkeypatch.setattr(mlflow_client, "MlflowClient", RecordingMlflowClient)
    before = dict(os.environ)

    registry = ModelRegistry(str(tmp_path / "store"))

    assert isinstance(registry.backend, mlflow_client.MlflowClientBackend)
    database = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    assert registry.backend.client.uris == (database, database)
    assert registry.tracking_uri == database
    assert (tmp_path / "store").is_dir()
    assert dict(os.environ) == before
    with pytest.raises(RegistryConfigurationError, match="in-memory database"):
        ModelRegistry("sqlite:///:memory:")
    with pytest.raises(RegistryConfigurationError, match="unsupported tracking URI ftp://"):
        ModelRegistry("ftp://mlflow.test")


def test_an_injected_backend_is_used_as_it_is() -> None:
    backend = InMemoryRegistryBackend("http://mlflow.test:5000")
    backend.add_version("fraud", "1", {}, {})

    registry = ModelRegistry("http://ignored:1", backend=backend)

    assert registry.backend is backend and registry.tracking_uri == "http://mlflow.test:5000"
    assert [m.name for m in registry.list_models()] == ["fraud"]


def test_sync_serving_reconciles_the_models_bucket() -> None:
    backend = InMemoryRegistryBackend("http://mlflow.test:5000")
    schema = '{"features": [{"name": "amount", "type": "number"}]}'
    tags = {
        "modelwatch.flavor": "sklearn",
        "modelwatch.model_file": "model.joblib",
        "modelwatch.input_schema_file": "input_schema.json",
    }
    backend.add_version("fraud", "1", tags, {"model.joblib": b"m", "input_schema.json": schema.encode()})
    backend.set_alias("fraud", "production", "1")  # as in the MLflow UI
    storage = InMemoryStorage()

    report = ModelRegistry(backend=backend, models_bucket="models", storage=storage).sync_serving()

    assert {a.alias: a.action for a in report.actions} == {"staging": "no_alias", "production": "published"}
    manifest = ManifestStore(storage, "models").current("fraud", "production")
    assert manifest is not None and manifest.version == "1"
    assert backend.get_version("fraud", "1").tags["modelwatch.stage"] == "production"
    with pytest.raises(RegistryConfigurationError, match="MODELWATCH_MODELS_BUCKET"):
        ModelRegistry(backend=backend).sync_serving()


def test_settings_names_and_blank_values(monkeypatch: pytest.MonkeyPatch) -> None:
    from modelwatch.settings import RegistryClientSettings, load_settings

    monkeypatch.setenv("MODELWATCH_CODE_REVISION", "")
    monkeypatch.setenv("GITHUB_SHA", "f00d")
    monkeypatch.setenv("MODELWATCH_USER", "   ")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "s3cret")

    settings = load_settings(RegistryClientSettings)

    assert (settings.code_revision, settings.user, settings.tracking_uri) == ("f00d", None, None)
    assert settings.tracking_password is not None and "s3cret" not in repr(settings)
    monkeypatch.setenv("MODELWATCH_CODE_REVISION", "abc")
    assert load_settings(RegistryClientSettings).code_revision == "abc"  # modelwatch's own name wins
