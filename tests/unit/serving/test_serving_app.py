"""The prediction API in-process (TestClient, no sockets): answers, rejections, capture and metrics."""

from __future__ import annotations

import json
import socket
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from modelwatch.contracts.events import LabelEvent, PredictionEvent, RejectedRequest
from modelwatch.contracts.manifest import ServingManifest
from modelwatch.contracts.schema import InputSchema
from modelwatch.serving.app import create_app
from modelwatch.serving.context import ServingContext
from modelwatch.serving.metrics import InMemoryServingMetrics
from modelwatch.serving.model_cache import ModelCache
from modelwatch.settings import ServingSettings
from modelwatch.stores.artifacts import ArtifactStore
from modelwatch.stores.capture import MemorySink
from modelwatch.stores.objects import InMemoryStorage
from tests.unit.fakes import FakeClock, FakeManifestSource, RaisingSink

with warnings.catch_warnings():
    # starlette 1.x asks for httpx2 behind its TestClient; httpx still works and is what is installed.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TTL = 30.0
EVENTS = "fraud-events"
REJECTED = "rejected-events"
GOOD = {"amount": 12.5, "hour": 3, "is_foreign": False}
MANIFEST = ServingManifest(
    model="fraud",
    version="1",
    flavor="sklearn",
    artifact_uri="/nonexistent/model.joblib",
    input_schema=InputSchema.model_validate({"features": [{"name": "amount", "type": "number"}]}),
    prediction_type="probability",
)


@dataclass
class Api:
    client: TestClient
    manifests: FakeManifestSource
    sink: Any
    metrics: InMemoryServingMetrics
    clock: FakeClock

    def predict(self, instances: Any, model: str = "fraud", **kwargs: Any) -> Any:
        return self.client.post(f"/v1/models/{model}/predict", json={"instances": instances}, **kwargs)

    def rejected(self) -> list[RejectedRequest]:
        return [RejectedRequest.model_validate_json(line) for line in self.sink.lines.get(REJECTED, [])]

    def predictions(self) -> list[PredictionEvent]:
        return [PredictionEvent.model_validate_json(line) for line in self.sink.lines.get(EVENTS, [])]

    def rejection_counts(self) -> dict[tuple[str, ...], int]:
        return {key: n for key, n in self.metrics.counts.items() if key[0] == "rejections"}


def build_api(
    tmp_path: Path,
    sink: Any = None,
    max_instances: int = 5,
    catalog: list[str] | None = None,
    loader: Any = None,
    labels_stream: str | None = "labels",
) -> Api:
    settings = ServingSettings(
        models_bucket="models",
        rejected_stream=REJECTED,
        labels_stream=labels_stream,
        events_stream=EVENTS,
        catalog_models=catalog or [],
        max_instances=max_instances,
        manifest_ttl_seconds=TTL,
    )
    manifests = FakeManifestSource()
    metrics = InMemoryServingMetrics()
    clock = FakeClock()
    models = ModelCache(
        manifests,
        ArtifactStore(InMemoryStorage(), tmp_path / "cache"),
        settings.served_models,
        ttl_seconds=TTL,
        clock=clock,
        on_load_failure=lambda model, _error: metrics.model_load_failure(model),
        **({"loader": loader} if loader is not None else {}),
    )
    sink = sink if sink is not None else MemorySink()
    context = ServingContext(settings=settings, models=models, sink=sink, metrics=metrics, clock=lambda: NOW)
    client = TestClient(create_app(context), raise_server_exceptions=False)
    return Api(client, manifests, sink, metrics, clock)


@pytest.fixture
def api(tmp_path: Path, make_manifest: Any, sklearn_classifier: Any) -> Iterator[Api]:
    api = build_api(tmp_path)
    api.manifests.publish(make_manifest(version="1", artifact_uri=str(sklearn_classifier.path)))
    with api.client:
        yield api


@pytest.mark.filterwarnings("ignore:A test tried to use socket.socket")
def test_inet_sockets_are_blocked_in_unit_tests() -> None:
    with pytest.raises(Exception, match="socket"):
        socket.socket(socket.AF_INET, socket.SOCK_STREAM)


