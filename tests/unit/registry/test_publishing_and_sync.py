"""Publishing a version as a manifest, and reconciling aliases with manifests (fake registry, memory)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from modelwatch.contracts.manifest import ServingManifest
from modelwatch.contracts.schema import FeatureSpec, FeatureType, InputSchema
from modelwatch.registry import NotServableError, PromotionError, TrackingServerUnavailable
from modelwatch.registry.memory import InMemoryRegistryBackend
from modelwatch.registry.publishing import publish_version
from modelwatch.registry.stages import decode_history
from modelwatch.registry.sync import mlflow_credentials, reconcile_manifests
from modelwatch.settings import RegistrySyncSettings, load_settings
from modelwatch.stores.artifacts import ArtifactStore
from modelwatch.stores.manifests import ManifestStore
from modelwatch.stores.objects import InMemoryStorage

BUCKET = "models-bucket"
SCHEMA = InputSchema(features=[FeatureSpec(name="amount", type=FeatureType.NUMBER)])
SERVABLE = {
    "modelwatch.flavor": "sklearn",
    "modelwatch.model_file": "model.joblib",
    "modelwatch.input_schema_file": "input_schema.json",
    "modelwatch.prediction_type": "probability",
}


def files(label: str) -> dict[str, bytes]:
    return {"model.joblib": label.encode(), "input_schema.json": SCHEMA.model_dump_json().encode()}


@dataclass
class ModelsBucket:
    storage: InMemoryStorage
    manifests: ManifestStore
    artifacts: ArtifactStore


def models_bucket(storage: InMemoryStorage) -> ModelsBucket:
    return ModelsBucket(storage, ManifestStore(storage, BUCKET), ArtifactStore(storage))


@pytest.fixture
def bucket() -> ModelsBucket:
    return models_bucket(InMemoryStorage())


@pytest.fixture
def backend() -> InMemoryRegistryBackend:
    fake = InMemoryRegistryBackend("http://mlflow.test:5000")
    fake.add_version("fraud", "1", {**SERVABLE, "modelwatch.stage": "production"}, files("v1"))
    fake.add_version("fraud", "2", {**SERVABLE, "modelwatch.stage": "staging"}, files("v2"))
    return fake


def served(bucket: ModelsBucket, alias: str = "production") -> ServingManifest:
    manifest = bucket.manifests.current("fraud", alias)
    assert manifest is not None
    return manifest


def test_publish_copies_the_artifact_then_writes_the_manifest(
    bucket: ModelsBucket, backend: InMemoryRegistryBackend
) -> None:
    manifest, uri = publish_version(
        backend, backend.get_version("fraud", "2"), "production", bucket.manifests, bucket.artifacts
    )

    assert uri == f"s3://{BUCKET}/manifests/fraud/production.json"
    assert manifest.artifact_uri == f"s3://{BUCKET}/models/fraud/2/model.joblib"
    assert manifest.prediction_type == "probability"
    assert manifest.input_schema == SCHEMA
    assert manifest.source["registered_version"] == "2"
    assert bucket.storage.body(BUCKET, "models/fraud/2/model.joblib") == b"v2"
    assert served(bucket).version == "2"


def test_a_version_without_schema_is_not_servable(
    bucket: ModelsBucket, backend: InMemoryRegistryBackend
) -> None:
    backend.add_version("fraud", "3", {"modelwatch.model_file": "model.joblib"}, files("v3"))

    with pytest.raises(NotServableError, match=r"flavor.*input schema"):
        publish_version(
            backend, backend.get_version("fraud", "3"), "production", bucket.manifests, bucket.artifacts
        )


def test_failed_copy_keeps_the_previous_manifest(
    bucket: ModelsBucket, backend: InMemoryRegistryBackend
) -> None:
    publish_version(
        backend, backend.get_version("fraud", "1"), "production", bucket.manifests, bucket.artifacts
    )

    class FailingUploads(InMemoryStorage):
        def upload(self, bucket: str, key: str, path: Path) -> None:
            raise OSError("disk full")

    failing = FailingUploads()
    failing.objects = bucket.storage.objects  # the same bucket, whose uploads now fail
    with pytest.raises(PromotionError, match="disk full"):
        publish_version(
            backend,
            backend.get_version("fraud", "2"),
            "production",
            models_bucket(failing).manifests,
            models_bucket(failing).artifacts,
        )
    assert served(bucket).version == "1"


def test_sync_publishes_an_alias_moved_outside_and_records_the_stages(
    bucket: ModelsBucket, backend: InMemoryRegistryBackend
) -> None:
    backend.set_alias("fraud", "production", "1")
    reconcile_manifests(backend, bucket.manifests, bucket.artifacts)
    backend.set_alias("fraud", "production", "2")  # e.g. in the MLflow UI

    report = reconcile_manifests(backend, bucket.manifests, bucket.artifacts)

    actions = {a.alias: a for a in report.actions}
    assert actions["production"].action == "published"
    assert (actions["production"].version, actions["production"].previous_version) == ("2", "1")
    assert actions["staging"].action == "no_alias"
    assert served(bucket).version == "2"
    v2, v1 = backend.get_version("fraud", "2").tags, backend.get_version("fraud", "1").tags
    assert (v2["modelwatch.stage"], v1["modelwatch.stage"]) == ("production", "archived")
    assert decode_history(v2["modelwatch.stage_history"])[-1].actor == "registry-sync"
    assert [a.action for a in reconcile_manifests(backend, bucket.manifests, bucket.artifacts).actions] == [
        "no_alias",
        "unchanged",
    ]


def test_sync_skips_models_not_registered_through_modelwatch(
    bucket: ModelsBucket, backend: InMemoryRegistryBackend
) -> None:
    backend.add_version("llm", "1", {}, {}, managed=False)
    backend.set_alias("llm", "production", "1")

    report = reconcile_manifests(backend, bucket.manifests, bucket.artifacts, models=["llm", "fraud"])

    assert report.skipped_models == ["llm"]
    assert {a.model for a in report.actions} == {"fraud"}


def test_sync_reports_a_broken_version_and_goes_on(
    bucket: ModelsBucket, backend: InMemoryRegistryBackend
) -> None:
    backend.add_version("churn", "1", {"modelwatch.flavor": "onnx"}, {})
    backend.set_alias("churn", "production", "1")
    backend.set_alias("fraud", "production", "2")

    report = reconcile_manifests(backend, bucket.manifests, bucket.artifacts, aliases=["production"])

    by_model = {a.model: a for a in report.actions}
    assert by_model["churn"].action == "failed" and "cannot be served" in (by_model["churn"].error or "")
    assert by_model["fraud"].action == "published"
    assert len(report.failures) == 1


def test_sync_with_mlflow_down_fails_and_leaves_manifests(
    bucket: ModelsBucket, backend: InMemoryRegistryBackend
) -> None:
    backend.set_alias("fraud", "production", "1")
    reconcile_manifests(backend, bucket.manifests, bucket.artifacts)
    backend.down = True

    with pytest.raises(TrackingServerUnavailable, match=r"mlflow\.test"):
        reconcile_manifests(backend, bucket.manifests, bucket.artifacts)
    assert served(bucket).version == "1"


def test_settings_and_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELWATCH_MLFLOW_TRACKING_URI", "http://mlflow.internal:5000")
    monkeypatch.setenv("MODELWATCH_MODELS_BUCKET", BUCKET)
    monkeypatch.setenv("MODELWATCH_SERVED_ALIASES", "production, canary")

    settings = load_settings(RegistrySyncSettings)

    assert settings.served_aliases == ["production", "canary"]

    class Secrets:
        def get_secret_value(self, SecretId: str) -> dict[str, str]:
            return {"SecretString": '{"username": "sync", "password": "pw"}'}

    assert mlflow_credentials("arn:secret", Secrets()) == ("sync", "pw")
