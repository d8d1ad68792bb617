"""A rollout served over real HTTP: the local app under uvicorn, production and candidate from ONE manifest.

AWS is moto (S3 holds the two artifacts and the production manifest naming the candidate; the
Firehose streams deliver to the events bucket). Requests carry their own request ids, so the
variant each must get is known from the assignment hash; the captured events and rejected
records are read back from S3 once the app says no capture is in flight.
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from modelwatch_local.fraud import FRAUD_SCHEMA

from modelwatch.contracts.manifest import ServingManifest
from modelwatch.contracts.rollout import Rollout, RolloutCandidate, assigned_variant
from modelwatch.registry.publishing import publish_model
from modelwatch.stores.manifests import ManifestStore
from modelwatch.stores.objects import S3Storage
from tests.integration.conftest import MODEL, MODELS_BUCKET, REPO, Deployment, function_env

WAIT = 15.0
TTL_SECONDS = 1
ROLLOUT_ID = "fraud-2-ab"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Served:
    """The local app under uvicorn on 127.0.0.1, spoken to over HTTP."""

    def __init__(self, port: int) -> None:
        self.port = port

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=WAIT)
        try:
            data = None if body is None else json.dumps(body)
            connection.request(method, path, data, {"content-type": "application/json", **(headers or {})})
            answer = connection.getresponse()
            return answer.status, json.loads(answer.read())
        finally:
            connection.close()

    def predict(self, request_id: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
        status, body = self.call(
            "POST", f"/v1/models/{MODEL}/predict", {"instances": rows}, {"x-request-id": request_id}
        )
        assert status == 200, body
        return dict(body)

    def wait_for_capture(self) -> None:
        deadline = time.monotonic() + WAIT
        while self.call("GET", "/_local/capture")[1]["in_flight"]:
            assert time.monotonic() < deadline, "capture stayed in flight"
            time.sleep(0.01)


@pytest.fixture
def served(deployment: Deployment, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Served]:
    import uvicorn

    env = {**function_env(deployment.dlq_url, tmp_path), "MODELWATCH_MANIFEST_TTL_SECONDS": str(TTL_SECONDS)}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    spec = importlib.util.spec_from_file_location(
        f"asgi_{uuid.uuid4().hex}", REPO / "local" / "modelwatch_local" / "asgi.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(module.app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield Served(port)
    finally:
        server.should_exit = True
        thread.join(WAIT)


def publish_rollout(deployment: Deployment, trained_model_file: Path, **rollout: Any) -> ServingManifest:
    """Upload version 2 and write production's manifest (version 1) with a rollout naming it."""
    storage = S3Storage(deployment.s3)
    second = publish_model(
        trained_model_file,
        MODEL,
        "2",
        "sklearn",
        FRAUD_SCHEMA,
        MODELS_BUCKET,
        alias="staging",
        prediction_type="probability",
        storage=storage,
    )
    manifests = ManifestStore(storage, MODELS_BUCKET, "manifests")
    production = manifests.current(MODEL, "production")
    assert production is not None and production.version == "1"
    candidate = RolloutCandidate(
        version="2",
        flavor="sklearn",
        artifact_uri=second.artifact_uri,
        input_schema=second.input_schema,
        prediction_type=second.prediction_type,
    )
    values: dict[str, Any] = {
        "id": ROLLOUT_ID,
        "mode": "ab",
        "candidate": candidate,
        "production_version": "1",
        "share": 0.5,
        **rollout,
    }
    manifest = production.model_copy(update={"rollout": Rollout(**values)})
    manifests.write(manifest)
    return manifest


def test_an_ab_rollout_serves_both_variants_and_follows_the_manifest(
    deployment: Deployment, trained_model_file: Path, served: Served, rows: list[dict[str, Any]]
) -> None:
    # Given one production manifest naming a candidate for half of the traffic
    publish_rollout(deployment, trained_model_file)
    request_ids = [f"ab-{i:03d}" for i in range(40)]
    # When requests arrive over HTTP
    answers = {rid: served.predict(rid, rows[:2]) for rid in request_ids}
    # Then each is answered by the variant its request id is assigned, and says which
    expected = {rid: assigned_variant(ROLLOUT_ID, rid, 0.5) for rid in request_ids}
    assert {rid: a["variant"] for rid, a in answers.items()} == expected
    assert {a["version"] for a in answers.values() if a["variant"] == "candidate"} == {"2"}
    assert {a["version"] for a in answers.values() if a["variant"] == "production"} == {"1"}
    assert set(expected.values()) == {"production", "candidate"}
    # And the captured events carry the variant and version that served them
    served.wait_for_capture()
    events = deployment.objects(f"events/model={MODEL}/")
    by_request = {(e["request_id"], e["index"]): e for e in events}
    assert set(by_request) == {(rid, i) for rid in request_ids for i in (0, 1)}
    for (rid, _), event in by_request.items():
        assert (event["variant"], event["version"], event["served"]) == (
            expected[rid],
            "2" if expected[rid] == "candidate" else "1",
            True,
        )
    # And /health shows the candidate ready
    status, health = served.call("GET", "/health")
    assert status == 200 and health["models"][MODEL]["candidate"]["state"] == "ready"

    # When the rollout's share is set to 0 in the manifest (a rollback)
    publish_rollout(deployment, trained_model_file, share=0.0, state="rolled_back")
    time.sleep(TTL_SECONDS + 0.2)
    # Then after the TTL every request is production's
    later = [served.predict(f"later-{i:03d}", rows[:1]) for i in range(40)]
    assert {(a["variant"], a["version"]) for a in later} == {("production", "1")}
    assert any(assigned_variant(ROLLOUT_ID, f"later-{i:03d}", 0.5) == "candidate" for i in range(40))
    status, health = served.call("GET", "/health")
    assert health["models"][MODEL]["candidate"] is None


def test_a_shadow_rollout_captures_the_candidate_beside_production(
    deployment: Deployment, trained_model_file: Path, served: Served, rows: list[dict[str, Any]]
) -> None:
    publish_rollout(deployment, trained_model_file, mode="shadow", share=1.0)
    request_ids = [f"shadow-{i:03d}" for i in range(10)]
    answers = [served.predict(rid, rows[:3]) for rid in request_ids]
    assert {(a["variant"], a["version"]) for a in answers} == {("production", "1")}
    served.wait_for_capture()
    events = deployment.objects(f"events/model={MODEL}/")
    production = {(e["request_id"], e["index"]): e for e in events if e["served"]}
    shadow = {(e["request_id"], e["index"]): e for e in events if not e["served"]}
    expected_keys = {(rid, i) for rid in request_ids for i in range(3)}
    assert set(production) == set(shadow) == expected_keys
    assert {(e["variant"], e["version"]) for e in shadow.values()} == {("candidate", "2")}
    # The same artifact under both versions: the shadow agrees with production, instance by instance
    assert all(shadow[key]["prediction"] == production[key]["prediction"] for key in expected_keys)
