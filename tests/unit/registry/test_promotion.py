"""Promotion on the in-memory registry: the stage rules, displacement, and what a failure leaves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from modelwatch.contracts.schema import FeatureSpec, FeatureType, InputSchema
from modelwatch.registry import (
    IllegalTransitionError,
    InMemoryRegistryBackend,
    ModelRegistry,
    NotServableError,
    PromotionError,
    Stage,
    TrackingServerUnavailable,
)
from modelwatch.registry.promotion import NO_BUCKET_NOTE, displace_previous_holder
from modelwatch.registry.stages import decode_history
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


def model_bytes(label: str) -> bytes:
    """A real one-feature classifier, different for each label (promotion loads and scores it)."""
    import io

    import joblib
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    seed = sum(label.encode())
    amounts = np.array([[0.0], [1.0], [2.0], [3.0 + seed % 7]])
    model = LogisticRegression().fit(amounts, [0, 0, 1, 1])
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    return buffer.getvalue()


def files(label: str) -> dict[str, bytes]:
    return {"model.joblib": model_bytes(label), "input_schema.json": SCHEMA.model_dump_json().encode()}


@pytest.fixture
def backend() -> InMemoryRegistryBackend:
    memory = InMemoryRegistryBackend("http://mlflow.test:5000")
    for version in ("1", "2", "3"):
        memory.add_version(
            "fraud", version, {**SERVABLE, "modelwatch.stage": "development"}, files(f"v{version}")
        )
    memory.add_version("fraud", "4", {"modelwatch.model_file": "model.joblib"}, files("v4"))  # no schema
    return memory


@pytest.fixture
def storage() -> InMemoryStorage:
    return InMemoryStorage()


@pytest.fixture
def registry(backend: InMemoryRegistryBackend, storage: InMemoryStorage) -> ModelRegistry:
    return ModelRegistry(backend=backend, models_bucket=BUCKET, storage=storage)


def stage_of(backend: InMemoryRegistryBackend, version: str) -> str:
    return backend.get_version("fraud", version).tags["modelwatch.stage"]


def served(storage: InMemoryStorage, alias: str = "production") -> str | None:
    manifest = ManifestStore(storage, BUCKET).current("fraud", alias)
    return None if manifest is None else manifest.version


def test_development_to_staging_moves_the_alias_and_publishes(
    registry: ModelRegistry, backend: InMemoryRegistryBackend, storage: InMemoryStorage
) -> None:
    result = registry.promote("fraud", "1", "staging", reason="first candidate", actor="ana")

    assert result.manifest is not None and result.manifest.alias == "staging"
    assert result.manifest_uri == f"s3://{BUCKET}/manifests/fraud/staging.json"
    assert storage.body(BUCKET, "models/fraud/1/model.joblib") == model_bytes("v1")
    assert served(storage, "staging") == "1"
    assert backend.get_model("fraud").aliases == {"staging": "1"}
    assert stage_of(backend, "1") == "staging"
    (record,) = decode_history(backend.get_version("fraud", "1").tags["modelwatch.stage_history"])
    assert (record.from_stage, record.to_stage, record.actor, record.reason) == (
        Stage.DEVELOPMENT,
        Stage.STAGING,
        "ana",
        "first candidate",
    )
    assert result.transition == record and result.displaced_version is None


def test_production_needs_staging_first_unless_forced(
    registry: ModelRegistry, backend: InMemoryRegistryBackend, storage: InMemoryStorage
) -> None:
    with pytest.raises(IllegalTransitionError, match="staging first"):
        registry.promote("fraud", "1", "production")
    assert backend.get_model("fraud").aliases == {} and served(storage) is None

    forced = registry.promote("fraud", "1", Stage.PRODUCTION, force=True, reason="hotfix")

    assert forced.transition.forced and forced.transition.from_stage is Stage.DEVELOPMENT
    assert served(storage) == "1" and stage_of(backend, "1") == "production"


def test_staging_to_production_drops_the_staging_alias(
    registry: ModelRegistry, backend: InMemoryRegistryBackend
) -> None:
    registry.promote("fraud", "2", "staging")

    registry.promote("fraud", "2", "production")

    assert backend.get_model("fraud").aliases == {"production": "2"}
    assert backend.get_version("fraud", "production").version == "2"


def test_taking_production_archives_the_previous_holder(
    registry: ModelRegistry, backend: InMemoryRegistryBackend, storage: InMemoryStorage
) -> None:
    for version in ("1", "2"):
        registry.promote("fraud", version, "staging", actor="ana")
        registry.promote("fraud", version, "production", actor="ana")

    assert served(storage) == "2"
    assert stage_of(backend, "1") == "archived"
    last = decode_history(backend.get_version("fraud", "1").tags["modelwatch.stage_history"])[-1]
    assert (last.from_stage, last.to_stage, last.reason) == (
        Stage.PRODUCTION,
        Stage.ARCHIVED,
        "replaced in production by version 2",
    )
    assert [(r.version, r.to_stage.value) for r in registry.history("fraud")][-3:] == [
        ("2", "staging"),
        ("2", "production"),
        ("1", "archived"),
    ]


def test_taking_staging_sends_the_previous_holder_back_to_development(
    registry: ModelRegistry, backend: InMemoryRegistryBackend
) -> None:
    registry.promote("fraud", "1", "staging")

    result = registry.promote("fraud", "2", "staging")

    assert result.displaced_version == "1"
    assert stage_of(backend, "1") == "development" and stage_of(backend, "2") == "staging"
    assert backend.get_model("fraud").aliases == {"staging": "2"}


def test_a_previous_holder_that_moved_on_is_left_alone(backend: InMemoryRegistryBackend) -> None:
    backend.set_version_tag("fraud", "1", "modelwatch.stage", "archived")

    moved = displace_previous_holder(backend, "fraud", Stage.PRODUCTION, "1", by="2", actor="ana")
    gone = displace_previous_holder(backend, "fraud", Stage.PRODUCTION, "9", by="2", actor="ana")
    unheld = displace_previous_holder(backend, "fraud", Stage.ARCHIVED, "1", by="2", actor="ana")

    assert (moved, gone, unheld) == (None, None, None)
    assert "modelwatch.stage_history" not in backend.get_version("fraud", "1").tags


def test_archiving_drops_the_alias_and_publishes_nothing(
    registry: ModelRegistry, backend: InMemoryRegistryBackend, storage: InMemoryStorage
) -> None:
    registry.promote("fraud", "1", "production", force=True)
    keys_before = storage.keys(BUCKET)

    result = registry.promote("fraud", "1", "archived", reason="retired")

    assert result.manifest is None and result.displaced_version is None
    assert backend.get_model("fraud").aliases == {}
    assert stage_of(backend, "1") == "archived"
    assert storage.keys(BUCKET) == keys_before


def test_rules_refuse_the_same_stage_aliases_and_unknown_stages(
    registry: ModelRegistry, backend: InMemoryRegistryBackend
) -> None:
    registry.promote("fraud", "1", "staging")

    with pytest.raises(IllegalTransitionError, match="already in staging"):
        registry.promote("fraud", "1", "staging")
    with pytest.raises(IllegalTransitionError, match="version number, not an alias"):
        registry.promote("fraud", "staging", "production")
    with pytest.raises(IllegalTransitionError, match="unknown stage 'live'"):
        registry.promote("fraud", "1", "live")
    registry.promote("fraud", "1", "archived")
    with pytest.raises(IllegalTransitionError, match="from archived it may go to: development, staging"):
        registry.promote("fraud", "1", "production")
    assert registry.promote("fraud", "1", "development").transition.from_stage is Stage.ARCHIVED


class RecordingStorage(InMemoryStorage):
    """Notes where the MLflow alias pointed whenever a manifest was written."""

    def __init__(self, backend: InMemoryRegistryBackend) -> None:
        super().__init__()
        self.backend = backend
        self.aliases_at_manifest_write: list[dict[str, str]] = []

    def put(self, bucket: str, key: str, body: bytes, *args: Any, **options: Any) -> str:
        if key.startswith("manifests/"):
            self.aliases_at_manifest_write.append(dict(self.backend.get_model("fraud").aliases))
        return super().put(bucket, key, body, *args, **options)


def test_the_alias_moves_before_the_manifest_serving_reads_is_written(
    backend: InMemoryRegistryBackend,
) -> None:
    storage = RecordingStorage(backend)
    registry = ModelRegistry(backend=backend, models_bucket=BUCKET, storage=storage)
    registry.promote("fraud", "1", "production", force=True)

    registry.promote("fraud", "2", "production", force=True)

    assert storage.aliases_at_manifest_write == [{"production": "1"}, {"production": "2"}]
    assert backend.get_model("fraud").aliases == {"production": "2"}


class FailingManifestWrites(InMemoryStorage):
    """Takes the model files, refuses the serving manifests (S3 throttling that one prefix)."""

    def put(self, bucket: str, key: str, body: bytes, *args: Any, **options: Any) -> str:
        if key.startswith("manifests/"):
            raise OSError("SlowDown")
        return super().put(bucket, key, body, *args, **options)


def test_mlflow_dying_at_the_alias_move_leaves_serving_on_the_previous_version(
    registry: ModelRegistry, backend: InMemoryRegistryBackend, storage: InMemoryStorage
) -> None:
    # Given version 1 in production, and MLflow that dies when the alias is moved
    registry.promote("fraud", "1", "production", force=True)
    real_set_alias = backend.set_alias

    def dies(*args: Any) -> None:
        backend.down = True
        real_set_alias(*args)

    backend.set_alias = dies  # type: ignore[method-assign]

    # When version 2 is promoted
    with pytest.raises(TrackingServerUnavailable):
        registry.promote("fraud", "2", "production", force=True)

    # Then serving still reads version 1, as MLflow says once it is back
    backend.down = False
    assert served(storage) == "1" and backend.get_model("fraud").aliases == {"production": "1"}


def test_a_failed_manifest_write_puts_the_aliases_back(
    registry: ModelRegistry, backend: InMemoryRegistryBackend, storage: InMemoryStorage
) -> None:
    # Given 1 in production, 2 in staging, and a bucket that now refuses manifest writes
    registry.promote("fraud", "1", "production", force=True)
    registry.promote("fraud", "2", "staging")
    failing = FailingManifestWrites()
    failing.objects = storage.objects
    broken = ModelRegistry(backend=backend, models_bucket=BUCKET, storage=failing)

    # When 2 is promoted to production
    with pytest.raises(PromotionError, match=r"SlowDown.*production alias was put back \(version 1\)"):
        broken.promote("fraud", "2", "production")

    # Then MLflow and serving are as before: 1 in production, 2 in staging, stages unchanged
    assert backend.get_model("fraud").aliases == {"production": "1", "staging": "2"}
    assert served(storage) == "1" and served(storage, "staging") == "2"
    assert stage_of(backend, "1") == "production" and stage_of(backend, "2") == "staging"


def test_a_first_promotion_whose_manifest_fails_leaves_no_alias(backend: InMemoryRegistryBackend) -> None:
    broken = ModelRegistry(backend=backend, models_bucket=BUCKET, storage=FailingManifestWrites())

    with pytest.raises(PromotionError, match=r"put back \(no version\)"):
        broken.promote("fraud", "1", "production", force=True)

    assert backend.get_model("fraud").aliases == {}


def test_aliases_that_cannot_be_put_back_are_left_for_the_sync_and_the_error_says_so(
    registry: ModelRegistry, backend: InMemoryRegistryBackend, storage: InMemoryStorage
) -> None:
    registry.promote("fraud", "1", "production", force=True)
    failing = FailingManifestWrites()
    failing.objects = storage.objects
    broken = ModelRegistry(backend=backend, models_bucket=BUCKET, storage=failing)
    real_set_alias = backend.set_alias
    calls: list[tuple[Any, ...]] = []

    def first_call_only(*args: Any) -> None:
        calls.append(args)
        if len(calls) > 1:
            raise TrackingServerUnavailable("mlflow.test went away")
        real_set_alias(*args)

    backend.set_alias = first_call_only  # type: ignore[method-assign]

    with pytest.raises(PromotionError, match=r"could not be put back.*registry sync publishes it"):
        broken.promote("fraud", "2", "production", force=True)

    assert backend.get_model("fraud").aliases == {"production": "2"} and served(storage) == "1"


class FailingUploads(InMemoryStorage):
    def upload(self, bucket: str, key: str, path: Path) -> None:
        raise OSError("disk full")


def test_a_failed_publish_leaves_mlflow_and_serving_untouched(
    registry: ModelRegistry, backend: InMemoryRegistryBackend, storage: InMemoryStorage
) -> None:
    registry.promote("fraud", "1", "production", force=True)
    registry.promote("fraud", "2", "staging")
    failing = FailingUploads()
    failing.objects = storage.objects  # the same bucket, whose uploads now fail
    broken = ModelRegistry(backend=backend, models_bucket=BUCKET, storage=failing)
    tags_before = backend.get_version("fraud", "2").tags
    model_tags_before = backend.get_model("fraud").tags

    with pytest.raises(PromotionError, match="disk full"):
        broken.promote("fraud", "2", "production")

    assert served(storage) == "1" and served(storage, "staging") == "2"
    assert backend.get_model("fraud").aliases == {"production": "1", "staging": "2"}
    assert backend.get_version("fraud", "2").tags == tags_before
    assert backend.get_model("fraud").tags == model_tags_before
    assert stage_of(backend, "1") == "production"


def test_a_version_serving_cannot_load_is_refused_a_served_stage(
    registry: ModelRegistry, backend: InMemoryRegistryBackend, storage: InMemoryStorage
) -> None:
    bucketless = ModelRegistry(backend=backend, storage=storage)

    with pytest.raises(NotServableError, match="input schema"):
        registry.promote("fraud", "4", "staging")
    with pytest.raises(NotServableError, match="flavor"):
        bucketless.promote("fraud", "4", "staging")

    assert backend.get_model("fraud").aliases == {}
    assert "modelwatch.stage_history" not in backend.get_version("fraud", "4").tags
    assert storage.keys(BUCKET) == []
    assert registry.promote("fraud", "4", "archived").transition.to_stage is Stage.ARCHIVED  # not served


def test_without_a_bucket_the_alias_moves_and_the_result_says_so(
    backend: InMemoryRegistryBackend, storage: InMemoryStorage
) -> None:
    registry = ModelRegistry(backend=backend, storage=storage)

    result = registry.promote("fraud", "1", "staging")

    assert result.manifest is None and result.note == NO_BUCKET_NOTE
    assert backend.get_model("fraud").aliases == {"staging": "1"}
    assert storage.keys(BUCKET) == []


def test_mlflow_down_changes_nothing(
    registry: ModelRegistry, backend: InMemoryRegistryBackend, storage: InMemoryStorage
) -> None:
    registry.promote("fraud", "1", "production", force=True)
    backend.down = True

    with pytest.raises(TrackingServerUnavailable, match=r"mlflow\.test"):
        registry.promote("fraud", "2", "production", force=True)

    backend.down = False
    assert served(storage) == "1" and backend.get_model("fraud").aliases == {"production": "1"}


def test_a_version_that_does_not_score_is_never_published(
    registry: ModelRegistry, backend: InMemoryRegistryBackend, storage: InMemoryStorage
) -> None:
    # Given a version whose model was fitted on two features, registered with a one-feature schema
    import io

    import joblib
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    wide = LogisticRegression().fit(np.array([[0.0, 1.0], [1.0, 0.0]]), [0, 1])
    buffer = io.BytesIO()
    joblib.dump(wide, buffer)
    backend.add_version(
        "fraud",
        "5",
        {**SERVABLE, "modelwatch.stage": "development"},
        {"model.joblib": buffer.getvalue(), "input_schema.json": SCHEMA.model_dump_json().encode()},
    )
    # When it is promoted to staging, then nothing moves and nothing is published
    with pytest.raises(
        NotServableError, match="version 5 of model 'fraud' would not serve: scoring an example"
    ):
        registry.promote("fraud", "5", "staging")
    assert stage_of(backend, "5") == "development" and backend.get_model("fraud").aliases == {}
    assert storage.keys(BUCKET) == []
    # Unless told not to check: it is then published (serving will check again, and keep the old version)
    registry.promote("fraud", "5", "staging", check_serves=False)
    assert served(storage, "staging") == "5"


def test_a_corrupt_artifact_is_refused_before_anything_moves(
    backend: InMemoryRegistryBackend, storage: InMemoryStorage
) -> None:
    corrupt = {**files("v6"), "model.joblib": b"not a pickle"}
    backend.add_version("fraud", "6", {**SERVABLE, "modelwatch.stage": "development"}, corrupt)
    registry = ModelRegistry(backend=backend, storage=storage)  # no bucket: the check still runs

    with pytest.raises(NotServableError, match="cannot load scikit-learn model"):
        registry.promote("fraud", "6", "staging")
    assert stage_of(backend, "6") == "development"
