"""The model cache with a rollout: the candidate loaded beside production, reloaded only when it changes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from modelwatch.contracts.manifest import ServingManifest
from modelwatch.contracts.rollout import Rollout, RolloutCandidate
from modelwatch.serving.model_cache import MB, ModelCache
from tests.unit.fakes import FakeClock, FakeLoader, FakeManifestSource, RecordingFetcher

TTL = 30.0


class Sizes:
    """Each artifact's cost in MB, by its file name (the fake fetcher's path is the URI)."""

    def __init__(self) -> None:
        self.mb: dict[str, float] = {}

    def __call__(self, path: Path, growth: int) -> int:
        return int(self.mb.get(path.name, 1) * MB)


def with_rollout(production: ServingManifest, version: str = "2", **overrides: Any) -> ServingManifest:
    candidate = RolloutCandidate(
        version=version,
        flavor=overrides.pop("flavor", "sklearn"),
        artifact_uri=f"/artifacts/{version}.joblib",
        input_schema=production.input_schema,
        prediction_type="probability",
    )
    values: dict[str, Any] = {
        "id": "fraud-ab-1",
        "mode": "ab",
        "candidate": candidate,
        "production_version": production.version,
        "share": 0.25,
        **overrides,
    }
    return production.model_copy(update={"rollout": Rollout(**values)})


@pytest.fixture
def loader() -> FakeLoader:
    return FakeLoader()


@pytest.fixture
def fetcher() -> RecordingFetcher:
    return RecordingFetcher()


@pytest.fixture
def sizes() -> Sizes:
    return Sizes()


@pytest.fixture
def failures() -> list[tuple[str, str]]:
    return []


@pytest.fixture
def cache(
    manifests: FakeManifestSource,
    fetcher: RecordingFetcher,
    loader: FakeLoader,
    clock: FakeClock,
    sizes: Sizes,
    failures: list[tuple[str, str]],
) -> ModelCache:
    return ModelCache(
        manifests,
        fetcher,
        ttl_seconds=TTL,
        loader=loader,
        check=loader.check,
        clock=clock,
        measure=sizes,
        served_flavors={"sklearn"},
        budget_bytes=10 * MB,
        on_load_failure=lambda model, version: failures.append((model, version)),
    )


@pytest.fixture
def production(make_manifest: Any) -> ServingManifest:
    manifest: ServingManifest = make_manifest(version="1", artifact_uri="/artifacts/1.joblib")
    return manifest


def test_an_active_rollout_loads_its_candidate_beside_production(
    cache: ModelCache, manifests: FakeManifestSource, loader: FakeLoader, production: ServingManifest
) -> None:
    manifests.publish(with_rollout(production))
    loaded = cache.get("fraud")
    assert loaded.predictor.predict([{}]) == ["1"]
    assert loaded.candidate is not None
    assert loaded.candidate.predictor is not None and loaded.candidate.predictor.predict([{}]) == ["2"]
    assert (loaded.candidate.version, loaded.candidate.rollout.share) == ("2", 0.25)
    # The candidate is loaded and checked like production, and counted as a load
    assert loader.attempts == ["1", "2"] and loader.checked == ["1", "2"]
    assert cache.stats().loads == 2
    assert cache.state("fraud").candidate is loaded.candidate


@pytest.mark.parametrize(
    "rollout", [{"share": 0.0}, {"state": "rolled_back", "share": 0.0}, {"state": "stopped"}]
)
def test_a_rollout_that_is_not_active_loads_no_candidate(
    cache: ModelCache,
    manifests: FakeManifestSource,
    loader: FakeLoader,
    production: ServingManifest,
    rollout: dict[str, Any],
) -> None:
    manifests.publish(with_rollout(production, **rollout))
    assert cache.get("fraud").candidate is None
    assert loader.attempts == ["1"]


def test_a_change_of_share_or_step_reloads_nothing(
    cache: ModelCache,
    manifests: FakeManifestSource,
    loader: FakeLoader,
    fetcher: RecordingFetcher,
    clock: FakeClock,
    production: ServingManifest,
) -> None:
    # Given a canary at its first step
    steps = [{"share": 0.05}, {"share": 0.5}]
    manifests.publish(with_rollout(production, mode="canary", share=0.05, steps=steps))
    first = cache.get("fraud")
    # When the rollout job advances it to the next step (only the rollout changes)
    manifests.publish(with_rollout(production, mode="canary", share=0.5, steps=steps, step=1))
    clock.advance(TTL)
    advanced = cache.get("fraud")
    # Then the new share is served by the same predictors: no download, no load
    assert advanced.candidate is not None and first.candidate is not None
    assert (advanced.candidate.rollout.share, advanced.candidate.rollout.step) == (0.5, 1)
    assert advanced.predictor is first.predictor
    assert advanced.candidate.predictor is first.candidate.predictor
    assert loader.attempts == ["1", "2"]
    assert fetcher.fetched == ["/artifacts/1.joblib", "/artifacts/2.joblib"]
    assert cache.stats().used_bytes == 2 * MB


def test_a_new_candidate_version_reloads_only_the_candidate(
    cache: ModelCache,
    manifests: FakeManifestSource,
    loader: FakeLoader,
    clock: FakeClock,
    production: ServingManifest,
) -> None:
    manifests.publish(with_rollout(production, version="2"))
    first = cache.get("fraud")
    manifests.publish(with_rollout(production, version="3", id="fraud-ab-2"))
    clock.advance(TTL)
    loaded = cache.get("fraud")
    assert loaded.predictor is first.predictor
    assert loaded.candidate is not None and loaded.candidate.predictor is not None
    assert loaded.candidate.predictor.predict([{}]) == ["3"]
    assert loader.attempts == ["1", "2", "3"]


def test_a_stopped_rollout_frees_its_candidate_and_keeps_production(
    cache: ModelCache,
    manifests: FakeManifestSource,
    loader: FakeLoader,
    clock: FakeClock,
    sizes: Sizes,
    production: ServingManifest,
) -> None:
    sizes.mb["2.joblib"] = 4
    manifests.publish(with_rollout(production))
    first = cache.get("fraud")
    assert cache.stats().used_bytes == 5 * MB  # production 1 MB, candidate 4 MB
    manifests.publish(with_rollout(production, state="stopped"))
    clock.advance(TTL)
    loaded = cache.get("fraud")
    assert loaded.candidate is None and loaded.predictor is first.predictor
    assert cache.stats().used_bytes == 1 * MB
    assert loader.attempts == ["1", "2"]


def test_the_candidate_counts_toward_the_budget(
    cache: ModelCache,
    manifests: FakeManifestSource,
    clock: FakeClock,
    sizes: Sizes,
    make_manifest: Any,
    production: ServingManifest,
) -> None:
    # Given another model of 4 MB loaded, and fraud's production (1 MB) with a 6 MB candidate
    sizes.mb.update({"churn.joblib": 4, "2.joblib": 6})
    manifests.publish(make_manifest(model="churn", version="1", artifact_uri="/artifacts/churn.joblib"))
    cache.get("churn")
    # When fraud is loaded with its candidate (7 MB together; 11 MB with churn, over the 10 MB budget)
    manifests.publish(with_rollout(production))
    loaded = cache.get("fraud")
    # Then churn is evicted to make room for them
    assert loaded.candidate is not None and loaded.candidate.predictor is not None
    stats = cache.stats()
    assert (stats.models_loaded, stats.used_bytes, stats.evictions) == (1, 7 * MB, 1)
    assert cache.served_models == ["fraud"]


def test_a_candidate_that_cannot_load_leaves_production_serving_and_is_retried_after_the_ttl(
    cache: ModelCache,
    manifests: FakeManifestSource,
    loader: FakeLoader,
    clock: FakeClock,
    production: ServingManifest,
    failures: list[tuple[str, str]],
) -> None:
    # Given a rollout whose candidate's artifact is corrupt
    loader.broken.add("2")
    manifests.publish(with_rollout(production))
    loaded = cache.get("fraud")
    # Then production serves, the candidate has no predictor and says why (no error detail)
    assert loaded.predictor.predict([{}]) == ["1"]
    assert loaded.candidate is not None and loaded.candidate.predictor is None
    assert loaded.candidate.reason == "artifact_unloadable"
    assert (
        loaded.candidate.message == "candidate version 2 is not served because its artifact cannot be loaded"
    )
    assert "secret-bucket" not in loaded.candidate.message
    assert cache.state("fraud").state == "ready"  # production itself is fine
    assert failures == [("fraud", "2")]
    # And it is not retried within the TTL ...
    clock.advance(TTL / 2)
    cache.get("fraud")
    assert loader.attempts == ["1", "2"]
    # ... but after it, with the same manifest (production is not reloaded)
    clock.advance(TTL / 2)
    cache.get("fraud")
    assert loader.attempts == ["1", "2", "2"]
    # And once the artifact is fixed, the retry takes it
    loader.broken.clear()
    clock.advance(TTL)
    fixed = cache.get("fraud")
    assert fixed.candidate is not None and fixed.candidate.predictor is not None
    assert fixed.predictor is loaded.predictor
    assert loader.attempts == ["1", "2", "2", "2"]
    # And then a healthy candidate is not reloaded on an unchanged manifest
    clock.advance(TTL)
    cache.get("fraud")
    assert loader.attempts == ["1", "2", "2", "2"]


def test_a_candidate_that_cannot_score_or_of_another_flavour_is_unavailable(
    cache: ModelCache,
    manifests: FakeManifestSource,
    loader: FakeLoader,
    clock: FakeClock,
    production: ServingManifest,
) -> None:
    loader.unscorable.add("2")
    manifests.publish(with_rollout(production))
    candidate = cache.get("fraud").candidate
    assert candidate is not None and (candidate.predictor, candidate.reason) == (None, "scoring_failed")
    # A candidate whose flavour this function does not carry is not even fetched
    manifests.publish(with_rollout(production, version="3", flavor="onnx"))
    clock.advance(TTL)
    candidate = cache.get("fraud").candidate
    assert candidate is not None and (candidate.predictor, candidate.reason) == (None, "flavor_not_served")
    assert "3" not in loader.attempts


def test_a_broken_production_keeps_the_previous_model_and_its_rollout(
    cache: ModelCache,
    manifests: FakeManifestSource,
    loader: FakeLoader,
    clock: FakeClock,
    production: ServingManifest,
) -> None:
    manifests.publish(with_rollout(production))
    first = cache.get("fraud")
    loader.broken.add("5")
    manifests.publish(with_rollout(production.model_copy(update={"version": "5"}), version="6"))
    clock.advance(TTL)
    loaded = cache.get("fraud")
    assert loaded is first
    assert cache.state("fraud").state == "degraded"
    assert "6" not in loader.attempts  # the candidate of a manifest that could not be taken