def test_predict(api: Api, sklearn_classifier: Any) -> None:
    # Given two valid instances
    instances = [GOOD, {"amount": 300.0, "hour": 23, "is_foreign": True}]
    # When they are scored
    response = api.predict(instances)
    # Then one probability per instance comes back, from the served version
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"model", "version", "predictions", "request_id", "variant"}
    assert (body["model"], body["version"], body["variant"]) == ("fraud", "1", "production")
    expected = sklearn_classifier.estimator.predict_proba([[12.5, 3, 0], [300.0, 23, 1]])[:, 1]
    assert body["predictions"] == [round(float(p), 6) for p in expected]
    assert response.headers["x-request-id"] == body["request_id"]
    # And each instance is captured as a prediction event, and counted
    events = api.predictions()
    assert [(e.index, e.features, e.prediction) for e in events] == [
        (0, instances[0], body["predictions"][0]),
        (1, instances[1], body["predictions"][1]),
    ]
    assert {(e.request_id, e.model, e.version, e.timestamp) for e in events} == {
        (body["request_id"], "fraud", "1", NOW)
    }
    assert all(e.latency_ms >= 0 for e in events)
    assert api.metrics.counts == {}  # nothing emitted on success: the events carry the counts
    assert api.sink.calls == 1


def test_request_id_is_honoured_and_echoed(api: Api) -> None:
    response = api.predict([GOOD], headers={"x-request-id": "caller-id-123"})
    assert response.headers["x-request-id"] == "caller-id-123"
    assert response.json()["request_id"] == "caller-id-123"
    assert api.predictions()[0].request_id == "caller-id-123"


@pytest.mark.parametrize("header", [None, "", "has space", "x" * 129, "tab\tid", "ünïcode"])
def test_request_id_generated_when_absent_or_invalid(api: Api, header: str | None) -> None:
    headers = {} if header is None else {"x-request-id": header.encode()}
    response = api.predict([GOOD], headers=headers)
    generated = response.headers["x-request-id"]
    assert generated != header
    assert len(generated) == 32 and int(generated, 16) >= 0
    assert response.json()["request_id"] == generated


def test_request_ids_differ_between_requests(api: Api) -> None:
    assert api.predict([GOOD]).headers["x-request-id"] != api.predict([GOOD]).headers["x-request-id"]


def test_request_id_echoed_on_rejections(api: Api) -> None:
    response = api.predict([GOOD], model="ghost", headers={"x-request-id": "rej-1"})
    assert response.status_code == 404
    assert response.headers["x-request-id"] == "rej-1"
    assert response.json()["request_id"] == "rej-1"
    assert api.rejected()[0].request_id == "rej-1"


def test_unknown_model_404(api: Api) -> None:
    response = api.predict([GOOD], model="ghost")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "unknown_model"
    assert "'ghost'" in error["message"]
    # a name the caller made up is counted as "unknown": metric labels stay bounded
    assert api.rejection_counts() == {("rejections", "unknown", "unknown_model"): 1}
    [rejected] = api.rejected()
    assert (rejected.model, rejected.version, rejected.reason, rejected.status_code) == (
        "ghost",
        None,
        "unknown_model",
        404,
    )
    assert json.loads(rejected.body) == {"instances": [GOOD]}
    assert api.predictions() == []


def test_too_many_instances_413(api: Api) -> None:
    response = api.predict([GOOD] * 6)
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "too_many_instances"
    assert error["message"] == "6 instances; at most 5"
    assert api.rejection_counts() == {("rejections", "fraud", "too_many_instances"): 1}
    [rejected] = api.rejected()
    assert (rejected.version, rejected.status_code) == ("1", 413)
    assert len(json.loads(rejected.body)["instances"]) == 6
    # Exactly the maximum is served.
    assert api.predict([GOOD] * 5).status_code == 200


