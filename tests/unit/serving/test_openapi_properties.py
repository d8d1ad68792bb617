"""Every operation of the OpenAPI document, driven with generated valid and invalid inputs (Schemathesis).

Schemathesis reads the app's own ``/openapi.json`` and generates requests for every
operation, positive (what the document allows) and negative (what it does not), several
hundred per operation, through the ASGI app in-process (no sockets). For each response:
no 5xx, the status is documented for the operation, the content type and body match the
documented schema, and a rejection (any 4xx) is captured to the rejected stream with the
request's id, as every rejection must be. A served model (the real 3-feature scikit-learn
classifier) stands behind ``fraud``; the generator also names models that are not served.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode

from modelwatch.contracts.manifest import ServingManifest
from modelwatch.contracts.schema import FeatureSpec, FeatureType, InputSchema
from modelwatch.serving.app import create_app
from modelwatch.serving.context import build_context
from modelwatch.serving.metrics import InMemoryServingMetrics
from modelwatch.settings import ServingSettings
from modelwatch.stores.capture import MemorySink
from modelwatch.stores.manifests import ManifestStore
from modelwatch.stores.objects import InMemoryStorage

EXAMPLES_PER_OPERATION = 300
EVENTS = "events"
REJECTED = "rejected"
SCHEMA = InputSchema(
    features=[
        FeatureSpec(name="amount", type=FeatureType.NUMBER, minimum=0.0),
        FeatureSpec(name="hour", type=FeatureType.INTEGER, minimum=0, maximum=23),
        FeatureSpec(name="is_foreign", type=FeatureType.BOOLEAN),
    ]
)


def _build() -> tuple[Any, MemorySink]:
    import joblib
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit(
        np.array([[10.0, 3, 0], [90.0, 22, 1], [40.0, 12, 0], [70.0, 2, 1]]), [0, 1, 0, 1]
    )
    workdir = Path(__import__("tempfile").mkdtemp(prefix="modelwatch-openapi-"))
    path = workdir / "model.joblib"
    joblib.dump(model, path)
    storage = InMemoryStorage()
    ManifestStore(storage, "models").write(
        ServingManifest(
            model="fraud",
            version="1",
            flavor="sklearn",
            artifact_uri=str(path),
            input_schema=SCHEMA,
            prediction_type="probability",
        )
    )
    settings_ = ServingSettings(
        models_bucket="models",
        rejected_stream=REJECTED,
        labels_stream="labels",
        events_stream=EVENTS,
        catalog_models=["fraud"],
        max_instances=20,
        model_cache_dir=str(workdir / "cache"),
    )
    sink = MemorySink()
    context = build_context(settings_, storage=storage, sink=sink, metrics=InMemoryServingMetrics())
    return create_app(context), sink


APP, SINK = _build()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=EXAMPLES_PER_OPERATION
)
# The checks, each a property of every response. Left out: positive_data_acceptance (a body the
# document allows is still refused when it breaks the *model's* schema, or names a model not
# served), and the stateful and authentication checks (no links, no auth in-process).
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
]


CASES: dict[str, int] = {}  # generated cases run, per operation (checked by the last test)
SERVED: dict[str, int] = {}  # of them, answered 2xx


@schema.hook
def map_path_parameters(context: Any, path_parameters: dict[str, Any]) -> dict[str, Any]:
    # Half the generated model names become the served one, so the served path is driven too.
    if path_parameters and "model" in path_parameters and len(str(path_parameters["model"])) % 2 == 0:
        return {**path_parameters, "model": "fraud"}
    return path_parameters


@schema.hook
def map_body(context: Any, body: Any) -> Any:
    # Half the generated predict bodies get instances valid for the model (as many as generated).
    instances = body.get("instances") if isinstance(body, dict) else None
    if isinstance(instances, list) and instances and len(instances) % 2 == 0:
        valid = [{"amount": 1.5 * i, "hour": i % 24, "is_foreign": i % 3 == 0} for i in range(len(instances))]
        return {**body, "instances": valid}
    return body


def _rejections_of(request_id: str) -> list[dict[str, Any]]:
    return [r for r in map(json.loads, SINK.lines.get(REJECTED, [])) if r["request_id"] == request_id]


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,  # the same cases on every run: a failure is reproducible, counts are stable
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
def test_every_operation_answers_as_documented_and_captures_every_rejection(case: Any) -> None:
    response = case.call()
    operation = f"{case.method.upper()} {case.path}"
    CASES[operation] = CASES.get(operation, 0) + 1

    case.validate_response(response, checks=[getattr(schemathesis.checks, name) for name in CHECKS])
    if response.status_code < 300:
        SERVED[operation] = SERVED.get(operation, 0) + 1
    if response.status_code == 200 and operation == "POST /v1/models/{model}/predict":
        body = response.json()
        events = [
            e for e in map(json.loads, SINK.lines.get(EVENTS, [])) if e["request_id"] == body["request_id"]
        ]
        assert [e["index"] for e in events] == list(range(len(body["predictions"]))), "events lost"
    if 400 <= response.status_code < 500:
        body = response.json()
        assert set(body) == {"error", "request_id"}, body
        echoed = response.headers["x-request-id"]  # Schemathesis keeps every value of a header
        assert [body["request_id"]] == (echoed if isinstance(echoed, list) else [echoed])
        captured = _rejections_of(body["request_id"])
        assert [(r["reason"], r["status_code"]) for r in captured] == [
            (body["error"]["code"], response.status_code)
        ], f"{case.method} {case.formatted_path}: rejection not captured exactly once"


def test_every_operation_of_the_document_was_driven_with_hundreds_of_cases() -> None:
    # Runs after the property test above (pytest keeps file order): what it covered.
    documented = {
        f"{result.ok().method.upper()} {result.ok().path}" for result in schema.get_all_operations()
    }
    assert documented == {
        "POST /v1/models/{model}/predict",
        "POST /v1/models/{model}/feedback",
        "GET /v1/models",
        "GET /health",
    }
    # Negative cases also try the methods the document does not list (answered 405, captured).
    assert documented <= set(CASES), CASES
    print("cases per operation:", dict(sorted(CASES.items())), "answered 2xx:", SERVED)
    assert SERVED.get("POST /v1/models/{model}/predict", 0) >= 10, SERVED  # the served path was driven
    # Operations without parameters have few distinct inputs; the two with bodies get hundreds.
    assert (
        CASES["POST /v1/models/{model}/predict"] >= 200 and CASES["POST /v1/models/{model}/feedback"] >= 200
    ), CASES


@pytest.fixture(autouse=True)
def _fresh_sink() -> None:
    SINK.lines.clear()
