"""The serving stack: layer, one function per model plus the catalog, least privilege, the HTTP API."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk.assertions import Template

from infra.assembly import Assembly

pytestmark = pytest.mark.infra

MODELS = [
    {"name": "fraud_detection", "flavor": "sklearn"},
    {"name": "churn.v2", "flavor": "onnx", "memory_mb": 2048},
]
CONTRACT_VARIABLES = {
    "MODELWATCH_MODELS_BUCKET",
    "MODELWATCH_MANIFEST_PREFIX",
    "MODELWATCH_SERVING_ALIAS",
    "MODELWATCH_EVENTS_STREAM",
    "MODELWATCH_REJECTED_STREAM",
    "MODELWATCH_CATALOG_MODELS",
    "MODELWATCH_CAPTURE_DLQ_URL",
    "MODELWATCH_MAX_INSTANCES",
    "MODELWATCH_MANIFEST_TTL_SECONDS",
    "MODELWATCH_MODEL_CACHE_DIR",
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
    "POWERTOOLS_LOG_LEVEL",
}


@pytest.fixture(scope="module")
def assembly(assembly_factory: Callable[..., Assembly]) -> Assembly:
    return assembly_factory(
        {"models": MODELS, "tags": {"team": "ml"}, "throttle": {"rate_limit": 20, "burst_limit": 40}}
    )


@pytest.fixture(scope="module")
def template(assembly: Assembly) -> Template:
    return Template.from_stack(assembly.serving)


@pytest.fixture(scope="module")
def jwt_template(assembly_factory: Callable[..., Assembly]) -> Template:
    auth = {
        "type": "jwt",
        "issuer": "https://login.example.com/",
        "audience": ["modelwatch-api"],
        "predict_scopes": ["modelwatch/predict"],
        "feedback_scopes": ["modelwatch/feedback"],
    }
    return Template.from_stack(assembly_factory({"auth": auth}).serving)


def _functions(template: Template) -> dict[str, dict[str, Any]]:
    """Functions by description's model name ("catalog" for the catalog function)."""
    found = {}
    for logical_id, resource in template.find_resources("AWS::Lambda::Function").items():
        props = resource["Properties"]
        name = "catalog" if logical_id.startswith("FunctionsCatalog") else props["Description"].split()[4]
        found[name] = {"id": logical_id, **props}
    return found


def _import_of(value: dict[str, Any]) -> str:
    return value["Fn::ImportValue"]


def test_one_function_per_model_plus_catalog(template: Template) -> None:
    functions = _functions(template)

    assert set(functions) == {"fraud_detection", "churn.v2", "catalog"}
    for props in functions.values():
        assert props["Runtime"] == "python3.11"
        assert props["Architectures"] == ["arm64"]
        assert props["Handler"] == "handler.handler"
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert [layer["Ref"][: len("FunctionsModelwatchLayer")] for layer in props["Layers"]] == [
            "FunctionsModelwatchLayer"
        ]
        assert "LogGroup" in props["LoggingConfig"]
    assert functions["churn.v2"]["MemorySize"] == 2048
    assert functions["fraud_detection"]["MemorySize"] == 1024
    assert functions["fraud_detection"]["Timeout"] == 15


def test_function_logs_have_retention(template: Template) -> None:
    for group in template.find_resources("AWS::Logs::LogGroup").values():
        assert group["Properties"]["RetentionInDays"] == 30


def test_layer_is_for_python_311_on_the_configured_architecture(template: Template) -> None:
    template.resource_count_is("AWS::Lambda::LayerVersion", 1)
    template.has_resource_properties(
        "AWS::Lambda::LayerVersion",
        {"CompatibleRuntimes": ["python3.11"], "CompatibleArchitectures": ["arm64"]},
    )