def test_schema_violation_422_lists_index_and_feature(api: Api) -> None:
    # Given one good instance, one with a wrong type and one missing a feature and carrying an extra one
    instances = [GOOD, {**GOOD, "amount": "12.5"}, {"amount": 1.0, "is_foreign": True, "colour": "red"}]
    # When scored
    response = api.predict(instances)
    # Then the whole request is refused, naming each offending instance and feature
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "schema_violation"
    assert error["message"] == "2 instance(s) violate the input schema of 'fraud'"
    assert [(v["index"], v["feature"], v["code"]) for v in error["violations"]] == [
        (1, "amount", "type"),
        (2, "hour", "missing"),
        (2, "colour", "unexpected"),
    ]
    assert "fields" not in error
    # And it is counted and captured with its violations; nothing is predicted
    assert api.rejection_counts() == {("rejections", "fraud", "schema_violation"): 1}
    [rejected] = api.rejected()
    assert (rejected.reason, rejected.version, rejected.status_code) == ("schema_violation", "1", 422)
    assert [(e["index"], e["feature"]) for e in rejected.errors] == [
        (1, "amount"),
        (2, "hour"),
        (2, "colour"),
    ]
    assert api.predictions() == []


def test_non_finite_number_is_a_schema_violation(api: Api) -> None:
    response = api.client.post(
        "/v1/models/fraud/predict",
        content=b'{"instances": [{"amount": NaN, "hour": 1, "is_foreign": false}]}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["error"]["violations"][0]["feature"] == "amount"


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        (b"this is not json", None),
        (b'{"instances": [', None),
        (b'{"rows": [{"amount": 1}]}', ["body", "instances"]),
        (b'{"instances": []}', ["body", "instances"]),
        (b'{"instances": {"amount": 1}}', ["body", "instances"]),
        (b"[1, 2]", ["body"]),
    ],
)
def test_malformed_body_422(api: Api, body: bytes, loc: list[Any] | None) -> None:
    response = api.client.post(
        "/v1/models/fraud/predict",
        content=body,
        headers={"content-type": "application/json", "x-request-id": "bad-body"},
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_body"
    assert error["fields"], "the answer says where the body is wrong"
    if loc is not None:
        assert error["fields"][0]["loc"] == loc
    assert "violations" not in error
    assert api.rejection_counts() == {("rejections", "fraud", "invalid_body"): 1}
    [rejected] = api.rejected()
    assert (rejected.model, rejected.reason, rejected.status_code, rejected.request_id) == (
        "fraud",
        "invalid_body",
        422,
        "bad-body",
    )
    assert rejected.errors == error["fields"]


def test_non_json_body_is_captured_as_received(api: Api) -> None:
    api.client.post(
        "/v1/models/fraud/predict", content=b"this is not json", headers={"content-type": "application/json"}
    )
    assert api.rejected()[0].body == "this is not json"


def test_model_unavailable_503_with_retry_after(
    tmp_path: Path, make_manifest: Any, garbage_file: Path
) -> None:
    # Given a manifest whose artifact cannot be loaded, and nothing loaded before
    api = build_api(tmp_path)
    api.manifests.publish(make_manifest(version="1", artifact_uri=str(garbage_file)))
    # When a prediction is asked for
    response = api.predict([GOOD])
    # Then 503 with Retry-After, counted, captured, and the load failure counted too
    assert response.status_code == 503
    assert response.headers["retry-after"] == str(int(TTL))  # the next load attempt
    error = response.json()["error"]
    assert error["code"] == "model_unavailable"
    assert error["message"] == (
        "model 'fraud' is not available: version 1 is not served because its artifact cannot be loaded"
    )
    assert str(garbage_file) not in response.text and "pop from empty list" not in response.text
    assert api.rejection_counts() == {("rejections", "fraud", "model_unavailable"): 1}
    assert api.metrics.counts[("model_load_failures", "fraud")] == 1
    [rejected] = api.rejected()
    assert (rejected.reason, rejected.status_code) == ("model_unavailable", 503)


def test_previous_version_keeps_serving_when_the_new_one_is_broken(
    api: Api, make_manifest: Any, garbage_file: Path
) -> None:
    assert api.predict([GOOD]).json()["version"] == "1"
    # Given a promotion to a version whose artifact is broken
    api.manifests.publish(make_manifest(version="2", artifact_uri=str(garbage_file)))
    api.clock.advance(TTL)
    # When predictions are asked for
    response = api.predict([GOOD])
    # Then version 1 answers, the failure is counted, and health stays ok
    assert response.status_code == 200
    assert response.json()["version"] == "1"
    assert api.metrics.counts[("model_load_failures", "fraud")] == 1
    assert api.rejection_counts() == {}
    assert api.client.get("/health").status_code == 200


def test_list_models(tmp_path: Path, make_manifest: Any, sklearn_classifier: Any) -> None:
    # Given a catalog of a served model, a model served elsewhere and one never published
    api = build_api(tmp_path, catalog=["fraud", "churn", "ghost"])
    api.manifests.publish(make_manifest(version="1", artifact_uri=str(sklearn_classifier.path)))
    api.manifests.publish(make_manifest(model="churn", version="4", flavor="onnx", prediction_type="value"))
    # When the catalog is listed
    response = api.client.get("/v1/models")
    # Then the published ones are listed with their schemas; the unpublished one is left out
    assert response.status_code == 200
    models = response.json()["models"]
    assert [(m["name"], m["version"], m["flavor"], m["prediction_type"]) for m in models] == [
        ("churn", "4", "onnx", "value"),
        ("fraud", "1", "sklearn", "probability"),
    ]
    assert [f["name"] for f in models[1]["input_schema"]["features"]] == ["amount", "hour", "is_foreign"]
    assert datetime.fromisoformat(models[1]["created_at"]).tzinfo is not None


def test_health_ok(api: Api) -> None:
    assert api.predict([GOOD]).status_code == 200  # loaded on first use
    response = api.client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body.pop("cache")["models_loaded"] == 1
    assert body == {
        "status": "ok",
        "models": {
            "fraud": {
                "state": "ready",
                "serving_version": "1",
                "failed_version": None,
                "reason": None,
                "message": "serving version 1",
                "candidate": None,
            }
        },
    }


def test_health_degraded_503(tmp_path: Path, make_manifest: Any, garbage_file: Path) -> None:
    api = build_api(tmp_path)
    api.manifests.publish(make_manifest(artifact_uri=str(garbage_file)))
    assert api.predict([GOOD]).status_code == 503  # its first request fails to load it
    response = api.client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["models"]["fraud"]["state"] == "unavailable"
    assert (body["models"]["fraud"]["failed_version"], body["models"]["fraud"]["reason"]) == (
        "1",
        "artifact_unloadable",
    )
    assert str(garbage_file) not in response.text


def test_health_does_not_report_a_model_without_manifest(tmp_path: Path) -> None:
    # Given a function asked for a model that has no manifest (a negative entry, not a model of it)
    api = build_api(tmp_path)
    assert api.predict([GOOD]).status_code == 404
    # Then /health reports no model, and the request counted as a negative-cache entry
    response = api.client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["models"]) == ("ok", {})
    assert body["cache"]["models_loaded"] == 0


