"""The model cache of a fleet: any model with a manifest, bounded by memory, negative entries, 503s."""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from modelwatch.contracts import layout
from modelwatch.contracts.manifest import ServingManifest
from modelwatch.serving.model_cache import (
    MAX_NEGATIVE_ENTRIES,
    MB,
    FlavorNotServed,
    ModelCache,
    ModelUnavailable,
    UnknownModel,
    measured_cost,
)
from modelwatch.stores.manifests import ManifestStore
from modelwatch.stores.objects import InMemoryStorage
from tests.unit.fakes import ConstantPredictor, FakeClock, FakeLoader, FakeManifestSource, RecordingFetcher

TTL = 30.0
NEGATIVE_TTL = 10.0


class Sizes:
    """Each artifact's cost in MB, by its file name (the fake fetcher's path is the URI)."""

    def __init__(self) -> None:
        self.mb: dict[str, float] = {}

    def __call__(self, path: Path, growth: int) -> int:
        return int(self.mb.get(path.name, 1) * MB)


class Evictions:
    def __init__(self) -> None:
        self.models: list[str] = []

    def __call__(self, model: str) -> None:
        self.models.append(model)


@pytest.fixture
def sizes() -> Sizes:
    return Sizes()


@pytest.fixture
def evictions() -> Evictions:
    return Evictions()


@pytest.fixture
def loader() -> FakeLoader:
    return FakeLoader()


def fleet_cache(
    manifests: FakeManifestSource,
    loader: FakeLoader,
    clock: FakeClock,
    sizes: Sizes,
    evictions: Evictions,
    budget_mb: float | None = 10,
    **kwargs: Any,
) -> ModelCache:
    return ModelCache(
        manifests,
        RecordingFetcher(),
        ttl_seconds=TTL,
        loader=loader,
        check=loader.check,
        clock=clock,
        served_flavors=kwargs.pop("served_flavors", {"sklearn"}),
        budget_bytes=None if budget_mb is None else int(budget_mb * MB),
        negative_ttl_seconds=NEGATIVE_TTL,
        on_eviction=evictions,
        measure=sizes,
        memory=lambda: None,
        **kwargs,
    )


@pytest.fixture
def cache(
    manifests: FakeManifestSource, loader: FakeLoader, clock: FakeClock, sizes: Sizes, evictions: Evictions
) -> ModelCache:
    return fleet_cache(manifests, loader, clock, sizes, evictions)


def publish(
    manifests: FakeManifestSource, make_manifest: Any, model: str, version: str = "1", **kw: Any
) -> None:
    manifests.publish(
        make_manifest(model=model, version=version, artifact_uri=f"/artifacts/{model}-{version}", **kw)
    )


def test_any_model_with_a_manifest_is_served_on_first_use(
    cache: ModelCache, manifests: FakeManifestSource, loader: FakeLoader, make_manifest: Any
) -> None:
    # Given three manifests and no configured list of models
    for model in ("fraud", "churn", "ltv"):
        publish(manifests, make_manifest, model)
    # When each is asked for
    served = {model: cache.get(model).manifest.model for model in ("ltv", "fraud", "churn")}
    # Then each was loaded on its first request, once
    assert served == {"ltv": "ltv", "fraud": "fraud", "churn": "churn"}
    assert len(loader.attempts) == 3
    assert cache.stats().models_loaded == 3
    assert sorted(cache.status()) == ["churn", "fraud", "ltv"]


def test_least_recently_used_is_evicted_when_a_load_passes_the_budget(
    cache: ModelCache,
    manifests: FakeManifestSource,
    sizes: Sizes,
    evictions: Evictions,
    make_manifest: Any,
) -> None:
    # Given a 10 MB budget holding a (4 MB) and b (4 MB), a used more recently than b
    for model in ("a", "b", "c"):
        publish(manifests, make_manifest, model)
        sizes.mb[f"{model}-1"] = 4
    cache.get("a")
    cache.get("b")
    cache.get("a")
    # When c (4 MB) is loaded: 12 MB would pass the budget
    cache.get("c")
    # Then b, the least recently used, is evicted and counted; a and c stay loaded
    assert evictions.models == ["b"]
    stats = cache.stats()
    assert (stats.models_loaded, stats.used_mb, stats.budget_mb, stats.evictions) == (2, 8.0, 10.0, 1)
    assert sorted(cache.status()) == ["a", "c"]