def test_model_function_environment_is_the_library_contract(template: Template) -> None:
    env = _functions(template)["churn.v2"]["Environment"]["Variables"]

    assert set(env) == CONTRACT_VARIABLES | {"MODELWATCH_SERVED_MODELS"}
    assert env["MODELWATCH_SERVED_MODELS"] == "churn.v2"
    assert env["MODELWATCH_MANIFEST_PREFIX"] == "manifests"
    assert env["MODELWATCH_SERVING_ALIAS"] == "production"
    assert env["MODELWATCH_CATALOG_MODELS"] == "churn.v2"
    assert env["MODELWATCH_MAX_INSTANCES"] == "1000"
    assert env["MODELWATCH_MANIFEST_TTL_SECONDS"] == "30"
    assert env["MODELWATCH_MODEL_CACHE_DIR"] == "/tmp/modelwatch-models"
    assert env["POWERTOOLS_SERVICE_NAME"] == "modelwatch"
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "modelwatch"
    assert env["POWERTOOLS_LOG_LEVEL"] == "INFO"
    assert "RefStorageModels" in _import_of(env["MODELWATCH_MODELS_BUCKET"])
    assert "RefStreamsRejected" in _import_of(env["MODELWATCH_REJECTED_STREAM"])
    assert "RefCaptureDlq" in _import_of(env["MODELWATCH_CAPTURE_DLQ_URL"])
    # the one events stream of every model (Firehose partitions it by the records' model)
    assert "RefStreamsEvents" in _import_of(env["MODELWATCH_EVENTS_STREAM"])


def test_catalog_function_serves_no_model_and_lists_all(template: Template) -> None:
    env = _functions(template)["catalog"]["Environment"]["Variables"]

    assert set(env) == CONTRACT_VARIABLES | {"MODELWATCH_LABELS_STREAM"}
    assert env["MODELWATCH_CATALOG_MODELS"] == "fraud_detection,churn.v2"
    # feedback (POST /v1/models/<m>/feedback) takes the $default route to the catalog function
    assert "RefStreamsLabels" in _import_of(env["MODELWATCH_LABELS_STREAM"])


def _statements(template: Template, function: dict[str, Any]) -> list[dict[str, Any]]:
    role = function["Role"]["Fn::GetAtt"][0]
    policies = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in template.find_resources("AWS::IAM::Policy").values()
        if p["Properties"]["Roles"] == [{"Ref": role}]
    ]
    assert len(policies) == 1
    return policies[0]


def _by_action(statements: list[dict[str, Any]]) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
        for action in actions:
            found.setdefault(action, []).extend(resources)
    return found


def _object_suffixes(resources: list[Any]) -> set[str]:
    suffixes = set()
    for resource in resources:
        head, suffix = resource["Fn::Join"][1]
        assert "StorageModels" in _import_of(head)
        suffixes.add(suffix)
    return suffixes


def test_model_function_reads_only_its_model_and_writes_only_its_streams(template: Template) -> None:
    function = _functions(template)["churn.v2"]
    allowed = _by_action(_statements(template, function))

    assert set(allowed) == {
        "s3:GetObject", "firehose:PutRecord", "firehose:PutRecordBatch", "sqs:SendMessage",
        "xray:PutTraceSegments", "xray:PutTelemetryRecords",
    }  # fmt: skip
    assert _object_suffixes(allowed["s3:GetObject"]) == {"/manifests/churn.v2/*", "/models/churn.v2/*"}
    streams = {_import_of(r) for r in allowed["firehose:PutRecord"]}
    assert len(streams) == 2
    assert any("StreamsEvents" in s for s in streams) and any("StreamsRejected" in s for s in streams)
    assert allowed["firehose:PutRecordBatch"] == allowed["firehose:PutRecord"]
    assert ["CaptureDlq" in _import_of(r) for r in allowed["sqs:SendMessage"]] == [True]
    assert allowed["xray:PutTraceSegments"] == ["*"]


def test_catalog_reads_manifests_only_and_writes_rejected_and_labels_only(template: Template) -> None:
    allowed = _by_action(_statements(template, _functions(template)["catalog"]))

    assert _object_suffixes(allowed["s3:GetObject"]) == {
        "/manifests/fraud_detection/*",
        "/manifests/churn.v2/*",
    }
    streams = sorted(_import_of(r) for r in allowed["firehose:PutRecord"])
    assert len(streams) == 2
    assert "StreamsLabels" in streams[0] and "StreamsRejected" in streams[1]


