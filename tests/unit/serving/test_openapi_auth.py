"""The OpenAPI document says how callers authenticate: a bearer (JWT) scheme, SigV4, or nothing locally."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from openapi_spec_validator import validate

from modelwatch.serving.app import create_app
from modelwatch.serving.context import build_context
from modelwatch.serving.metrics import InMemoryServingMetrics
from modelwatch.serving.openapi_auth import JWT_SCHEME, SIGV4_NOTE, with_authentication
from modelwatch.settings import ServingSettings, SettingsError, load_settings
from modelwatch.stores.capture import MemorySink
from modelwatch.stores.objects import InMemoryStorage

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

ISSUER = "https://login.example.com/oauth2/default"
PREDICT = "/v1/models/{model}/predict"
FEEDBACK = "/v1/models/{model}/feedback"


def _settings(**auth: Any) -> ServingSettings:
    return ServingSettings(
        models_bucket="models",
        rejected_stream="rejected",
        events_stream="events",
        labels_stream="labels",
        **auth,
    )


def _document(settings: ServingSettings) -> dict[str, Any]:
    context = build_context(
        settings, storage=InMemoryStorage(), sink=MemorySink(), metrics=InMemoryServingMetrics()
    )
    with TestClient(create_app(context)) as client:
        response = client.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


@pytest.fixture(scope="module")
def local() -> dict[str, Any]:
    return _document(_settings())


@pytest.fixture(scope="module")
def jwt() -> dict[str, Any]:
    return _document(
        _settings(
            api_auth="jwt",
            api_jwt_issuer=ISSUER,
            api_jwt_predict_scopes=["modelwatch/predict"],
            api_jwt_feedback_scopes=["modelwatch/feedback", "modelwatch/admin"],
        )
    )


@pytest.fixture(scope="module")
def iam() -> dict[str, Any]:
    return _document(_settings(api_auth="iam"))


def test_the_local_document_declares_no_authentication(local: dict[str, Any]) -> None:
    assert "security" not in local
    assert "securitySchemes" not in local.get("components", {})
    assert "Authentication" not in local["info"]["description"]


def test_with_jwt_authorize_takes_a_bearer_token_for_every_operation(jwt: dict[str, Any]) -> None:
    validate(jwt)  # a valid OpenAPI 3.1 document, as Swagger UI reads it

    scheme = jwt["components"]["securitySchemes"][JWT_SCHEME]
    # type http + scheme bearer: Swagger UI's "Authorize" asks for the token and sends
    # "Authorization: Bearer <token>" with every "Try it out" of an operation requiring it.
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")
    assert ISSUER in scheme["description"]
    assert jwt["security"] == [{JWT_SCHEME: []}]  # the $default routes (listing, health) need a JWT too
    for path in (PREDICT, FEEDBACK):
        assert jwt["paths"][path]["post"]["security"] == [{JWT_SCHEME: []}]
    assert "`modelwatch/predict`" in jwt["paths"][PREDICT]["post"]["description"]
    feedback = jwt["paths"][FEEDBACK]["post"]["description"]
    assert "`modelwatch/feedback`" in feedback and "`modelwatch/admin`" in feedback
    assert "Authorization: Bearer" in jwt["info"]["description"] and ISSUER in jwt["info"]["description"]


def test_with_jwt_and_no_scopes_any_valid_token_is_said_to_do() -> None:
    document = _document(_settings(api_auth="jwt", api_jwt_issuer=ISSUER))
    assert "Any valid token" in document["paths"][PREDICT]["post"]["description"]


def test_with_iam_the_document_says_calls_need_sigv4_and_declares_no_scheme(iam: dict[str, Any]) -> None:
    validate(iam)

    assert SIGV4_NOTE in iam["info"]["description"]
    assert "awscurl" in iam["info"]["description"]
    assert "security" not in iam and "securitySchemes" not in iam.get("components", {})
    for path in iam["paths"].values():
        for operation in path.values():
            assert "SigV4" in operation["description"]


def test_authentication_changes_nothing_but_descriptions_and_security(
    local: dict[str, Any], jwt: dict[str, Any], iam: dict[str, Any]
) -> None:
    # The operations, their responses (the error envelope) and the schemas are those of the local document.
    def shape(document: dict[str, Any]) -> dict[str, Any]:
        return {
            path: {method: op["responses"] for method, op in item.items()}
            for path, item in document["paths"].items()
        }

    assert shape(jwt) == shape(iam) == shape(local)
    assert jwt["components"]["schemas"] == iam["components"]["schemas"] == local["components"]["schemas"]


def test_the_generated_document_is_left_untouched() -> None:
    before = {"info": {"description": "x"}, "paths": {PREDICT: {"post": {"responses": {}}}}}
    after = with_authentication(before, _settings(api_auth="jwt", api_jwt_issuer=ISSUER))
    assert before == {"info": {"description": "x"}, "paths": {PREDICT: {"post": {"responses": {}}}}}
    assert after["paths"][PREDICT]["post"]["security"] == [{JWT_SCHEME: []}]


def test_jwt_without_issuer_fails_at_cold_start_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "MODELWATCH_MODELS_BUCKET": "models",
        "MODELWATCH_REJECTED_STREAM": "rejected",
        "MODELWATCH_EVENTS_STREAM": "events",
        "MODELWATCH_API_AUTH": "jwt",
    }.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match="MODELWATCH_API_JWT_ISSUER"):
        load_settings(ServingSettings)
    monkeypatch.setenv("MODELWATCH_API_AUTH", "cognito")
    with pytest.raises(SettingsError, match="MODELWATCH_API_AUTH"):
        load_settings(ServingSettings)


def test_jwt_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "MODELWATCH_MODELS_BUCKET": "models",
        "MODELWATCH_REJECTED_STREAM": "rejected",
        "MODELWATCH_EVENTS_STREAM": "events",
        "MODELWATCH_API_AUTH": "jwt",
        "MODELWATCH_API_JWT_ISSUER": ISSUER,
        "MODELWATCH_API_JWT_PREDICT_SCOPES": "a/predict, b/predict",
        "MODELWATCH_API_JWT_FEEDBACK_SCOPES": "",
    }.items():
        monkeypatch.setenv(name, value)
    settings = load_settings(ServingSettings)
    assert (settings.api_auth, settings.api_jwt_issuer) == ("jwt", ISSUER)
    assert (settings.api_jwt_predict_scopes, settings.api_jwt_feedback_scopes) == (
        ["a/predict", "b/predict"],
        [],
    )
