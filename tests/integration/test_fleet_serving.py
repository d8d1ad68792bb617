"""One serving function serving a fleet (moto, the predict handler in-process): models are data.

Three models from three manifests, a fourth published while the function runs (served with no
restart), an unknown one (404, one S3 GET per negative TTL however many requests) and a broken
one (503 with Retry-After, the others unaffected); then a budget that holds fewer models than
are asked for (eviction and reload through the real handler).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from modelwatch_local.fraud import FRAUD_SCHEMA

from modelwatch.contracts import layout
from modelwatch.registry.publishing import publish_model
from modelwatch.stores.objects import S3Storage
from tests.integration.conftest import (
    MODEL,
    MODELS_BUCKET,
    Deployment,
    function_env,
    http_api_event,
    load_handler,
)

FLEET = (MODEL, "churn", "ltv")
FOURTH = "credit"
BROKEN = "broken"
MANIFEST_TTL = 30
NEGATIVE_TTL = 60


def body_of(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])


def publish(deployment: Deployment, model_file: Path, model: str, version: str = "1") -> None:
    publish_model(
        model_file,
        model,
        version,
        "sklearn",
        FRAUD_SCHEMA,
        MODELS_BUCKET,
        prediction_type="probability",
        storage=S3Storage(deployment.s3),
    )


def fleet_env(deployment: Deployment, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = function_env(deployment.dlq_url, tmp_path, catalog="")
    return {
        **env,
        "MODELWATCH_SERVED_FLAVORS": "sklearn",
        "MODELWATCH_MANIFEST_TTL_SECONDS": str(MANIFEST_TTL),
        "MODELWATCH_NEGATIVE_TTL_SECONDS": str(NEGATIVE_TTL),
        **extra,
    }


@pytest.fixture
def manifest_gets() -> Iterator[list[str]]:
    """The key of every S3 GetObject the function makes from now on."""
    keys: list[str] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        keys.append(params["Key"])

    session = boto3.DEFAULT_SESSION
    assert session is not None
    session.events.register("before-parameter-build.s3.GetObject", record)
    yield keys
    session.events.unregister("before-parameter-build.s3.GetObject", record)


@pytest.fixture
def fleet(
    deployment: Deployment,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    trained_model_file: Path,
    manifest_gets: list[str],  # registered before the function creates its S3 client
) -> Deployment:
    for model in FLEET[1:]:  # the deployment fixture published the first
        publish(deployment, trained_model_file, model)
    garbage = tmp_path / "broken.joblib"
    garbage.write_bytes(b"this is not a pickle")
    publish(deployment, garbage, BROKEN, version="7")
    deployment.handler = load_handler(monkeypatch, fleet_env(deployment, tmp_path))
    return deployment


def predict(deployment: Deployment, model: str, rows: list) -> dict[str, Any]:
    return deployment.invoke(http_api_event("POST", f"/v1/models/{model}/predict", {"instances": rows[:2]}))


def test_one_function_serves_a_fleet_from_manifests(
    fleet: Deployment, rows: list, trained_model_file: Path, manifest_gets: list[str]
) -> None:
    # Given one function and the manifests of three models (and a broken one)
    # When each of the three is asked for
    answers = {model: predict(fleet, model, rows) for model in FLEET}
    # Then each is served from its own manifest, with no list of models configured
    assert {m: (a["statusCode"], body_of(a)["model"], body_of(a)["version"]) for m, a in answers.items()} == {
        m: (200, m, "1") for m in FLEET
    }
    listed = [m["name"] for m in body_of(fleet.invoke(http_api_event("GET", "/v1/models")))["models"]]
    assert listed == sorted([*FLEET, BROKEN])

    # When a fourth model is published while the function runs
    publish(fleet, trained_model_file, FOURTH)
    answer = predict(fleet, FOURTH, rows)
    # Then the same warm function serves it on its first request: no restart, no deployment
    assert (answer["statusCode"], body_of(answer)["model"]) == (200, FOURTH)

    # When a model that has no manifest is asked for 25 times within the negative TTL
    unknown = [predict(fleet, "ghost", rows) for _ in range(25)]
    # Then each is 404 in the error envelope, and its manifest was read from S3 once
    assert {r["statusCode"] for r in unknown} == {404}
    assert body_of(unknown[0])["error"]["code"] == "unknown_model"
    assert manifest_gets.count(layout.manifest_key("ghost", "production")) == 1

    # When the broken model is asked for
    broken = predict(fleet, BROKEN, rows)
    # Then 503 with Retry-After (the manifest TTL), naming the model and the version that failed
    assert broken["statusCode"] == 503
    assert broken["headers"]["retry-after"] == str(MANIFEST_TTL)
    error = body_of(broken)["error"]
    assert error["code"] == "model_unavailable"
    assert "'broken'" in error["message"] and "version 7" in error["message"]
    assert "Traceback" not in broken["body"] and "not a pickle" not in broken["body"]
    # And the other models on the same function keep serving
    assert [predict(fleet, m, rows)["statusCode"] for m in (*FLEET, FOURTH)] == [200] * 4

    # And /health says which model serves which version, which failed, and what the cache holds
    health = fleet.invoke(http_api_event("GET", "/health"))
    report = body_of(health)
    assert health["statusCode"] == 503  # one model here has nothing to serve
    assert {m: (s["state"], s["serving_version"]) for m, s in report["models"].items()} == {
        **{m: ("ready", "1") for m in (*FLEET, FOURTH)},
        BROKEN: ("unavailable", None),
    }
    assert (report["models"][BROKEN]["failed_version"], report["models"][BROKEN]["reason"]) == (
        "7",
        "artifact_unloadable",
    )
    assert report["cache"]["models_loaded"] == 4
    assert report["cache"]["evictions"] == 0
    assert report["cache"]["negative_hits"] == 24
    assert report["cache"]["budget_mb"] == 1024.0  # outside Lambda


def test_a_budget_smaller_than_the_fleet_evicts_and_reloads(
    deployment: Deployment,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    rows: list,
    trained_model_file: Path,
) -> None:
    # Given three models whose artifacts each take more than half of the function's cache budget
    for model in FLEET[1:]:
        publish(deployment, trained_model_file, model)
    budget_mb = 1.5 * trained_model_file.stat().st_size / (1024 * 1024)
    env = fleet_env(deployment, tmp_path, MODELWATCH_MODEL_CACHE_MB=f"{budget_mb:.6f}")
    deployment.handler = load_handler(monkeypatch, env)

    # When they are asked for in turn, twice
    answers = [predict(deployment, model, rows) for model in (*FLEET, *FLEET)]

    # Then every request is answered by its model, each load evicting the one before
    assert [(a["statusCode"], body_of(a)["model"]) for a in answers] == [(200, m) for m in (*FLEET, *FLEET)]
    cache = body_of(deployment.invoke(http_api_event("GET", "/health")))["cache"]
    assert (cache["models_loaded"], cache["loads"], cache["evictions"]) == (1, 6, 5)