def _routes(template: Template) -> dict[str, dict[str, Any]]:
    return {
        r["Properties"]["RouteKey"]: r["Properties"]
        for r in template.find_resources("AWS::ApiGatewayV2::Route").values()
    }


def _integration_function(template: Template, route: dict[str, Any]) -> str:
    integration_id = route["Target"]["Fn::Join"][1][1]["Ref"]
    integration = template.find_resources("AWS::ApiGatewayV2::Integration")[integration_id]["Properties"]
    return integration["IntegrationUri"]["Fn::GetAtt"][0]


def test_routes_send_each_model_to_its_function_and_the_rest_to_the_catalog(template: Template) -> None:
    routes = _routes(template)
    functions = _functions(template)

    assert set(routes) == {
        "POST /v1/models/fraud_detection/predict",
        "POST /v1/models/churn.v2/predict",
        "POST /v1/models/{model}/feedback",
        "$default",
    }
    assert _integration_function(template, routes["$default"]) == functions["catalog"]["id"]
    assert (
        _integration_function(template, routes["POST /v1/models/{model}/feedback"])
        == functions["catalog"]["id"]
    )
    assert (
        _integration_function(template, routes["POST /v1/models/churn.v2/predict"])
        == functions["churn.v2"]["id"]
    )


def test_every_route_requires_iam_by_default(template: Template) -> None:
    assert {route["AuthorizationType"] for route in _routes(template).values()} == {"AWS_IAM"}
    template.resource_count_is("AWS::ApiGatewayV2::Authorizer", 0)


def test_every_route_requires_a_jwt_when_configured(jwt_template: Template) -> None:
    jwt_template.has_resource_properties(
        "AWS::ApiGatewayV2::Authorizer",
        {
            "AuthorizerType": "JWT",
            "JwtConfiguration": {"Issuer": "https://login.example.com/", "Audience": ["modelwatch-api"]},
        },
    )
    routes = _routes(jwt_template)
    assert {route["AuthorizationType"] for route in routes.values()} == {"JWT"}
    assert all("AuthorizerId" in route for route in routes.values())
    # Scoring and labelling need different scopes: a caller who may score cannot relabel.
    scopes = {key: route.get("AuthorizationScopes") for key, route in routes.items()}
    assert scopes == {
        "POST /v1/models/fraud_detection/predict": ["modelwatch/predict"],
        "POST /v1/models/{model}/feedback": ["modelwatch/feedback"],
        "$default": None,
    }


def test_stage_throttles_logs_and_auto_deploys(template: Template) -> None:
    stage = next(iter(template.find_resources("AWS::ApiGatewayV2::Stage").values()))["Properties"]

    assert stage["StageName"] == "$default"
    assert stage["AutoDeploy"] is True
    assert stage["DefaultRouteSettings"] == {"ThrottlingBurstLimit": 40, "ThrottlingRateLimit": 20}
    log_format = json.loads(stage["AccessLogSettings"]["Format"])
    assert log_format["requestId"] == "$context.requestId"
    assert "Fn::GetAtt" in stage["AccessLogSettings"]["DestinationArn"]


def test_outputs_give_api_and_predict_urls(template: Template) -> None:
    outputs = template.find_outputs("*")

    assert {"ApiUrl", "PredictUrlfrauddetection", "PredictUrlchurnv2"} <= set(outputs)
    assert outputs["PredictUrlchurnv2"]["Value"]["Fn::Join"][1][1] == "/v1/models/churn.v2/predict"


def test_resources_are_tagged(template: Template) -> None:
    for props in _functions(template).values():
        tags = {tag["Key"]: tag["Value"] for tag in props["Tags"]}
        assert tags == {"project": "modelwatch", "team": "ml"}
    template.has_resource_properties(
        "AWS::ApiGatewayV2::Api", {"Tags": {"project": "modelwatch", "team": "ml"}}
    )
