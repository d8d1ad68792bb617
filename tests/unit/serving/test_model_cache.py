"""The model cache: load once, follow the manifest every TTL, never drop a working version."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from modelwatch.contracts.schema import InputSchema
from modelwatch.serving.model_cache import ModelCache, ModelState, ModelUnavailable, UnknownModel
from tests.unit.fakes import FakeClock, FakeLoader, FakeManifestSource, RecordingFetcher

TTL = 30.0


class Failures:
    def __init__(self) -> None:
        self.reported: list[tuple[str, str]] = []

    def __call__(self, model: str, error: str) -> None:
        self.reported.append((model, error))


@pytest.fixture
def loader() -> FakeLoader:
    return FakeLoader()


@pytest.fixture
def fetcher() -> RecordingFetcher:
    return RecordingFetcher()


@pytest.fixture
def failures() -> Failures:
    return Failures()


@pytest.fixture
def cache(
    manifests: FakeManifestSource,
    fetcher: RecordingFetcher,
    loader: FakeLoader,
    clock: FakeClock,
    failures: Failures,
) -> ModelCache:
    return ModelCache(
        manifests,
        fetcher,
        served_models=["fraud", "churn"],
        ttl_seconds=TTL,
        loader=loader,
        check=loader.check,
        clock=clock,
        on_load_failure=failures,
    )


def test_loads_once_and_serves_from_memory(
    cache: ModelCache,
    manifests: FakeManifestSource,
    fetcher: RecordingFetcher,
    loader: FakeLoader,
    clock: FakeClock,
    make_manifest: Any,
) -> None:
    # Given a published manifest
    manifests.publish(make_manifest(version="1", artifact_uri="/artifacts/1.joblib"))
    # When the model is asked for several times within the TTL
    first = cache.get("fraud")
    clock.advance(TTL - 0.001)
    again = cache.get("fraud")
    # Then the manifest was read, the artifact fetched and loaded exactly once
    assert again is first
    assert first.manifest.version == "1"
    assert first.predictor.predict([{}, {}]) == ["1", "1"]
    assert manifests.reads == [("fraud", "production", None)]
    assert fetcher.fetched == ["/artifacts/1.joblib"]
    assert loader.attempts == ["1"]


def test_unchanged_manifest_after_ttl_is_a_conditional_read_without_reload(
    cache: ModelCache, manifests: FakeManifestSource, loader: FakeLoader, clock: FakeClock, make_manifest: Any
) -> None:
    etag = manifests.publish(make_manifest(version="1"))
    cache.get("fraud")
    # When the TTL has passed
    clock.advance(TTL)
    served = cache.get("fraud")
    # Then the manifest is re-read conditionally on its ETag (a 304) and nothing reloads
    assert manifests.reads[-1] == ("fraud", "production", etag)
    assert len(manifests.reads) == 2
    assert loader.attempts == ["1"]
    assert served.manifest.version == "1"


def test_new_manifest_version_loads_the_new_model(
    cache: ModelCache, manifests: FakeManifestSource, loader: FakeLoader, clock: FakeClock, make_manifest: Any
) -> None:
    manifests.publish(make_manifest(version="1"))
    assert cache.get("fraud").manifest.version == "1"
    # Given a promotion to version 2
    manifests.publish(make_manifest(version="2", artifact_uri="/artifacts/2.joblib"))
    # Then it is not picked up before the TTL ...
    clock.advance(TTL / 2)
    assert cache.get("fraud").manifest.version == "1"
    # ... and is served once the TTL has passed
    clock.advance(TTL / 2)
    loaded = cache.get("fraud")
    assert loaded.manifest.version == "2"
    assert loaded.predictor.predict([{}]) == ["2"]
    assert loader.attempts == ["1", "2"]


def test_identical_manifest_with_new_etag_does_not_reload(
    cache: ModelCache, manifests: FakeManifestSource, loader: FakeLoader, clock: FakeClock, make_manifest: Any
) -> None:
    manifest = make_manifest(version="1")
    manifests.publish(manifest)
    cache.get("fraud")
    new_etag = manifests.publish(manifest)  # the same document written again
    clock.advance(TTL)
    cache.get("fraud")
    clock.advance(TTL)
    cache.get("fraud")
    assert loader.attempts == ["1"]
    # The new ETag is remembered, so the next check is a cheap 304.
    assert manifests.reads[-1] == ("fraud", "production", new_etag)


def test_broken_new_version_keeps_the_previous_one_serving(
    cache: ModelCache,
    manifests: FakeManifestSource,
    loader: FakeLoader,
    clock: FakeClock,
    failures: Failures,
    make_manifest: Any,
) -> None:
    # Given version 1 served, then a promotion to a broken version 2
    manifests.publish(make_manifest(version="1"))
    cache.get("fraud")
    loader.broken.add("2")
    manifests.publish(make_manifest(version="2"))
    clock.advance(TTL)
    # When the model is asked for
    served = cache.get("fraud")
    # Then version 1 keeps answering, and the failure is reported
    assert served.manifest.version == "1"
    assert served.predictor.predict([{}]) == ["1"]
    assert failures.reported == [("fraud", "2")]
    degraded = cache.state("fraud")
    assert (degraded.state, degraded.serving_version, degraded.failed_version) == ("degraded", "1", "2")
    assert degraded.reason == "artifact_unloadable" and "secret-bucket" not in degraded.message
    assert "churn" not in cache.status()  # never asked for: nothing to report
    # And the load is not retried within the TTL ...
    cache.get("fraud")
    assert loader.attempts == ["1", "2"]
    # ... but is retried after it, and succeeds once the artifact is fixed
    clock.advance(TTL)
    assert cache.get("fraud").manifest.version == "1"
    assert loader.attempts == ["1", "2", "2"]
    loader.broken.clear()
    clock.advance(TTL)
    assert cache.get("fraud").manifest.version == "2"
    assert loader.attempts == ["1", "2", "2", "2"]
    assert len(failures.reported) == 2
    assert cache.state("fraud").state == "ready" and cache.state("fraud").failed_version is None


def test_first_load_failure_is_model_unavailable(
    cache: ModelCache,
    manifests: FakeManifestSource,
    loader: FakeLoader,
    failures: Failures,
    make_manifest: Any,
) -> None:
    loader.broken.add("1")
    manifests.publish(make_manifest(version="1"))
    with pytest.raises(
        ModelUnavailable, match="version 1 is not served because its artifact cannot be loaded"
    ):
        cache.get("fraud")
    assert failures.reported == [("fraud", "1")]
    assert (
        cache.state("fraud").state == "unavailable" and cache.state("fraud").reason == "artifact_unloadable"
    )
    # Within the TTL the failure is answered from memory, without another attempt.
    with pytest.raises(ModelUnavailable, match="version 1 is not served"):
        cache.get("fraud")
    assert loader.attempts == ["1"]


def test_artifact_fetch_failure_is_a_load_failure(
    manifests: FakeManifestSource,
    loader: FakeLoader,
    clock: FakeClock,
    failures: Failures,
    make_manifest: Any,
    tmp_path: Path,
) -> None:
    class MissingArtifacts:
        def fetch(self, uri: str) -> Path:
            raise FileNotFoundError(f"artifact not found: {uri}")

    cache = ModelCache(
        manifests,
        MissingArtifacts(),
        ["fraud"],
        loader=loader,
        check=loader.check,
        clock=clock,
        on_load_failure=failures,
    )
    manifests.publish(make_manifest(artifact_uri="s3://models/gone.joblib"))
    with pytest.raises(ModelUnavailable, match="its artifact cannot be loaded") as caught:
        cache.get("fraud")
    assert "gone.joblib" not in str(caught.value)  # the bucket and key stay in the log
    assert loader.attempts == []
    assert len(failures.reported) == 1


def test_unknown_model(cache: ModelCache) -> None:
    with pytest.raises(UnknownModel):
        cache.get("not-served")


def test_served_model_without_manifest_is_unknown(cache: ModelCache) -> None:
    with pytest.raises(UnknownModel):
        cache.get("churn")


def test_served_model_without_manifest_stays_unknown_within_the_ttl(
    cache: ModelCache, clock: FakeClock
) -> None:
    with pytest.raises(UnknownModel):
        cache.get("churn")
    clock.advance(1)
    with pytest.raises(UnknownModel):
        cache.get("churn")


def test_manifest_read_error_keeps_serving(
    cache: ModelCache, manifests: FakeManifestSource, clock: FakeClock, make_manifest: Any
) -> None:
    manifests.publish(make_manifest(version="1"))
    cache.get("fraud")
    # Given S3 becomes unreachable
    manifests.error = ConnectionError("S3 unreachable")
    clock.advance(TTL)
    # Then the loaded version keeps serving, and the read is retried only after another TTL
    assert cache.get("fraud").manifest.version == "1"
    reads = len(manifests.reads)
    assert cache.get("fraud").manifest.version == "1"
    assert len(manifests.reads) == reads
    clock.advance(TTL)
    cache.get("fraud")
    assert len(manifests.reads) == reads + 1
    # And the state says serving cannot see the manifest (200 in /health: the model serves)
    state = cache.state("fraud")
    assert (state.state, state.serving_version, state.reason) == ("degraded", "1", "manifest_unreadable")
    assert state.message == (
        "serving version 1, but its manifest cannot be read: a version published since is not seen"
    )
    # Once a read succeeds again (unchanged: a 304), it is ready again
    manifests.error = None
    clock.advance(TTL)
    cache.get("fraud")
    assert cache.state("fraud") == ModelState("ready", "1")


def test_manifest_read_error_before_first_load(cache: ModelCache, manifests: FakeManifestSource) -> None:
    manifests.error = ConnectionError("S3 unreachable")
    with pytest.raises(ModelUnavailable, match="because its manifest cannot be read"):
        cache.get("fraud")
    assert cache.state("fraud").reason == "manifest_unreadable"


def test_removed_manifest_keeps_the_loaded_version(
    cache: ModelCache, manifests: FakeManifestSource, clock: FakeClock, make_manifest: Any
) -> None:
    manifests.publish(make_manifest(version="1"))
    cache.get("fraud")
    manifests.remove("fraud")
    clock.advance(TTL)
    assert cache.get("fraud").manifest.version == "1"


def test_manifest_naming_another_model_is_refused(
    cache: ModelCache,
    manifests: FakeManifestSource,
    loader: FakeLoader,
    failures: Failures,
    make_manifest: Any,
) -> None:
    # Given a manifest at fraud's key that names "churn" (a copy-paste mistake)
    manifests.publish(make_manifest(model="churn"), at=("fraud", "production"))
    with pytest.raises(ModelUnavailable, match="its manifest names another model"):
        cache.get("fraud")
    assert loader.attempts == []
    assert failures.reported == [("fraud", "1")]


def test_other_alias(
    manifests: FakeManifestSource, loader: FakeLoader, clock: FakeClock, make_manifest: Any
) -> None:
    manifests.publish(make_manifest(version="1"))
    manifests.publish(make_manifest(version="9", alias="staging"))
    cache = ModelCache(
        manifests,
        RecordingFetcher(),
        ["fraud"],
        alias="staging",
        loader=loader,
        check=loader.check,
        clock=clock,
    )
    assert cache.get("fraud").manifest.version == "9"


def test_zero_ttl_checks_on_every_request(
    manifests: FakeManifestSource, loader: FakeLoader, clock: FakeClock, make_manifest: Any
) -> None:
    manifests.publish(make_manifest())
    cache = ModelCache(
        manifests,
        RecordingFetcher(),
        ["fraud"],
        ttl_seconds=0,
        loader=loader,
        check=loader.check,
        clock=clock,
    )
    for _ in range(3):
        cache.get("fraud")
    assert len(manifests.reads) == 3
    assert loader.attempts == ["1"]


def test_manifest_for_listing(
    cache: ModelCache, manifests: FakeManifestSource, loader: FakeLoader, make_manifest: Any
) -> None:
    manifests.publish(make_manifest(model="churn", version="4"))
    # Not loaded: read from the source without loading the artifact
    listed = cache.manifest("churn")
    assert listed is not None and listed.version == "4"
    assert loader.attempts == []
    # Unknown to the source: None
    assert cache.manifest("ghost") is None
    # Loaded: answered from memory
    manifests.publish(make_manifest(version="1"))
    cache.get("fraud")
    reads = len(manifests.reads)
    fraud = cache.manifest("fraud")
    assert fraud is not None and fraud.version == "1"
    assert len(manifests.reads) == reads


def test_status_and_served_models(
    cache: ModelCache, manifests: FakeManifestSource, loader: FakeLoader, make_manifest: Any
) -> None:
    assert cache.served_models == [] and cache.status() == {}
    manifests.publish(make_manifest())
    manifests.publish(make_manifest(model="churn", version="5"))
    loader.broken.add("5")
    cache.get("fraud")
    with pytest.raises(ModelUnavailable):
        cache.get("churn")
    assert cache.served_models == ["fraud", "churn"]
    assert {name: state.state for name, state in cache.status().items()} == {
        "fraud": "ready",
        "churn": "unavailable",
    }


def test_concurrent_first_requests_wait_for_the_load(
    manifests: FakeManifestSource, clock: FakeClock, make_manifest: Any
) -> None:
    # Given a load that is in flight (held open until released)
    loading, release = threading.Event(), threading.Event()
    loads: list[str] = []

    def held_loader(manifest: Any, path: Path) -> Any:
        loads.append(manifest.version)
        loading.set()
        release.wait(5)
        return FakeLoader()(manifest, path)

    manifests.publish(make_manifest())
    cache = ModelCache(
        manifests, RecordingFetcher(), ["fraud"], loader=held_loader, check=FakeLoader().check, clock=clock
    )
    results: list[str] = []

    def ask() -> None:
        try:
            results.append(cache.get("fraud").manifest.version)
        except Exception as error:
            results.append(type(error).__name__)

    first = threading.Thread(target=ask)
    first.start()
    assert loading.wait(5)
    # When 7 more requests arrive during the load
    others = [threading.Thread(target=ask) for _ in range(7)]
    for thread in others:
        thread.start()
    time.sleep(0.05)
    release.set()
    for thread in [first, *others]:
        thread.join(5)
    # Then the model was loaded once and every request got it
    assert loads == ["1"]
    assert results == ["1"] * 8


def test_default_loader_loads_a_real_sklearn_artifact(
    manifests: FakeManifestSource,
    clock: FakeClock,
    make_manifest: Any,
    sklearn_classifier: Any,
    numeric_schema: InputSchema,
) -> None:
    manifests.publish(make_manifest(artifact_uri=str(sklearn_classifier.path)))
    cache = ModelCache(manifests, RecordingFetcher(), ["fraud"], clock=clock)
    predictions = cache.get("fraud").predictor.predict([{"amount": 10.0, "hour": 3, "is_foreign": False}])
    assert len(predictions) == 1
    assert 0.0 <= predictions[0] <= 1.0


def test_a_version_that_loads_but_cannot_score_never_replaces_the_one_serving(
    cache: ModelCache,
    manifests: FakeManifestSource,
    loader: FakeLoader,
    clock: FakeClock,
    failures: Failures,
    make_manifest: Any,
) -> None:
    # Given version 1 serving, then version 2 published: it loads, but scores no instance
    manifests.publish(make_manifest(version="1"))
    cache.get("fraud")
    loader.unscorable.add("2")
    manifests.publish(make_manifest(version="2"))
    clock.advance(TTL)
    # When requests come in
    served = cache.get("fraud")
    # Then version 1 answers, the failure is reported, and the state names both versions
    assert served.manifest.version == "1" and loader.checked == ["1", "2"]
    assert failures.reported == [("fraud", "2")]
    state = cache.state("fraud")
    assert (state.state, state.serving_version, state.failed_version, state.reason) == (
        "degraded",
        "1",
        "2",
        "scoring_failed",
    )
    assert state.message == (
        "serving version 1: version 2 is not served because it cannot score the schema's example instance"
    )


def test_the_real_check_refuses_a_model_fitted_on_other_features(
    manifests: FakeManifestSource,
    clock: FakeClock,
    make_manifest: Any,
    sklearn_classifier: Any,
    tmp_path: Path,
) -> None:
    # A 3-feature model published for a schema of 2 features: it loads, it cannot score.
    import joblib
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from modelwatch.contracts.schema import FeatureSpec, FeatureType

    wider = LogisticRegression().fit(np.array([[0.0, 1.0, 2.0], [1.0, 0.0, 3.0]]), [0, 1])
    path = tmp_path / "wider.joblib"
    joblib.dump(wider, path)
    narrow = InputSchema(
        features=[
            FeatureSpec(name="a", type=FeatureType.NUMBER),
            FeatureSpec(name="b", type=FeatureType.NUMBER),
        ]
    )
    manifests.publish(make_manifest(version="1", artifact_uri=str(sklearn_classifier.path)))
    cache = ModelCache(manifests, RecordingFetcher(), ["fraud"], ttl_seconds=0, clock=clock)
    assert cache.get("fraud").manifest.version == "1"
    manifests.publish(make_manifest(version="2", artifact_uri=str(path), input_schema=narrow))

    assert cache.get("fraud").manifest.version == "1"
    assert cache.state("fraud").reason == "scoring_failed"


def test_listings_read_a_manifest_once_per_ttl_and_survive_an_unreadable_one(
    manifests: FakeManifestSource, clock: FakeClock, make_manifest: Any
) -> None:
    cache = ModelCache(manifests, RecordingFetcher(), [], ttl_seconds=TTL, clock=clock)
    manifests.publish(make_manifest(model="churn", version="4"))

    assert cache.manifest("churn") is not None and cache.manifest("churn").version == "4"
    assert len(manifests.reads) == 1  # the second was answered from memory
    manifests.error = ConnectionError("SlowDown")
    clock.advance(TTL)
    assert cache.manifest("churn").version == "4"  # the last one seen
    assert cache.manifest("ghost") is None