def test_openapi_documents_every_endpoint_with_examples(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    assert set(spec["paths"]) == {
        "/v1/models/{model}/predict",
        "/v1/models/{model}/feedback",
        "/v1/models",
        "/health",
    }
    feedback = spec["paths"]["/v1/models/{model}/feedback"]["post"]
    assert feedback["summary"] and "202" in feedback["responses"]
    assert components_example(spec, "FeedbackRequest", "labels")[0] == {
        "request_id": "4f1c2a...",
        "index": 0,
        "label": 1,
    }
    predict = spec["paths"]["/v1/models/{model}/predict"]["post"]
    assert predict["summary"]
    assert set(predict["responses"]) == {"200", "404", "413", "422", "500", "503"}
    for status in ["404", "413", "422", "503"]:
        schema = predict["responses"][status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorResponse"}
    components = spec["components"]["schemas"]
    request_example = components["PredictRequest"]["properties"]["instances"]["examples"][0]
    assert request_example[0]["amount"] == 125.5
    response_example = components["PredictResponse"]["examples"][0]
    assert set(response_example) == {"model", "version", "predictions", "request_id", "variant"}
    assert "503" in spec["paths"]["/health"]["get"]["responses"]
    assert spec["paths"]["/v1/models"]["get"]["responses"]["200"]


def components_example(spec: dict[str, Any], schema: str, field: str) -> Any:
    return spec["components"]["schemas"][schema]["properties"][field]["examples"][0]


class ExplodingPredictor:
    """Scores the schema's example instance (so it is served), and fails on real traffic."""

    def predict(self, rows: Any) -> list[Any]:
        if all(row.get("amount") == 0.0 for row in rows):
            return [0.5 for _ in rows]
        raise RuntimeError("secret-internal-detail in /opt/model.py line 7")


@pytest.fixture
def exploding_api(tmp_path: Path, make_manifest: Any, garbage_file: Path) -> Api:
    api = build_api(tmp_path, loader=lambda manifest, path: ExplodingPredictor())
    api.manifests.publish(make_manifest(artifact_uri=str(garbage_file)))
    return api


def test_a_model_that_fails_on_valid_instances_is_a_captured_422(exploding_api: Api) -> None:
    response = exploding_api.predict([GOOD], headers={"x-request-id": "boom-0"})

    assert response.status_code == 422
    assert response.json()["error"] == {
        "code": "prediction_failed",
        "message": "version 1 of 'fraud' could not score these instances",
    }
    assert "secret-internal-detail" not in response.text
    [rejected] = exploding_api.rejected()
    assert (rejected.reason, rejected.version, rejected.request_id) == ("prediction_failed", "1", "boom-0")
    assert exploding_api.rejection_counts() == {("rejections", "fraud", "prediction_failed"): 1}


@pytest.fixture
def buggy_api(
    tmp_path: Path, make_manifest: Any, sklearn_classifier: Any, monkeypatch: pytest.MonkeyPatch
) -> Api:
    """An API with a bug in its own code (validation raises)."""
    from modelwatch.serving import app as app_module

    def broken(*args: Any) -> Any:
        raise RuntimeError("secret-internal-detail in /opt/modelwatch/app.py line 7")

    monkeypatch.setattr(app_module, "validate_instances", broken)
    api = build_api(tmp_path)
    api.manifests.publish(make_manifest(artifact_uri=str(sklearn_classifier.path)))
    return api


def test_unexpected_exception_is_a_500_json_without_traceback(buggy_api: Api) -> None:
    response = buggy_api.predict([GOOD], headers={"x-request-id": "boom-1"})
    assert response.status_code == 500
    assert response.json() == {
        "error": {"code": "internal_error", "message": "internal error; see the service log"},
        "request_id": "boom-1",
    }
    assert "secret-internal-detail" not in response.text
    assert "Traceback" not in response.text


def test_unexpected_exception_echoes_the_request_id_header(buggy_api: Api) -> None:
    response = buggy_api.predict([GOOD], headers={"x-request-id": "boom-2"})
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "boom-2"


def test_a_raising_sink_never_fails_the_request_and_is_counted(
    tmp_path: Path, make_manifest: Any, sklearn_classifier: Any
) -> None:
    # Given a capture sink that raises
    sink = RaisingSink()
    api = build_api(tmp_path, sink=sink)
    api.manifests.publish(make_manifest(artifact_uri=str(sklearn_classifier.path)))
    # When a prediction and a rejection happen
    served = api.predict([GOOD, GOOD, GOOD])
    rejected = api.predict([GOOD], model="ghost")
    # Then both are answered as usual, and the lost lines are counted per stream
    assert served.status_code == 200 and len(served.json()["predictions"]) == 3
    assert rejected.status_code == 404
    assert sink.calls == 2
    assert api.metrics.counts[("capture_failures", EVENTS, "logged")] == 3
    assert api.metrics.counts[("capture_failures", REJECTED, "logged")] == 1
    assert api.metrics.counts[("rejections", "unknown", "unknown_model")] == 1


# --- feedback ----------------------------------------------------------------------------------


def test_feedback_is_accepted_and_each_label_captured(tmp_path: Path) -> None:
    # Given the API with a labels stream, and the model's manifest
    api = build_api(tmp_path)
    api.manifests.publish(MANIFEST)
    labels = [{"request_id": "r-1", "index": 0, "label": 1}, {"request_id": "r-1", "index": 3, "label": 0}]

    # When labels arrive (days after their predictions, possibly)
    response = api.client.post(
        "/v1/models/fraud/feedback", json={"labels": labels}, headers={"x-request-id": "fb-1"}
    )

    # Then 202, and one LabelEvent per label on the labels stream, stamped when received
    assert response.status_code == 202
    assert response.json() == {"accepted": 2, "request_id": "fb-1"}
    events = [LabelEvent.model_validate_json(line) for line in api.sink.lines["labels"]]
    assert [(e.model, e.request_id, e.index, e.label) for e in events] == [
        ("fraud", "r-1", 0, 1),
        ("fraud", "r-1", 3, 0),
    ]
    assert {e.timestamp for e in events} == {NOW}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"labels": []}, "labels"),
        ({"labels": [{"request_id": "r", "index": -1, "label": 1}]}, "index"),
        ({"labels": [{"index": 0, "label": 1}]}, "request_id"),
    ],
)
def test_malformed_feedback_is_422_naming_the_field(tmp_path: Path, body: dict[str, Any], field: str) -> None:
    api = build_api(tmp_path)
    response = api.client.post("/v1/models/fraud/feedback", json=body)
    assert response.status_code == 422
    assert any(field in f["loc"] for f in response.json()["error"]["fields"])
    assert "labels" not in api.sink.lines


