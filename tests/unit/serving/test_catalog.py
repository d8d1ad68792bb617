"""The model listing: manifests read at most once per TTL, and one broken manifest never breaks it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from modelwatch.serving.app import create_app
from modelwatch.serving.context import build_context
from modelwatch.serving.metrics import InMemoryServingMetrics
from modelwatch.settings import ServingSettings
from modelwatch.stores.capture import MemorySink
from modelwatch.stores.manifests import ManifestStore
from modelwatch.stores.objects import InMemoryStorage

BUCKET = "models"


def catalog(tmp_path: Path) -> tuple[TestClient, InMemoryStorage]:
    settings = ServingSettings(
        models_bucket=BUCKET,
        events_stream="events",
        rejected_stream="rejected",
        catalog_models=["fraud", "churn", "ltv"],
        model_cache_dir=str(tmp_path / "cache"),
    )
    storage = InMemoryStorage()
    context = build_context(settings, storage=storage, sink=MemorySink(), metrics=InMemoryServingMetrics())
    return TestClient(create_app(context), raise_server_exceptions=False), storage


def test_listing_reads_each_manifest_once_per_ttl(tmp_path: Path, make_manifest: Any) -> None:
    client, storage = catalog(tmp_path)
    ManifestStore(storage, BUCKET).write(make_manifest(model="fraud", version="3"))
    ManifestStore(storage, BUCKET).write(make_manifest(model="churn", version="1"))

    first = client.get("/v1/models")
    reads = storage.calls["get"]
    second = client.get("/v1/models")

    assert first.status_code == 200 and first.json() == second.json()
    assert [(m["name"], m["version"]) for m in first.json()["models"]] == [("churn", "1"), ("fraud", "3")]
    assert storage.calls["get"] == reads  # within the TTL, answered from memory


def test_a_corrupt_manifest_leaves_the_others_listed(tmp_path: Path, make_manifest: Any) -> None:
    client, storage = catalog(tmp_path)
    ManifestStore(storage, BUCKET).write(make_manifest(model="fraud", version="3"))
    storage.put(BUCKET, "manifests/churn/production.json", b'{"model": "churn"}')

    response = client.get("/v1/models")

    assert response.status_code == 200
    assert [m["name"] for m in response.json()["models"]] == ["fraud"]


def test_storage_down_is_an_empty_listing_not_a_500(tmp_path: Path) -> None:
    client, storage = catalog(tmp_path)
    storage.fail_with = ConnectionError("SlowDown")

    response = client.get("/v1/models")

    assert (response.status_code, response.json()) == (200, {"models": []})
