"""Every error the API can answer is one envelope with a documented status, counted and captured.

These are the framework's own errors, which answered outside the envelope before: FastAPI's
400 for bodies it cannot parse, route 404/405, the 307 on a trailing slash, and bodies over
the limit; and a 422 whose violation has no feature, which broke the documented schema.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.unit.serving.test_serving_app import GOOD, Api, build_api


@pytest.fixture
def api(tmp_path: Path, make_manifest: Any, sklearn_classifier: Any) -> Api:
    api = build_api(tmp_path)
    api.manifests.publish(make_manifest(version="1", artifact_uri=str(sklearn_classifier.path)))
    return api


def envelope(response: Any) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error", "request_id"} and body["request_id"] == response.headers["x-request-id"]
    assert {"code", "message"} <= set(body["error"])
    return dict(body["error"])


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b'{"instances": [{"amount": 1}]}\xff\xfe', "not UTF-8"),
        (b'{"instances": ' + b"[" * 2000 + b"]" * 2000 + b"}", "nested 2,000 levels deep"),
        (b'{"instances": [{"amount": ' + b"9" * 5000 + b"}]}", "an integer of 5,000 digits"),
        (b'{"instances": [{"amount": 1}', "not JSON"),
    ],
)
def test_a_body_the_framework_cannot_parse_is_a_captured_422_invalid_body(
    api: Api, content: bytes, why: str
) -> None:
    response = api.client.post(
        "/v1/models/fraud/predict", content=content, headers={"content-type": "application/json"}
    )

    assert response.status_code == 422, why
    assert envelope(response)["code"] == "invalid_body"
    [rejected] = api.rejected()
    assert (rejected.reason, rejected.model, rejected.status_code) == ("invalid_body", "fraud", 422)
    assert api.rejection_counts() == {("rejections", "fraud", "invalid_body"): 1}


def test_unknown_paths_and_methods_are_enveloped_and_captured(api: Api) -> None:
    missing = api.client.get("/v2/nothing")
    wrong_method = api.client.get("/v1/models/fraud/predict")
    slash = api.client.post("/v1/models/fraud/predict/", json={"instances": [GOOD]})

    assert (missing.status_code, envelope(missing)["code"]) == (404, "not_found")
    assert (wrong_method.status_code, envelope(wrong_method)["code"]) == (405, "method_not_allowed")
    assert wrong_method.headers["allow"] == "POST"
    assert (slash.status_code, envelope(slash)["code"]) == (404, "not_found")  # no 307 redirect
    assert [(r.reason, r.model) for r in api.rejected()] == [
        ("not_found", ""),
        ("method_not_allowed", "fraud"),
        ("not_found", "fraud"),
    ]


def test_a_body_over_the_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    api = build_api(tmp_path)
    api.client.app.state.context.settings.max_body_bytes = 2048
    big = json.dumps({"instances": [{"amount": 1.0, "pad": "x" * 4000}]})

    response = api.client.post(
        "/v1/models/fraud/predict", content=big, headers={"content-type": "application/json"}
    )

    assert response.status_code == 413 and envelope(response)["code"] == "body_too_large"
    assert [r.reason for r in api.rejected()] == ["body_too_large"]


def test_a_violation_without_a_feature_keeps_the_documented_shape(api: Api) -> None:
    response = api.predict([GOOD, [1, 2]])

    assert response.status_code == 422
    [violation] = envelope(response)["violations"]
    assert violation == {
        "index": 1,
        "feature": None,
        "code": "not_an_object",
        "message": "each instance must be a JSON object of feature values",
    }


def test_a_10_kb_model_name_is_not_echoed_whole(api: Api) -> None:
    name = "m" * 10_000
    response = api.predict([GOOD], model=name)

    assert response.status_code == 404
    assert len(response.text) < 600 and envelope(response)["code"] == "unknown_model"
    [rejected] = api.rejected()
    assert len(rejected.model) <= 128


def test_a_model_answering_nan_is_a_prediction_failed_not_a_500(
    tmp_path: Path, make_manifest: Any, garbage_file: Path
) -> None:
    class NanModel:
        def predict(self, rows: Any) -> list[Any]:
            return [0.5 if row.get("amount") == 0.0 else float("nan") for row in rows]

    api = build_api(tmp_path, loader=lambda manifest, path: NanModel())
    api.manifests.publish(make_manifest(artifact_uri=str(garbage_file)))

    response = api.predict([GOOD])

    assert response.status_code == 422 and envelope(response)["code"] == "prediction_failed"
    assert [r.reason for r in api.rejected()] == ["prediction_failed"] and api.predictions() == []
