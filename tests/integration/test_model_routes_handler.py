"""The model-routes function in-process: EventBridge S3 events in, routes written in moto's apigatewayv2."""

from __future__ import annotations

import importlib.util
import json
import sys
import uuid
from types import ModuleType
from typing import Any

import boto3
import pytest
from modelwatch_local.fraud import FRAUD_SCHEMA

from modelwatch.contracts import layout
from modelwatch.contracts.manifest import ServingManifest
from modelwatch.stores.manifests import ManifestStore
from modelwatch.stores.objects import S3Storage
from tests.integration.conftest import MODELS_BUCKET, REPO, LambdaContext

HANDLER = REPO / "functions" / "model_routes" / "handler.py"


def load_model_routes(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> ModuleType:
    """Import functions/model_routes/handler.py afresh under ``env``, as a cold start does."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    name = f"model_routes_handler_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, HANDLER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def s3_event(detail_type: str, key: str) -> dict[str, Any]:
    """The event EventBridge delivers for an S3 object (bucket with EventBridge notifications on)."""
    return {
        "version": "0",
        "id": uuid.uuid4().hex,
        "detail-type": detail_type,
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2026-12-01T00:00:00Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:s3:::{MODELS_BUCKET}"],
        "detail": {"version": "0", "bucket": {"name": MODELS_BUCKET}, "object": {"key": key, "size": 1}},
    }


def publish(model: str, flavor: str, version: str = "1") -> str:
    manifest = ServingManifest(
        model=model,
        version=version,
        flavor=flavor,  # type: ignore[arg-type]
        artifact_uri=f"s3://{MODELS_BUCKET}/{layout.model_file_key(model, version, flavor)}",  # type: ignore[arg-type]
        input_schema=FRAUD_SCHEMA,
    )
    ManifestStore(S3Storage(boto3.client("s3")), MODELS_BUCKET).write(manifest)
    return layout.manifest_key(model, "production")


@pytest.fixture
def api(aws: None, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """An HTTP API like the serving stack's: {model} to sklearn, an onnx integration, a dedicated route."""
    boto3.client("s3").create_bucket(Bucket=MODELS_BUCKET)
    client = boto3.client("apigatewayv2")
    api_id = client.create_api(Name="modelwatch-api", ProtocolType="HTTP")["ApiId"]

    def integration(name: str) -> str:
        uri = f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
        return str(
            client.create_integration(
                ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=uri, PayloadFormatVersion="2.0"
            )["IntegrationId"]
        )

    sklearn, onnx, dedicated = integration("sklearn"), integration("onnx"), integration("big")
    for key, target in (
        ("POST /v1/models/{model}/predict", sklearn),
        ("POST /v1/models/big/predict", dedicated),
    ):
        client.create_route(
            ApiId=api_id, RouteKey=key, Target=f"integrations/{target}", AuthorizationType="AWS_IAM"
        )
    module = load_model_routes(
        monkeypatch,
        {
            "MODELWATCH_API_ID": api_id,
            "MODELWATCH_MODELS_BUCKET": MODELS_BUCKET,
            "MODELWATCH_DEFAULT_FLAVOR": "sklearn",
            "MODELWATCH_FLAVOR_INTEGRATIONS": json.dumps({"onnx": onnx}),
            "MODELWATCH_DEDICATED_MODELS": "big",
        },
    )
    return {"client": client, "api_id": api_id, "onnx": onnx, "handler": module.handler}


def routes_of(api: dict[str, Any]) -> dict[str, dict[str, Any]]:
    items = api["client"].get_routes(ApiId=api["api_id"])["Items"]
    return {item["RouteKey"]: item for item in items}


def test_publishing_an_onnx_model_writes_its_route_once(api: dict[str, Any]) -> None:
    # Given an onnx model's manifest just published
    key = publish("churn", "onnx")

    # When EventBridge delivers its Object Created event (twice: delivery is at least once)
    first = api["handler"](s3_event("Object Created", key), LambdaContext())
    second = api["handler"](s3_event("Object Created", key), LambdaContext())

    # Then the API has one literal route to the onnx integration, signed like the stack's routes
    route = routes_of(api)["POST /v1/models/churn/predict"]
    assert route["Target"] == f"integrations/{api['onnx']}"
    assert route["AuthorizationType"] == "AWS_IAM"
    assert [c["action"] for c in first["changes"]] == ["created"]
    assert [c["action"] for c in second["changes"]] == ["unchanged"]
    assert len(routes_of(api)) == 3


def test_a_sklearn_model_needs_no_route_and_a_deleted_manifest_removes_one(api: dict[str, Any]) -> None:
    api["handler"](s3_event("Object Created", publish("fraud", "sklearn")), LambdaContext())
    assert "POST /v1/models/fraud/predict" not in routes_of(api)

    key = publish("churn", "onnx")
    api["handler"](s3_event("Object Created", key), LambdaContext())
    boto3.client("s3").delete_object(Bucket=MODELS_BUCKET, Key=key)
    report = api["handler"](s3_event("Object Deleted", key), LambdaContext())

    assert [c["action"] for c in report["changes"]] == ["deleted"]
    assert "POST /v1/models/churn/predict" not in routes_of(api)


def test_reconcile_routes_every_published_model_and_leaves_the_stacks_routes(api: dict[str, Any]) -> None:
    for model, flavor in (("a", "onnx"), ("b", "onnx"), ("c", "sklearn"), ("big", "onnx")):
        publish(model, flavor)

    report = api["handler"]({}, LambdaContext())

    assert set(routes_of(api)) == {
        "POST /v1/models/{model}/predict",
        "POST /v1/models/big/predict",
        "POST /v1/models/a/predict",
        "POST /v1/models/b/predict",
    }
    assert sorted((c["model"], c["action"]) for c in report["changes"]) == [
        ("a", "created"),
        ("b", "created"),
        ("big", "skipped"),
        ("c", "unchanged"),
    ]


def test_an_unreadable_manifest_fails_the_invocation_naming_the_model(api: dict[str, Any]) -> None:
    key = layout.manifest_key("churn", "production")
    boto3.client("s3").put_object(Bucket=MODELS_BUCKET, Key=key, Body=b"{not json")

    with pytest.raises(Exception, match="churn"):
        api["handler"](s3_event("Object Created", key), LambdaContext())
    assert "POST /v1/models/churn/predict" not in routes_of(api)


def test_a_missing_setting_fails_the_cold_start_naming_it(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(Exception, match="MODELWATCH_API_ID"):
        load_model_routes(monkeypatch, {"MODELWATCH_MODELS_BUCKET": MODELS_BUCKET})