@pytest.mark.parametrize(
    ("raw_label", "why"),
    [
        ('{"request_id": "r", "index": 0, "label": NaN}', "NaN"),
        ('{"request_id": "r", "index": 0, "label": Infinity}', "Infinity"),
        ('{"request_id": "r", "index": 0, "label": -Infinity}', "-Infinity"),
        ('{"request_id": "r", "index": 0, "label": 1e400}', "1e400 (read as inf)"),
        ('{"request_id": "r", "index": 0, "label": ' + "9" * 400 + "}", "an integer of 400 digits"),
        ('{"request_id": "r", "index": 1000000000000000000000000000000, "label": 1}', "index 10**30"),
        ('{"request_id": "r", "index": false, "label": 1}', "index false"),
        ('{"request_id": "r", "index": 1.0, "label": 1}', "index 1.0"),
        ('{"request_id": "r", "index": 0, "label": "' + "x" * 300 + '"}', "a 300-character label"),
        ('{"request_id": "has space", "index": 0, "label": 1}', "a request id no request has"),
        ('{"request_id": "r", "index": 0, "label": [1]}', "a list"),
    ],
)
def test_labels_that_would_poison_the_data_are_refused(tmp_path: Path, raw_label: str, why: str) -> None:
    api = build_api(tmp_path)
    response = api.client.post(
        "/v1/models/fraud/feedback",
        content='{"labels": [' + raw_label + "]}",
        headers={"content-type": "application/json"},
    )

    assert response.status_code == 422, why
    assert response.json()["error"]["code"] == "invalid_body"
    assert "labels" not in api.sink.lines
    [rejected] = api.rejected()
    assert rejected.reason == "invalid_body"


