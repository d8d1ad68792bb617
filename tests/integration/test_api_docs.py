"""Swagger UI and the OpenAPI document as a deployment serves them: through Mangum, and over real HTTP.

Behind API Gateway the ``$default`` stage adds no path prefix, so the page's ``openapi_url``
(``/openapi.json``) is where the route is; the page loads Swagger UI from jsdelivr's CDN.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from modelwatch.serving.app import create_app
from modelwatch.serving.context import build_context
from modelwatch.serving.metrics import InMemoryServingMetrics
from modelwatch.serving.openapi_auth import JWT_SCHEME
from modelwatch.settings import ServingSettings
from modelwatch.stores.capture import MemorySink
from modelwatch.stores.objects import InMemoryStorage
from tests.integration.conftest import Deployment, function_env, http_api_event, load_handler

ISSUER = "https://login.example.com/"
SWAGGER_CDN = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/"


def _route(method: str, path: str) -> dict[str, Any]:
    """The event of the explicit ``GET /docs`` or ``GET /openapi.json`` route (api_docs.public)."""
    event = http_api_event(method, path)
    event["routeKey"] = event["requestContext"]["routeKey"] = f"{method} {path}"
    return event


def test_the_catalog_function_serves_swagger_ui_and_a_jwt_document_behind_the_default_stage(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Given the catalog function of a deployment with JWT auth, as the serving stack configures it
    env = function_env(deployment.dlq_url, tmp_path, catalog="")
    env |= {
        "MODELWATCH_API_AUTH": "jwt",
        "MODELWATCH_API_JWT_ISSUER": ISSUER,
        "MODELWATCH_API_JWT_PREDICT_SCOPES": "modelwatch/predict",
        "MODELWATCH_API_JWT_FEEDBACK_SCOPES": "",
    }
    deployment.handler = load_handler(monkeypatch, env)

    docs = deployment.invoke(_route("GET", "/docs"))
    spec = deployment.invoke(_route("GET", "/openapi.json"))

    assert docs["statusCode"] == 200 and docs["headers"]["content-type"].startswith("text/html")
    assert "url: '/openapi.json'" in docs["body"]  # no stage prefix on $default: the route's own path
    assert f"{SWAGGER_CDN}swagger-ui-bundle.js" in docs["body"]  # what the README warns about
    assert spec["statusCode"] == 200
    document = json.loads(spec["body"])
    assert document["components"]["securitySchemes"][JWT_SCHEME]["scheme"] == "bearer"
    assert document["paths"]["/v1/models/{model}/predict"]["post"]["security"] == [{JWT_SCHEME: []}]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def jwt_api() -> Iterator[str]:
    settings = ServingSettings(
        models_bucket="models",
        rejected_stream="rejected",
        events_stream="events",
        api_auth="jwt",
        api_jwt_issuer=ISSUER,
    )
    sink = MemorySink()
    context = build_context(settings, storage=InMemoryStorage(), sink=sink, metrics=InMemoryServingMetrics())
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(context), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_over_http_swagger_ui_gets_the_bearer_scheme_and_a_bearer_call_is_answered_in_the_envelope(
    jwt_api: str,
) -> None:
    with httpx.Client(base_url=jwt_api) as client:
        page = client.get("/docs")
        document = client.get("/openapi.json").json()
        # What "Try it out" sends once authorised: the token in the Authorization header.
        call = client.post(
            "/v1/models/nope/predict",
            json={"instances": [{"amount": 1.0}]},
            headers={"Authorization": "Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln"},
        )

    assert page.status_code == 200 and "SwaggerUIBundle" in page.text
    assert document["security"] == [{JWT_SCHEME: []}]
    assert document["components"]["securitySchemes"][JWT_SCHEME]["bearerFormat"] == "JWT"
    assert call.status_code == 404
    assert set(call.json()) == {"error", "request_id"} and call.json()["error"]["code"] == "unknown_model"
