"""Registration on the in-memory registry: staged files, schema and profile, lineage, metrics, sources."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from modelwatch.contracts.profile import DatasetProfile
from modelwatch.contracts.schema import FeatureType, InputSchema
from modelwatch.registry import (
    InMemoryRegistryBackend,
    ModelNotFoundError,
    ModelRegistry,
    RegistryError,
    TrackingServerUnavailable,
)
from modelwatch.stores.objects import InMemoryStorage
from tests.unit.conftest import TrainedFile, TrainingData


@pytest.fixture
def backend() -> InMemoryRegistryBackend:
    return InMemoryRegistryBackend("http://mlflow.test:5000")


@pytest.fixture
def storage() -> InMemoryStorage:
    return InMemoryStorage()


@pytest.fixture
def registry(backend: InMemoryRegistryBackend, storage: InMemoryStorage) -> ModelRegistry:
    return ModelRegistry(backend=backend, storage=storage)


def columns_of(data: TrainingData) -> dict[str, list[Any]]:
    return {name: [row[name] for row in data.rows] for name in data.rows[0]}


def version_file(backend: InMemoryRegistryBackend, name: str, version: str, path: str, tmp: Path) -> bytes:
    return backend.download_version_artifact(name, version, path, tmp).read_bytes()


def test_a_local_file_becomes_version_1_then_2(
    registry: ModelRegistry, backend: InMemoryRegistryBackend, sklearn_classifier: TrainedFile, tmp_path: Path
) -> None:
    first = registry.register_model(sklearn_classifier.path, "fraud", tags={"team": "risk"}, creator="ana")
    second = registry.register_model(str(sklearn_classifier.path), "fraud", creator="ana")

    assert (first, second) == ("models:/fraud/1", "models:/fraud/2")
    version = backend.get_version("fraud", "1")
    assert version.tags["team"] == "risk"
    assert {
        k: version.tags[k] for k in ("modelwatch.flavor", "modelwatch.model_file", "modelwatch.stage")
    } == {
        "modelwatch.flavor": "sklearn",
        "modelwatch.model_file": "model.joblib",
        "modelwatch.stage": "development",
    }
    assert version.tags["modelwatch.prediction_type"] == "value"
    assert "modelwatch.input_schema_file" not in version.tags  # no schema, no training data
    assert backend.get_model("fraud").tags["modelwatch.managed"] == "true"
    assert (
        version_file(backend, "fraud", "1", "model.joblib", tmp_path) == sklearn_classifier.path.read_bytes()
    )
    assert version.source == f"memory://runs/{version.run_id}/artifacts/model"
    assert backend.run_status(version.run_id or "") == "FINISHED"


def test_lineage_tags(
    registry: ModelRegistry,
    backend: InMemoryRegistryBackend,
    sklearn_classifier: TrainedFile,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry.register_model(
        sklearn_classifier.path,
        "fraud",
        training_data_uri="s3://data/train.parquet",
        code_revision="abc123",
        creator="ana",
    )
    monkeypatch.setenv("MODELWATCH_USER", "ci-bot")
    monkeypatch.setenv("GITHUB_SHA", "f00d")
    from_env = ModelRegistry(backend=backend)  # the environment is read when a registry is created
    from_env.register_model(sklearn_classifier.path, "fraud")

    explicit, defaults = (registry.get_version("fraud", v).lineage for v in ("1", "2"))
    assert explicit["training_data_uri"] == "s3://data/train.parquet"
    assert (explicit["code_revision"], explicit["creator"]) == ("abc123", "ana")
    assert explicit["source_uri"] == str(sklearn_classifier.path)
    assert explicit["run_id"] == backend.get_version("fraud", "1").run_id
    assert explicit["created_at"].endswith("+00:00")
    assert (defaults["code_revision"], defaults["creator"]) == ("f00d", "ci-bot")
    assert "training_data_uri" not in defaults


def test_training_data_gives_the_schema_and_the_reference_profile(
    registry: ModelRegistry,
    sklearn_classifier: TrainedFile,
    training_data: TrainingData,
) -> None:
    registry.register_model(
        sklearn_classifier.path,
        "fraud",
        training_data=columns_of(training_data),
        prediction_type="probability",
    )

    schema = registry.get_input_schema("fraud", 1)
    assert schema is not None
    assert [(f.name, f.type) for f in schema.features] == [
        ("amount", FeatureType.NUMBER),
        ("hour", FeatureType.INTEGER),
        ("is_foreign", FeatureType.BOOLEAN),
    ]
    profile_json = registry.get_reference_profile_json("fraud", 1)
    assert profile_json is not None
    profile = DatasetProfile.model_validate_json(profile_json)
    assert profile.n_rows == 200 and profile.feature_names == ["amount", "hour", "is_foreign"]
    info = registry.get_version("fraud", 1)
    assert info.servable and info.prediction_type == "probability"


def test_a_given_schema_wins_and_a_csv_file_is_the_lineage(
    registry: ModelRegistry,
    sklearn_classifier: TrainedFile,
    training_data: TrainingData,
    numeric_schema: InputSchema,
    tmp_path: Path,
) -> None:
    schema_file = tmp_path / "schema.json"
    schema_file.write_text(numeric_schema.model_dump_json())
    csv = tmp_path / "train.csv"
    csv.write_text(
        "amount,hour,is_foreign\n"
        + "".join(f"{r['amount']},{r['hour']},{r['is_foreign']}\n" for r in training_data.rows)
    )

    registry.register_model(sklearn_classifier.path, "fraud", input_schema=schema_file, training_data=csv)

    assert registry.get_input_schema("fraud", 1) == numeric_schema
    assert registry.get_version("fraud", 1).lineage["training_data_uri"] == csv.resolve().as_uri()
    profile = registry.get_reference_profile_json("fraud", 1)
    assert profile is not None and DatasetProfile.model_validate_json(profile).n_rows == 200


def test_metrics_are_on_the_version_and_its_run(
    registry: ModelRegistry, backend: InMemoryRegistryBackend, sklearn_classifier: TrainedFile
) -> None:
    registry.register_model(sklearn_classifier.path, "fraud", metrics={"auc": 0.7, "logloss": 0.3})
    run_id = backend.get_version("fraud", "1").run_id or ""

    registry.log_metrics("fraud", 1, {"auc": 0.75, "f1": 0.4})

    assert backend.get_version("fraud", "1").tags["modelwatch.metric.auc"] == "0.75"
    assert backend.get_run_metrics(run_id) == {"auc": 0.75, "logloss": 0.3, "f1": 0.4}
    assert registry.get_metrics("fraud", "1") == {"auc": 0.75, "logloss": 0.3, "f1": 0.4}


def test_a_models_uri_keeps_the_schema_profile_and_source_run(
    registry: ModelRegistry,
    backend: InMemoryRegistryBackend,
    sklearn_classifier: TrainedFile,
    training_data: TrainingData,
) -> None:
    registry.register_model(
        sklearn_classifier.path,
        "fraud",
        training_data=columns_of(training_data),
        prediction_type="probability",
    )
    backend.set_alias("fraud", "production", "1")

    copied = registry.register_model("models:/fraud/production", "fraud_copy")

    assert copied == "models:/fraud_copy/1"
    original, copy = registry.get_version("fraud", 1), registry.get_version("fraud_copy", 1)
    assert registry.get_input_schema("fraud_copy", 1) == registry.get_input_schema("fraud", 1)
    assert registry.get_reference_profile_json("fraud_copy", 1) == registry.get_reference_profile_json(
        "fraud", 1
    )
    assert (copy.flavor, copy.prediction_type, copy.servable) == ("sklearn", "probability", True)
    assert copy.lineage["run_id"] == original.run_id != copy.run_id
    assert copy.lineage["source_uri"] == "models:/fraud/production"


def test_runs_and_s3_sources(
    registry: ModelRegistry,
    backend: InMemoryRegistryBackend,
    storage: InMemoryStorage,
    onnx_classifier: TrainedFile,
    sklearn_classifier: TrainedFile,
    tmp_path: Path,
) -> None:
    experiment = backend.get_or_create_experiment("training")
    run = backend.create_run(experiment, "train", {})
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "model.onnx").write_bytes(onnx_classifier.path.read_bytes())
    backend.log_artifacts(run.run_id, tmp_path / "out", "out")
    storage.upload("incoming", "models/model.pkl", sklearn_classifier.path)

    from_run = registry.register_model(f"runs:/{run.run_id}/out/model.onnx", "churn")
    from_s3 = registry.register_model("s3://incoming/models/model.pkl", "churn")

    assert (from_run, from_s3) == ("models:/churn/1", "models:/churn/2")
    onnx, pickle = registry.get_version("churn", 1), registry.get_version("churn", 2)
    assert (onnx.flavor, onnx.lineage["run_id"]) == ("onnx", run.run_id)
    assert (pickle.flavor, backend.get_version("churn", "2").tags["modelwatch.model_file"]) == (
        "sklearn",
        "model.pkl",
    )
    assert backend.download_version_artifact("churn", "1", "model.onnx", tmp_path / "d").read_bytes() == (
        onnx_classifier.path.read_bytes()
    )


def test_bad_inputs_register_nothing(
    registry: ModelRegistry, backend: InMemoryRegistryBackend, sklearn_classifier: TrainedFile
) -> None:
    with pytest.raises(FileNotFoundError, match="model file not found"):
        registry.register_model("/nonexistent/model.joblib", "fraud")
    with pytest.raises(ValueError, match="name"):
        registry.register_model(sklearn_classifier.path, "no spaces allowed")
    with pytest.raises(ValueError, match="unsupported flavor"):
        registry.register_model(sklearn_classifier.path, "fraud", flavor="xgboost")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="expected models:/<name>/<version or alias>"):
        registry.register_model("models:/fraud", "fraud")
    with pytest.raises(ModelNotFoundError):
        registry.register_model("models:/nope/1", "fraud")
    run = backend.create_run(backend.get_or_create_experiment("training"), "train", {})
    with pytest.raises(RegistryError, match=f"nothing to register at runs:/{run.run_id}/missing.joblib"):
        registry.register_model(f"runs:/{run.run_id}/missing.joblib", "fraud")

    assert backend.list_models() == []


class FailingUploads(InMemoryRegistryBackend):
    def log_artifacts(self, run_id: str, local_dir: Path, artifact_path: str) -> None:
        raise TrackingServerUnavailable(self.uri, "connection reset")


def test_a_failed_upload_marks_the_run_failed_and_creates_no_version(sklearn_classifier: TrainedFile) -> None:
    backend = FailingUploads()
    registry = ModelRegistry(backend=backend)

    with pytest.raises(TrackingServerUnavailable, match="connection reset"):
        registry.register_model(sklearn_classifier.path, "fraud")

    (run_id,) = backend.run_ids()
    assert backend.run_status(run_id) == "FAILED"
    assert backend.list_models() == [] and backend.version_numbers("fraud") == []
