"""Reading the registry: listings, version info, metrics, schema and profile, history."""

from __future__ import annotations

import pytest

from modelwatch.contracts.schema import FeatureSpec, FeatureType, InputSchema
from modelwatch.registry import (
    InMemoryRegistryBackend,
    ModelNotFoundError,
    ModelRegistry,
    Stage,
    TrackingServerUnavailable,
    VersionNotFoundError,
)
from modelwatch.registry.stages import TransitionRecord, encode_history

SCHEMA = InputSchema(features=[FeatureSpec(name="amount", type=FeatureType.NUMBER)])


@pytest.fixture
def backend() -> InMemoryRegistryBackend:
    memory = InMemoryRegistryBackend("http://mlflow.test:5000")
    memory.add_version(
        "fraud",
        "1",
        {
            "modelwatch.flavor": "sklearn",
            "modelwatch.model_file": "model.joblib",
            "modelwatch.input_schema_file": "input_schema.json",
            "modelwatch.reference_profile_file": "reference_profile.json",
            "modelwatch.stage": "production",
            "modelwatch.lineage.creator": "ana",
            "modelwatch.metric.auc": "0.91",
            "mlflow.source.type": "LOCAL",
            "team": "risk",
        },
        {"input_schema.json": SCHEMA.model_dump_json().encode(), "reference_profile.json": b'{"n_rows": 3}'},
    )
    memory.add_version("fraud", "2", {}, {})
    memory.add_version("llm", "1", {}, {}, managed=False)
    memory.set_alias("fraud", "production", "1")
    run = memory.create_run(memory.get_or_create_experiment("training"), "train", {})
    memory.log_metric(run.run_id, "auc", 0.5)
    memory.log_metric(run.run_id, "f1", 0.4)
    memory.add_version("churn", "1", {}, {}, run_id=run.run_id)
    return memory


@pytest.fixture
def registry(backend: InMemoryRegistryBackend) -> ModelRegistry:
    return ModelRegistry(backend=backend)


def test_list_models_by_name_with_latest_version_and_managed_flag(registry: ModelRegistry) -> None:
    models = registry.list_models()

    assert [(m.name, m.latest_version, m.managed) for m in models] == [
        ("churn", "1", True),
        ("fraud", "2", True),
        ("llm", "1", False),
    ]
    assert models[1].aliases == {"production": "1"}


def test_a_version_by_number_or_alias(registry: ModelRegistry) -> None:
    info = registry.get_version("fraud", "production")

    assert (info.version, info.uri, info.stage, info.aliases) == (
        "1",
        "models:/fraud/1",
        Stage.PRODUCTION,
        ["production"],
    )
    assert info.servable and info.flavor == "sklearn"
    assert info.tags == {"team": "risk"}  # modelwatch's and MLflow's own tags are elsewhere
    assert info.lineage == {"creator": "ana"}
    assert info.metrics == {"auc": 0.91}
    second = registry.get_version("fraud", 2)
    assert (second.stage, second.servable, second.aliases) == (Stage.DEVELOPMENT, False, [])


def test_metrics_of_the_run_are_overridden_by_the_version(
    registry: ModelRegistry, backend: InMemoryRegistryBackend
) -> None:
    assert registry.get_metrics("churn", 1) == {"auc": 0.5, "f1": 0.4}

    backend.set_version_tag("churn", "1", "modelwatch.metric.auc", "0.6")

    assert registry.get_metrics("churn", 1) == {"auc": 0.6, "f1": 0.4}


def test_list_versions_oldest_first_and_unknown_names(registry: ModelRegistry) -> None:
    assert [v.version for v in registry.list_versions("fraud")] == ["1", "2"]
    with pytest.raises(ModelNotFoundError, match="'nope'"):
        registry.list_versions("nope")
    with pytest.raises(VersionNotFoundError, match=r"no version '7' \(versions: 1, 2\)"):
        registry.get_version("fraud", 7)


def test_schema_and_profile_are_read_from_the_version_artifacts(registry: ModelRegistry) -> None:
    assert registry.get_input_schema("fraud", 1) == SCHEMA
    assert registry.get_reference_profile_json("fraud", "production") == '{"n_rows": 3}'
    assert registry.get_input_schema("fraud", 2) is None
    assert registry.get_reference_profile_json("fraud", 2) is None


def test_history_of_a_version_and_of_the_model(
    registry: ModelRegistry, backend: InMemoryRegistryBackend
) -> None:
    record = TransitionRecord(version="2", from_stage=Stage.DEVELOPMENT, to_stage=Stage.STAGING, actor="ana")
    backend.set_version_tag("fraud", "2", "modelwatch.stage_history", encode_history([record], 10))
    backend.set_model_tag("fraud", "modelwatch.transitions", encode_history([record, record], 10))

    assert registry.history("fraud", 2) == [record]
    assert registry.history("fraud", "1") == []
    assert len(registry.history("fraud")) == 2


def test_a_dead_server_is_named(registry: ModelRegistry, backend: InMemoryRegistryBackend) -> None:
    backend.down = True

    with pytest.raises(TrackingServerUnavailable, match=r"http://mlflow\.test:5000 is unreachable"):
        registry.list_models()
    assert registry.tracking_uri == "http://mlflow.test:5000"
