"""The fleet cache through the prediction API: more models than fit, unknown, broken and misrouted models."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from modelwatch.serving.app import create_app
from modelwatch.serving.context import ServingContext
from modelwatch.serving.metrics import InMemoryServingMetrics
from modelwatch.serving.model_cache import MB, ModelCache
from modelwatch.settings import ServingSettings
from modelwatch.stores.artifacts import ArtifactStore
from modelwatch.stores.capture import MemorySink
from modelwatch.stores.objects import InMemoryStorage
from tests.unit.fakes import FakeClock, FakeManifestSource

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

TTL = 30.0
MODELS = ("fraud", "churn", "ltv", "credit")
GOOD = {"amount": 12.5, "hour": 3, "is_foreign": False}


@dataclass
class Fleet:
    client: TestClient
    manifests: FakeManifestSource
    metrics: InMemoryServingMetrics
    clock: FakeClock

    def predict(self, model: str) -> Any:
        return self.client.post(f"/v1/models/{model}/predict", json={"instances": [GOOD]})


@pytest.fixture
def fleet(tmp_path: Path, make_manifest: Any, sklearn_classifier: Any, garbage_file: Path) -> Fleet:
    # Four sklearn models (3 MB each, as charged) on one function with a 7 MB budget: two fit.
    settings = ServingSettings(
        models_bucket="models",
        rejected_stream="rejected",
        events_stream="events",
        manifest_ttl_seconds=TTL,
    )
    manifests = FakeManifestSource()
    for model in MODELS:
        manifests.publish(make_manifest(model=model, artifact_uri=str(sklearn_classifier.path)))
    manifests.publish(make_manifest(model="broken", version="9", artifact_uri=str(garbage_file)))
    manifests.publish(make_manifest(model="onnx_model", version="2", flavor="onnx", prediction_type="value"))
    metrics = InMemoryServingMetrics()
    clock = FakeClock()
    models = ModelCache(
        manifests,
        ArtifactStore(InMemoryStorage(), tmp_path / "cache"),
        ttl_seconds=TTL,
        clock=clock,
        on_load_failure=lambda model, _version: metrics.model_load_failure(model),
        served_flavors={"sklearn"},
        budget_bytes=7 * MB,
        on_eviction=metrics.model_eviction,
        measure=lambda _path, _growth: 3 * MB,
    )
    context = ServingContext(settings=settings, models=models, sink=MemorySink(), metrics=metrics)
    return Fleet(TestClient(create_app(context), raise_server_exceptions=False), manifests, metrics, clock)


def test_more_models_than_fit_are_evicted_and_reloaded(fleet: Fleet) -> None:
    # When four models are asked for, in turn, twice, on a function where two fit
    answers = [fleet.predict(model) for model in (*MODELS, *MODELS)]
    # Then every request is answered by its model
    assert [(a.status_code, a.json()["model"]) for a in answers] == [(200, m) for m in (*MODELS, *MODELS)]
    # And every load past the second evicted the least recently used model, counted
    evicted = {key[1]: n for key, n in fleet.metrics.counts.items() if key[0] == "model_evictions"}
    assert evicted == {"fraud": 2, "churn": 2, "ltv": 1, "credit": 1}
    health = fleet.client.get("/health").json()
    assert health["cache"] == {
        "models_loaded": 2,
        "used_mb": 6.0,
        "budget_mb": 7.0,
        "evictions": 6,
        "loads": 8,
        "negative_hits": 0,
    }
    assert sorted(health["models"]) == ["credit", "ltv"]  # what is loaded now
    assert health["models"]["ltv"]["state"] == "ready"


def test_unknown_model_is_404_and_one_manifest_read_per_negative_ttl(fleet: Fleet) -> None:
    answers = [fleet.predict("ghost") for _ in range(50)]
    assert {a.status_code for a in answers} == {404}
    error = answers[0].json()["error"]
    assert (error["code"], error["message"]) == ("unknown_model", "model 'ghost' is not served here")
    assert [read for read in fleet.manifests.reads if read[0] == "ghost"] == [("ghost", "production", None)]
    assert fleet.client.get("/health").json()["cache"]["negative_hits"] == 49
    # Counted under a bounded label, not the made-up name
    assert fleet.metrics.counts[("rejections", "unknown", "unknown_model")] == 50


def test_broken_model_is_503_naming_its_version_and_the_others_serve(fleet: Fleet) -> None:
    response = fleet.predict("broken")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "30"  # the manifest TTL: when the load is tried again
    error = response.json()["error"]
    assert error["code"] == "model_unavailable"
    assert error["message"] == (
        "model 'broken' is not available: version 9 is not served because its artifact cannot be loaded"
    )
    assert fleet.predict("fraud").status_code == 200
    health = fleet.client.get("/health")
    assert health.status_code == 503  # one model here has nothing to serve
    states = health.json()["models"]
    assert (states["broken"]["state"], states["broken"]["failed_version"]) == ("unavailable", "9")
    assert states["fraud"]["state"] == "ready"


def test_a_model_of_a_flavour_served_elsewhere_is_503_flavor_not_served(fleet: Fleet) -> None:
    response = fleet.predict("onnx_model")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "30"
    error = response.json()["error"]
    assert error["code"] == "flavor_not_served"
    assert "'onnx'" in error["message"] and "version 2" in error["message"]
    assert fleet.metrics.counts[("rejections", "onnx_model", "flavor_not_served")] == 1
    assert fleet.metrics.counts[("model_load_failures", "onnx_model")] == 0  # not a load failure


def test_listing_holds_every_manifest_under_the_alias(fleet: Fleet) -> None:
    names = [m["name"] for m in fleet.client.get("/v1/models").json()["models"]]
    assert names == sorted([*MODELS, "broken", "onnx_model"])