def test_every_kind_of_valid_label_is_accepted_as_valid_json(tmp_path: Path) -> None:
    api = build_api(tmp_path)
    api.manifests.publish(MANIFEST)
    labels = [
        {"request_id": "r", "index": 0, "label": True},
        {"request_id": "r", "index": 1, "label": 3},
        {"request_id": "r", "index": 2, "label": 0.25},
        {"request_id": "r", "index": 3, "label": "fraud"},
    ]

    response = api.client.post("/v1/models/fraud/feedback", json={"labels": labels})

    assert response.status_code == 202
    stored = [
        json.loads(line, parse_constant=lambda token: pytest.fail(token)) for line in api.sink.lines["labels"]
    ]
    assert [s["label"] for s in stored] == [True, 3, 0.25, "fraud"]
    assert [type(s["label"]) for s in stored] == [bool, int, float, str]


def test_feedback_for_an_unknown_model_is_404(tmp_path: Path) -> None:
    api = build_api(tmp_path)
    response = api.client.post(
        "/v1/models/ghost/feedback", json={"labels": [{"request_id": "r", "index": 0, "label": 1}]}
    )
    assert response.status_code == 404
    assert "labels" not in api.sink.lines
    assert [json.loads(line)["reason"] for line in api.sink.lines[REJECTED]] == ["unknown_model"]


def test_feedback_without_a_labels_stream_is_501(tmp_path: Path) -> None:
    api = build_api(tmp_path, labels_stream=None)
    api.manifests.publish(MANIFEST)
    response = api.client.post(
        "/v1/models/fraud/feedback", json={"labels": [{"request_id": "r", "index": 0, "label": 1}]}
    )
    assert response.status_code == 501
    assert response.json()["error"]["code"] == "feedback_unavailable"