def test_an_evicted_model_is_reloaded_on_its_next_request(
    cache: ModelCache,
    manifests: FakeManifestSource,
    loader: FakeLoader,
    sizes: Sizes,
    evictions: Evictions,
    make_manifest: Any,
) -> None:
    for model in ("a", "b"):
        publish(manifests, make_manifest, model)
        sizes.mb[f"{model}-1"] = 6
    cache.get("a")
    cache.get("b")  # a is evicted: 12 MB would pass 10
    assert evictions.models == ["a"]
    # When a is asked for again, within the manifest TTL
    again = cache.get("a")
    # Then it is read and loaded again (b evicted in turn), and answers
    assert again.predictor.predict([{}]) == ["1"]
    assert evictions.models == ["a", "b"]
    assert [read[0] for read in manifests.reads] == ["a", "b", "a"]
    assert len(loader.attempts) == 3
    assert cache.stats().loads == 3


def test_a_model_bigger_than_the_budget_loads_alone(
    cache: ModelCache,
    manifests: FakeManifestSource,
    sizes: Sizes,
    evictions: Evictions,
    make_manifest: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for model in ("a", "b", "huge"):
        publish(manifests, make_manifest, model)
    sizes.mb.update({"a-1": 2, "b-1": 2, "huge-1": 25})
    cache.get("a")
    cache.get("b")
    # When a model of 25 MB is asked for with a budget of 10 MB
    huge = cache.get("huge")
    # Then it loads and serves, every other model is evicted, and the log says why
    assert huge.predictor.predict([{}]) == ["1"]
    assert evictions.models == ["a", "b"]
    stats = cache.stats()
    assert (stats.models_loaded, stats.used_mb) == (1, 25.0)
    assert "bigger than the cache budget" in caplog.text
    # And the next model evicts it in turn
    cache.get("a")
    assert evictions.models == ["a", "b", "huge"]


def test_room_is_made_for_the_artifact_before_its_load(
    manifests: FakeManifestSource,
    loader: FakeLoader,
    clock: FakeClock,
    evictions: Evictions,
    make_manifest: Any,
    tmp_path: Path,
) -> None:
    # Given real artifacts on disk (6 MB each) and the default cost: bytes on disk or RSS growth
    cache = ModelCache(
        manifests,
        RecordingFetcher(),
        loader=loader,
        check=loader.check,
        clock=clock,
        budget_bytes=10 * MB,
        on_eviction=evictions,
        memory=lambda: None,
    )
    loaded_when_b_loads: list[int] = []

    def observing_loader(manifest: ServingManifest, path: Path) -> Any:
        loaded_when_b_loads.append(cache.stats().models_loaded)
        return loader(manifest, path)

    cache._loader = observing_loader
    for model in ("a", "b"):
        artifact = tmp_path / f"{model}.joblib"
        artifact.write_bytes(b"\0" * (6 * MB))
        manifests.publish(make_manifest(model=model, artifact_uri=str(artifact)))
    cache.get("a")
    # When b is loaded
    cache.get("b")
    # Then a was evicted before b's load started (6 + 6 MB on disk would not fit)
    assert loaded_when_b_loads == [0, 0]
    assert evictions.models == ["a"]
    assert cache.stats().used_mb == 6.0


def test_cost_is_the_larger_of_the_bytes_on_disk_and_the_memory_growth(tmp_path: Path) -> None:
    artifact = tmp_path / "m.onnx"
    artifact.write_bytes(b"x" * 1000)
    assert measured_cost(artifact, 0) == 1000  # memory reused after an eviction: the file is the floor
    assert measured_cost(artifact, 5000) == 5000  # unpickled arrays bigger than the file
    assert measured_cost(tmp_path / "missing", 7) == 7


def test_running_out_of_memory_evicts_the_others_and_retries(
    cache: ModelCache,
    manifests: FakeManifestSource,
    loader: FakeLoader,
    evictions: Evictions,
    make_manifest: Any,
) -> None:
    for model in ("a", "b", "c"):
        publish(manifests, make_manifest, model)
    cache.get("a")
    cache.get("b")
    attempts: list[str] = []

    def hungry(manifest: ServingManifest, path: Path) -> Any:
        attempts.append(manifest.model)
        if cache.stats().models_loaded > 0:
            raise MemoryError
        return ConstantPredictor(manifest.version)

    cache._loader = hungry
    # When c's load runs out of memory while a and b are loaded
    served = cache.get("c")
    # Then a and b are evicted, the load is tried once more, and c serves: nothing crashes
    assert served.predictor.predict([{}]) == ["1"]
    assert attempts == ["c", "c"]
    assert evictions.models == ["a", "b"]


def test_unknown_model_is_remembered_for_the_negative_ttl(
    cache: ModelCache, manifests: FakeManifestSource, clock: FakeClock, make_manifest: Any
) -> None:
    # When a model with no manifest is asked for 100 times
    for _ in range(100):
        with pytest.raises(UnknownModel):
            cache.get("ghost")
    # Then its manifest was read once, and the other 99 were negative hits
    assert manifests.reads == [("ghost", "production", None)]
    assert cache.stats().negative_hits == 99
    assert "ghost" not in cache.status()  # not reported as a model of this function
    # And once published, it is served when the negative entry expires, not before
    publish(manifests, make_manifest, "ghost")
    clock.advance(NEGATIVE_TTL - 0.001)
    with pytest.raises(UnknownModel):
        cache.get("ghost")
    clock.advance(0.001)
    assert cache.get("ghost").manifest.model == "ghost"
    assert len(manifests.reads) == 2


def test_negative_entries_are_bounded(cache: ModelCache, manifests: FakeManifestSource) -> None:
    for index in range(MAX_NEGATIVE_ENTRIES + 10):
        with pytest.raises(UnknownModel):
            cache.get(f"ghost-{index}")
    assert len(cache._entries) == MAX_NEGATIVE_ENTRIES
    assert "ghost-0" not in cache._entries and f"ghost-{MAX_NEGATIVE_ENTRIES + 9}" in cache._entries


def test_an_invalid_name_is_unknown_without_any_read(
    cache: ModelCache, manifests: FakeManifestSource
) -> None:
    with pytest.raises(UnknownModel):
        cache.get("../secrets")
    assert manifests.reads == []


def test_a_model_of_another_flavour_is_flavor_not_served(
    cache: ModelCache, manifests: FakeManifestSource, loader: FakeLoader, clock: FakeClock, make_manifest: Any
) -> None:
    # Given an onnx model on a function that carries only sklearn
    publish(manifests, make_manifest, "churn", version="4", flavor="onnx", prediction_type="value")
    # When it is asked for
    with pytest.raises(FlavorNotServed) as raised:
        cache.get("churn")
    # Then nothing was downloaded or loaded, the error names the flavour and version
    assert (raised.value.flavor, raised.value.version) == ("onnx", "4")
    assert loader.attempts == []
    assert cache.status() == {}  # not a model of this function: /health does not report it
    # And the manifest is looked at again after the TTL (a route may still be on its way)
    clock.advance(TTL)
    with pytest.raises(FlavorNotServed):
        cache.get("churn")
    assert len(manifests.reads) == 2


def test_a_broken_model_is_unavailable_and_the_others_keep_serving(
    cache: ModelCache, manifests: FakeManifestSource, loader: FakeLoader, make_manifest: Any
) -> None:
    publish(manifests, make_manifest, "fraud")
    publish(manifests, make_manifest, "churn", version="7")
    loader.broken.add("7")
    cache.get("fraud")
    with pytest.raises(ModelUnavailable) as raised:
        cache.get("churn")
    assert (raised.value.model, raised.value.failed_version, raised.value.reason) == (
        "churn",
        "7",
        "artifact_unloadable",
    )
    assert cache.get("fraud").manifest.version == "1"
    states = cache.status()
    assert (states["churn"].state, states["churn"].failed_version) == ("unavailable", "7")
    assert states["fraud"].state == "ready"


def test_listing_comes_from_the_manifests_once_per_ttl(
    cache: ModelCache, manifests: FakeManifestSource, clock: FakeClock, make_manifest: Any
) -> None:
    publish(manifests, make_manifest, "fraud")
    publish(manifests, make_manifest, "churn")
    assert cache.model_names() == ["churn", "fraud"]
    publish(manifests, make_manifest, "ltv")
    assert cache.model_names() == ["churn", "fraud"]  # within the TTL
    assert manifests.listings == 1
    clock.advance(TTL)
    assert cache.model_names() == ["churn", "fraud", "ltv"]
    assert manifests.listings == 2


def test_the_optional_filter_limits_serving_and_listing(
    manifests: FakeManifestSource,
    loader: FakeLoader,
    clock: FakeClock,
    sizes: Sizes,
    evictions: Evictions,
    make_manifest: Any,
) -> None:
    cache = fleet_cache(manifests, loader, clock, sizes, evictions, served_models=["fraud"])
    publish(manifests, make_manifest, "fraud")
    publish(manifests, make_manifest, "churn")
    assert cache.model_names() == ["fraud"]
    with pytest.raises(UnknownModel):
        cache.get("churn")
    assert cache.get("fraud").manifest.model == "fraud"


def test_manifest_store_lists_the_models_of_an_alias(make_manifest: Any) -> None:
    storage = InMemoryStorage()
    store = ManifestStore(storage, "models")
    store.write(make_manifest(model="fraud"))
    store.write(make_manifest(model="churn", alias="staging"))
    store.write(make_manifest(model="ltv"))
    storage.put("models", "manifests/README.txt", b"not a manifest")
    assert store.models("production") == ["fraud", "ltv"]
    assert store.models("staging") == ["churn"]


def test_manifest_key_and_its_inverse() -> None:
    key = layout.manifest_key("fraud", "production")
    assert layout.model_of_manifest_key(key, "production") == "fraud"
    assert layout.model_of_manifest_key(key, "staging") is None
    assert layout.model_of_manifest_key("models/fraud/1/manifest.json", "production") is None
    assert layout.model_of_manifest_key("manifests/a/b/production.json", "production") is None


def test_memory_growth_is_charged_unless_the_load_imported_code(
    manifests: FakeManifestSource,
    loader: FakeLoader,
    clock: FakeClock,
    make_manifest: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a process whose resident memory grows 5 MB across every load
    resident = [100 * MB]

    def growing_loader(manifest: ServingManifest, path: Path) -> Any:
        resident[0] += 5 * MB
        if manifest.model == "first":  # the first model of its kind imports its runtime's modules
            monkeypatch.setitem(sys.modules, "fake_runtime_submodule", ModuleType("fake_runtime_submodule"))
        return loader(manifest, path)

    cache = ModelCache(
        manifests,
        RecordingFetcher(),
        loader=growing_loader,
        check=loader.check,
        clock=clock,
        budget_bytes=100 * MB,
        memory=lambda: resident[0],
    )
    for model in ("first", "second"):
        manifests.publish(make_manifest(model=model, artifact_uri="/nonexistent/model.joblib"))
    cache.get("first")
    assert cache.stats().used_mb == 0.0  # the growth was the runtime's: only the (absent) file counts
    cache.get("second")
    assert cache.stats().used_mb == 5.0  # no import: the growth is the model's


def test_names_asked_for_while_s3_is_down_are_bounded_too(
    cache: ModelCache, manifests: FakeManifestSource
) -> None:
    manifests.error = ConnectionError("SlowDown")
    for index in range(MAX_NEGATIVE_ENTRIES + 5):
        with pytest.raises(ModelUnavailable):
            cache.get(f"name-{index}")
    assert len(cache._entries) == MAX_NEGATIVE_ENTRIES
