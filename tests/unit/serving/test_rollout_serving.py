"""The prediction API with a rollout in the manifest (TestClient, no sockets): ab, canary and shadow."""

from __future__ import annotations

import types
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from modelwatch.contracts.events import PredictionEvent, RejectedRequest
from modelwatch.contracts.manifest import ServingManifest
from modelwatch.contracts.rollout import Rollout, RolloutCandidate, assigned_variant
from modelwatch.contracts.schema import InputSchema
from modelwatch.flavors import ModelLoadError
from modelwatch.serving import shadow
from modelwatch.serving.app import create_app
from modelwatch.serving.context import ServingContext
from modelwatch.serving.metrics import InMemoryServingMetrics
from modelwatch.serving.model_cache import ModelCache
from modelwatch.settings import ServingSettings
from modelwatch.stores.capture import MemorySink
from tests.unit.fakes import FakeClock, FakeManifestSource, RecordingFetcher

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

NOW = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)
TTL = 30.0
EVENTS = "events"
REJECTED = "rejected"
ROLLOUT_ID = "fraud-2-rollout"
ROW = {"amount": 12.5, "hour": 3, "is_foreign": False}
SCORES = {"1": 0.1, "2": 0.2}


class VersionPredictor:
    """Scores every row with its version's score; ``failing`` versions raise on predict."""

    def __init__(self, version: str, models: Models) -> None:
        self.version = version
        self.models = models

    def predict(self, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        self.models.predicted.append((self.version, len(rows)))
        if self.version in self.models.failing:
            raise ValueError(f"version {self.version} cannot score this")
        self.models.on_predict(self.version)
        return [SCORES[self.version] for _ in rows]


@dataclass
class Models:
    broken: set[str] = field(default_factory=set)  # cannot load
    failing: set[str] = field(default_factory=set)  # load, then raise on predict
    predicted: list[tuple[str, int]] = field(default_factory=list)
    loads: list[str] = field(default_factory=list)

    def on_predict(self, version: str) -> None:
        return None

    def load(self, manifest: ServingManifest, path: Path) -> VersionPredictor:
        self.loads.append(manifest.version)
        if manifest.version in self.broken:
            raise ModelLoadError("corrupt artifact at s3://secret-bucket/2.joblib")
        return VersionPredictor(manifest.version, self)


@dataclass
class Api:
    client: TestClient
    context: ServingContext
    manifests: FakeManifestSource
    sink: MemorySink
    metrics: InMemoryServingMetrics
    clock: FakeClock
    models: Models

    def predict(self, request_id: str, instances: Any = None, headers: dict[str, str] | None = None) -> Any:
        return self.client.post(
            "/v1/models/fraud/predict",
            json={"instances": [ROW] if instances is None else instances},
            headers={"x-request-id": request_id, **(headers or {})},
        )

    def events(self) -> list[PredictionEvent]:
        return [PredictionEvent.model_validate_json(line) for line in self.sink.lines.get(EVENTS, [])]

    def rejected(self) -> list[RejectedRequest]:
        return [RejectedRequest.model_validate_json(line) for line in self.sink.lines.get(REJECTED, [])]


def build_api(tmp_path: Path, models: Models | None = None) -> Api:
    settings = ServingSettings(
        models_bucket="models",
        rejected_stream=REJECTED,
        events_stream=EVENTS,
        max_instances=5,
        manifest_ttl_seconds=TTL,
    )
    manifests = FakeManifestSource()
    metrics = InMemoryServingMetrics()
    clock = FakeClock()
    models = models or Models()
    cache = ModelCache(
        manifests,
        RecordingFetcher(),
        ttl_seconds=TTL,
        loader=models.load,
        check=lambda predictor, manifest: None,
        clock=clock,
    )
    sink = MemorySink()
    context = ServingContext(settings=settings, models=cache, sink=sink, metrics=metrics, clock=lambda: NOW)
    client = TestClient(create_app(context), raise_server_exceptions=False)
    return Api(client, context, manifests, sink, metrics, clock, models)


def rollout_manifest(
    production: ServingManifest, candidate_schema: InputSchema | None = None, **overrides: Any
) -> ServingManifest:
    candidate = RolloutCandidate(
        version="2",
        flavor="sklearn",
        artifact_uri="/artifacts/2.joblib",
        input_schema=candidate_schema or production.input_schema,
        prediction_type="probability",
    )
    values: dict[str, Any] = {
        "id": ROLLOUT_ID,
        "mode": "ab",
        "candidate": candidate,
        "production_version": "1",
        "share": 0.5,
        **overrides,
    }
    return production.model_copy(update={"rollout": Rollout(**values)})


@pytest.fixture
def production(make_manifest: Any) -> ServingManifest:
    manifest: ServingManifest = make_manifest(version="1", artifact_uri="/artifacts/1.joblib")
    return manifest


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    api = build_api(tmp_path)
    with api.client:
        yield api


def ids(count: int, prefix: str = "req") -> list[str]:
    return [f"{prefix}-{i:05d}" for i in range(count)]


def split(request_ids: list[str], share: float) -> tuple[list[str], list[str]]:
    """The ids the rollout sends to the candidate, and the others."""
    to_candidate = [r for r in request_ids if assigned_variant(ROLLOUT_ID, r, share) == "candidate"]
    return to_candidate, [r for r in request_ids if r not in to_candidate]


def test_ab_serves_each_request_from_its_assigned_variant(api: Api, production: ServingManifest) -> None:
    # Given an ab rollout with a share of one half
    api.manifests.publish(rollout_manifest(production))
    request_ids = ids(200)
    # When 200 requests are served
    answers = {rid: api.predict(rid).json() for rid in request_ids}
    # Then each answer comes from the variant the hash assigns, and says so
    for rid, body in answers.items():
        variant = assigned_variant(ROLLOUT_ID, rid, 0.5)
        version = "2" if variant == "candidate" else "1"
        assert (body["variant"], body["version"], body["predictions"]) == (
            variant,
            version,
            [SCORES[version]],
        )
    assert {body["variant"] for body in answers.values()} == {"production", "candidate"}
    # And every event records the variant that served it, served to the caller
    events = {e.request_id: e for e in api.events()}
    assert len(events) == 200
    assert all(
        (e.variant, e.version, e.served) == (answers[rid]["variant"], answers[rid]["version"], True)
        for rid, e in events.items()
    )
    assert api.rejected() == []


def test_the_same_header_gets_the_same_variant(api: Api, production: ServingManifest) -> None:
    api.manifests.publish(rollout_manifest(production, key="header:X-Variant-Key"))
    for customer in ("c-1", "c-2", "c-3", "c-4", "c-5", "c-6"):
        expected = assigned_variant(ROLLOUT_ID, customer, 0.5)
        variants = {
            api.predict(rid, headers={"X-VARIANT-KEY": customer}).json()["variant"] for rid in ids(20)
        }
        assert variants == {expected}
    # Without the header, the request id decides
    for rid in ids(20, prefix="no-header"):
        assert api.predict(rid).json()["variant"] == assigned_variant(ROLLOUT_ID, rid, 0.5)


def test_a_feature_key_routes_by_the_first_instance(api: Api, production: ServingManifest) -> None:
    api.manifests.publish(rollout_manifest(production, key="feature:amount"))
    for amount in (1.5, 2.5, 3.5, 4.5, 5.5, 6.5):
        expected = assigned_variant(ROLLOUT_ID, str(amount), 0.5)
        rows = [{**ROW, "amount": amount}, {**ROW, "amount": 999.0}]
        assert {api.predict(rid, rows).json()["variant"] for rid in ids(10)} == {expected}


def test_a_canary_step_follows_the_manifest_after_the_ttl(api: Api, production: ServingManifest) -> None:
    steps = [{"share": 0.05}, {"share": 1.0}]
    api.manifests.publish(rollout_manifest(production, mode="canary", share=0.05, steps=steps))
    first = [api.predict(rid).json()["variant"] for rid in ids(100)]
    assert first == [assigned_variant(ROLLOUT_ID, rid, 0.05) for rid in ids(100)]
    api.manifests.publish(rollout_manifest(production, mode="canary", share=1.0, steps=steps, step=1))
    api.clock.advance(TTL)
    assert {api.predict(rid).json()["variant"] for rid in ids(50, "later")} == {"candidate"}
    # Rolled back: share 0, production only, and the candidate is not loaded again
    api.manifests.publish(
        rollout_manifest(production, mode="canary", share=0.0, steps=steps, state="rolled_back")
    )
    api.clock.advance(TTL)
    assert {api.predict(rid).json()["variant"] for rid in ids(50, "after")} == {"production"}
    assert api.models.loads == ["1", "2"]


def test_the_candidate_schema_validates_what_the_candidate_serves(
    api: Api, production: ServingManifest, numeric_schema: InputSchema
) -> None:
    # Given a candidate that needs a feature production does not
    schema = numeric_schema.model_copy(
        update={
            "features": [
                *numeric_schema.features,
                *InputSchema.model_validate({"features": [{"name": "channel", "type": "string"}]}).features,
            ]
        }
    )
    api.manifests.publish(rollout_manifest(production, candidate_schema=schema))
    to_candidate, to_production = split(ids(40), 0.5)
    # Then a request without it is refused when routed to the candidate, and served otherwise
    refused = api.predict(to_candidate[0])
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "schema_violation"
    assert api.predict(to_production[0]).status_code == 200
    [record] = api.rejected()
    assert (record.reason, record.version, record.variant) == ("schema_violation", "2", "candidate")


def test_a_candidate_error_is_answered_by_production_by_default(
    tmp_path: Path, production: ServingManifest
) -> None:
    api = build_api(tmp_path, Models(failing={"2"}))
    api.manifests.publish(rollout_manifest(production))
    to_candidate, to_production = split(ids(60), 0.5)
    answers = [api.predict(rid) for rid in to_candidate]
    # Then the callers get production's answer
    assert {(a.status_code, a.json()["variant"], a.json()["version"]) for a in answers} == {
        (200, "production", "1")
    }
    assert {a.json()["predictions"][0] for a in answers} == {SCORES["1"]}
    # And their events are production's, while each failure is captured against the candidate
    assert {(e.variant, e.version) for e in api.events()} == {("production", "1")}
    rejected = api.rejected()
    assert sorted(r.request_id for r in rejected) == sorted(to_candidate)
    assert {(r.reason, r.status_code, r.version, r.variant) for r in rejected} == {
        ("candidate_failed", 200, "2", "candidate")
    }
    assert {r.errors[0]["type"] for r in rejected} == {"prediction_failed"}
    assert api.metrics.counts[("rejections", "fraud", "candidate_failed")] == len(to_candidate)
    # And requests routed to production are untouched
    assert all(api.predict(rid).json()["variant"] == "production" for rid in to_production)


def test_a_candidate_error_is_a_422_when_the_rollout_says_so(
    tmp_path: Path, production: ServingManifest
) -> None:
    api = build_api(tmp_path, Models(failing={"2"}))
    api.manifests.publish(rollout_manifest(production, on_candidate_error="error"))
    to_candidate, to_production = split(ids(40), 0.5)
    refused = api.predict(to_candidate[0])
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "prediction_failed"
    assert "version 2" in refused.json()["error"]["message"]
    [record] = api.rejected()
    assert (record.reason, record.status_code, record.version, record.variant) == (
        "prediction_failed",
        422,
        "2",
        "candidate",
    )
    assert api.predict(to_production[0]).json()["variant"] == "production"


def test_a_candidate_that_cannot_load_leaves_every_request_to_production(
    tmp_path: Path, production: ServingManifest
) -> None:
    # Given a rollout whose candidate cannot be loaded
    api = build_api(tmp_path, Models(broken={"2"}))
    api.manifests.publish(rollout_manifest(production))
    request_ids = ids(60)
    to_candidate, _ = split(request_ids, 0.5)
    # When requests come in
    answers = [api.predict(rid) for rid in request_ids]
    # Then production answers all of them
    assert {(a.status_code, a.json()["variant"], a.json()["version"]) for a in answers} == {
        (200, "production", "1")
    }
    # And each request the candidate would have served is captured as candidate_failed, saying why
    rejected = api.rejected()
    assert sorted(r.request_id for r in rejected) == sorted(to_candidate)
    assert {(r.reason, r.status_code, r.version, r.variant) for r in rejected} == {
        ("candidate_failed", 200, "2", "candidate")
    }
    message = "candidate version 2 is not served because its artifact cannot be loaded"
    assert {(r.errors[0]["type"], r.errors[0]["message"]) for r in rejected} == {
        ("candidate_unavailable", message)
    }
    # And /health shows it (200: production serves), with no error detail
    health = api.client.get("/health")
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "degraded"
    fraud = body["models"]["fraud"]
    assert fraud["state"] == "ready"
    assert fraud["candidate"] == {
        "rollout_id": ROLLOUT_ID,
        "mode": "ab",
        "share": 0.5,
        "rollout_state": "running",
        "version": "2",
        "state": "candidate_unavailable",
        "reason": "artifact_unloadable",
        "message": message,
    }
    assert "secret-bucket" not in health.text


def test_health_shows_a_ready_candidate(api: Api, production: ServingManifest) -> None:
    api.manifests.publish(rollout_manifest(production))
    api.predict("r-1")
    body = api.client.get("/health").json()
    assert body["status"] == "ok"
    assert body["models"]["fraud"]["candidate"]["state"] == "ready"
    assert body["models"]["fraud"]["candidate"]["version"] == "2"


def test_shadow_answers_with_production_and_scores_the_candidate_after_the_response(
    tmp_path: Path, production: ServingManifest, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a shadow rollout sampling half the requests, whose candidate takes 250 ms to score
    # (a fake clock the candidate moves), with capture deferred as under the post-invoke extension
    models = Models()
    ticks = types.SimpleNamespace(now=0.0)
    monkeypatch.setattr(shadow, "time", types.SimpleNamespace(perf_counter=lambda: ticks.now))

    def candidate_takes_250_ms(version: str) -> None:
        if version == "2":
            ticks.now += 0.25

    models.on_predict = candidate_takes_250_ms  # type: ignore[method-assign]
    api = build_api(tmp_path, models)
    plain = build_api(tmp_path / "plain")
    api.manifests.publish(rollout_manifest(production, mode="shadow"))
    plain.manifests.publish(production)
    api.context.capture.mode = "deferred"
    request_ids = ids(40)
    sampled, _ = split(request_ids, 0.5)
    rows = [ROW, {**ROW, "amount": 80.0}]
    # When requests are answered
    answers = [api.predict(rid, rows) for rid in request_ids]
    # Then every answer is exactly what production alone answers
    assert [a.json() for a in answers] == [plain.predict(rid, rows).json() for rid in request_ids]
    assert {a.json()["variant"] for a in answers} == {"production"}
    # And the candidate has not scored anything yet: that happens after the response
    assert [v for v, _ in models.predicted] == ["1"] * 40
    api.context.capture.flush()
    assert [v for v, _ in models.predicted].count("2") == len(sampled)
    # And its predictions are events of their own, joined to production's by request id and index
    events = api.events()
    served = [(e.request_id, e.index) for e in events if e.served]
    shadowed = [e for e in events if not e.served]
    assert sorted(served) == sorted((rid, i) for rid in request_ids for i in (0, 1))
    assert sorted((e.request_id, e.index) for e in shadowed) == sorted(
        (rid, i) for rid in sampled for i in (0, 1)
    )
    assert {(e.variant, e.version, e.prediction, e.latency_ms) for e in shadowed} == {
        ("candidate", "2", SCORES["2"], 250.0)
    }
    assert {(e.variant, e.version) for e in events if e.served} == {("production", "1")}
    assert api.rejected() == []
    # And each request cost one call to the sink: the candidate's lines rode with production's
    assert api.sink.calls == len(request_ids)


def test_a_shadow_failure_never_reaches_the_caller(tmp_path: Path, production: ServingManifest) -> None:
    api = build_api(tmp_path, Models(failing={"2"}))
    api.manifests.publish(rollout_manifest(production, mode="shadow"))
    request_ids = ids(40)
    sampled, _ = split(request_ids, 0.5)
    answers = [api.predict(rid) for rid in request_ids]
    assert {(a.status_code, a.json()["variant"], a.json()["version"]) for a in answers} == {
        (200, "production", "1")
    }
    # Production's events are all there; the candidate's failures are candidate_failed records
    assert sorted(e.request_id for e in api.events()) == sorted(request_ids)
    rejected = api.rejected()
    assert sorted(r.request_id for r in rejected) == sorted(sampled)
    assert {(r.reason, r.status_code, r.version, r.variant, r.errors[0]["type"]) for r in rejected} == {
        ("candidate_failed", 200, "2", "candidate", "prediction_failed")
    }
    assert api.metrics.counts[("rejections", "fraud", "candidate_failed")] == len(sampled)


def test_a_shadow_candidate_that_cannot_load_is_captured_for_the_sampled_requests(
    tmp_path: Path, production: ServingManifest
) -> None:
    api = build_api(tmp_path, Models(broken={"2"}))
    api.manifests.publish(rollout_manifest(production, mode="shadow", share=0.25))
    request_ids = ids(80)
    sampled = [r for r in request_ids if assigned_variant(ROLLOUT_ID, r, 0.25) == "candidate"]
    assert {api.predict(rid).status_code for rid in request_ids} == {200}
    rejected = api.rejected()
    assert sorted(r.request_id for r in rejected) == sorted(sampled)
    assert {r.errors[0]["type"] for r in rejected} == {"candidate_unavailable"}
    assert all(e.served for e in api.events())


def test_without_a_rollout_events_say_production_served(api: Api, production: ServingManifest) -> None:
    api.manifests.publish(production)
    body = api.predict("r-1").json()
    assert body["variant"] == "production"
    [event] = api.events()
    assert (event.variant, event.served) == ("production", True)
