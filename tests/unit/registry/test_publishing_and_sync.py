"""Publishing a version as a manifest, and reconciling aliases with manifests (fake registry, moto S3)."""

from __future__ import annotations

from typing import Any

import pytest

from modelwatch.manifest import S3ManifestStore
from modelwatch.registry import NotServableError, PromotionError, TrackingServerUnavailable
from modelwatch.registry.publishing import publish_version
from modelwatch.registry.stages import decode_history
from modelwatch.registry.sync import RegistrySyncSettings, mlflow_credentials, reconcile_manifests
from modelwatch.schema import FeatureSpec, FeatureType, InputSchema
from tests.unit.registry.fakes import FakeBackend

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


@pytest.fixture
def bucket(s3: Any) -> Any:
    s3.create_bucket(Bucket=BUCKET)
    return s3


@pytest.fixture
def backend() -> FakeBackend:
    fake = FakeBackend()
    fake.add_version("fraud", "1", {**SERVABLE, "modelwatch.stage": "production"}, files("v1"))
    fake.add_version("fraud", "2", {**SERVABLE, "modelwatch.stage": "staging"}, files("v2"))
    return fake


def served(s3: Any, alias: str = "production") -> Any:
    read = S3ManifestStore(s3, BUCKET).read("fraud", alias)
    assert read is not None
    return read.manifest


def test_publish_copies_the_artifact_then_writes_the_manifest(bucket: Any, backend: FakeBackend) -> None:
    manifest, uri = publish_version(backend, backend.get_version("fraud", "2"), "production", bucket, BUCKET)

    assert uri == f"s3://{BUCKET}/manifests/fraud/production.json"
    assert manifest.artifact_uri == f"s3://{BUCKET}/models/fraud/2/model.joblib"
    assert manifest.prediction_type == "probability"
    assert manifest.input_schema == SCHEMA
    assert manifest.source["registered_version"] == "2"
    body = bucket.get_object(Bucket=BUCKET, Key="models/fraud/2/model.joblib")["Body"].read()
    assert body == b"v2"
    assert served(bucket).version == "2"


def test_a_version_without_schema_is_not_servable(bucket: Any, backend: FakeBackend) -> None:
    backend.add_version("fraud", "3", {"modelwatch.model_file": "model.joblib"}, files("v3"))

    with pytest.raises(NotServableError, match=r"flavor.*input schema"):
        publish_version(backend, backend.get_version("fraud", "3"), "production", bucket, BUCKET)


def test_failed_copy_keeps_the_previous_manifest(bucket: Any, backend: FakeBackend) -> None:
    publish_version(backend, backend.get_version("fraud", "1"), "production", bucket, BUCKET)

    class FailingUploads:
        def __init__(self, inner: Any) -> None:
            self._inner = inner

        def upload_file(self, *args: Any) -> None:
            raise OSError("disk full")

        def __getattr__(self, name: str) -> Any:
            return getattr(self._inner, name)

    with pytest.raises(PromotionError, match="disk full"):
        publish_version(
            backend, backend.get_version("fraud", "2"), "production", FailingUploads(bucket), BUCKET
        )
    assert served(bucket).version == "1"


def test_sync_publishes_an_alias_moved_outside_and_records_the_stages(
    bucket: Any, backend: FakeBackend
) -> None:
    backend.set_alias("fraud", "production", "1")
    reconcile_manifests(backend, bucket, BUCKET)
    backend.set_alias("fraud", "production", "2")  # e.g. in the MLflow UI

    report = reconcile_manifests(backend, bucket, BUCKET)

    actions = {a.alias: a for a in report.actions}
    assert actions["production"].action == "published"
    assert (actions["production"].version, actions["production"].previous_version) == ("2", "1")
    assert actions["staging"].action == "no_alias"
    assert served(bucket).version == "2"
    v2, v1 = backend.versions[("fraud", "2")].tags, backend.versions[("fraud", "1")].tags
    assert (v2["modelwatch.stage"], v1["modelwatch.stage"]) == ("production", "archived")
    assert decode_history(v2["modelwatch.stage_history"])[-1].actor == "registry-sync"
    assert [a.action for a in reconcile_manifests(backend, bucket, BUCKET).actions] == [
        "no_alias",
        "unchanged",
    ]


def test_sync_skips_models_not_registered_through_modelwatch(bucket: Any, backend: FakeBackend) -> None:
    backend.add_version("llm", "1", {}, {}, managed=False)
    backend.set_alias("llm", "production", "1")

    report = reconcile_manifests(backend, bucket, BUCKET, models=["llm", "fraud"])

    assert report.skipped_models == ["llm"]
    assert {a.model for a in report.actions} == {"fraud"}


def test_sync_reports_a_broken_version_and_goes_on(bucket: Any, backend: FakeBackend) -> None:
    backend.add_version("churn", "1", {"modelwatch.flavor": "onnx"}, {})
    backend.set_alias("churn", "production", "1")
    backend.set_alias("fraud", "production", "2")

    report = reconcile_manifests(backend, bucket, BUCKET, aliases=["production"])

    by_model = {a.model: a for a in report.actions}
    assert by_model["churn"].action == "failed" and "cannot be served" in (by_model["churn"].error or "")
    assert by_model["fraud"].action == "published"
    assert len(report.failures) == 1


def test_sync_with_mlflow_down_fails_and_leaves_manifests(bucket: Any, backend: FakeBackend) -> None:
    backend.set_alias("fraud", "production", "1")
    reconcile_manifests(backend, bucket, BUCKET)
    backend.down = True

    with pytest.raises(TrackingServerUnavailable, match=r"mlflow\.test"):
        reconcile_manifests(backend, bucket, BUCKET)
    assert served(bucket).version == "1"


def test_settings_and_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELWATCH_MLFLOW_TRACKING_URI", "http://mlflow.internal:5000")
    monkeypatch.setenv("MODELWATCH_MODELS_BUCKET", BUCKET)
    monkeypatch.setenv("MODELWATCH_SERVED_ALIASES", "production, canary")

    settings = RegistrySyncSettings()  # type: ignore[call-arg]

    assert settings.served_aliases == ["production", "canary"]

    class Secrets:
        def get_secret_value(self, SecretId: str) -> dict[str, str]:
            return {"SecretString": '{"username": "sync", "password": "pw"}'}

    assert mlflow_credentials("arn:secret", Secrets()) == ("sync", "pw")
