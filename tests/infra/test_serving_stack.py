"""The serving stack: a function per flavour and per dedicated model, the catalog, the API, model routes."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk.assertions import Template

from infra.assembly import Assembly

pytestmark = pytest.mark.infra

MODELS = [
    {"name": "fraud_detection", "flavor": "sklearn", "dedicated": True},
    {"name": "churn.v2", "flavor": "onnx", "dedicated": True, "memory_mb": 2048, "reserved_concurrency": 3},
]
CONTRACT_VARIABLES = {
    "MODELWATCH_MODELS_BUCKET",
    "MODELWATCH_MANIFEST_PREFIX",
    "MODELWATCH_SERVING_ALIAS",
    "MODELWATCH_EVENTS_STREAM",
    "MODELWATCH_REJECTED_STREAM",
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
    """Functions by role: "flavor:<f>", a dedicated model's name, "catalog", "model-routes"."""
    found = {}
    for logical_id, resource in template.find_resources("AWS::Lambda::Function").items():
        props = resource["Properties"]
        description = props["Description"]
        if logical_id.startswith("FunctionsCatalog"):
            name = "catalog"
        elif logical_id.startswith("ModelRoutes"):
            name = "model-routes"
        elif logical_id.startswith("FunctionsFlavor"):
            name = f"flavor:{description.split()[4]}"
        else:
            name = description.split()[5]
        found[name] = {"id": logical_id, **props}
    return found


def _import_of(value: dict[str, Any]) -> str:
    return value["Fn::ImportValue"]


def _stream_import(env: dict[str, Any]) -> str:
    """The import behind the one events stream's name (every model's: Firehose partitions by model)."""
    return _import_of(env["MODELWATCH_EVENTS_STREAM"])


def test_one_function_per_flavour_and_per_dedicated_model_plus_catalog(template: Template) -> None:
    functions = _functions(template)

    assert set(functions) == {
        "flavor:sklearn", "flavor:onnx", "fraud_detection", "churn.v2", "catalog", "model-routes",
    }  # fmt: skip
    for props in functions.values():
        assert props["Runtime"] == "python3.11"
        assert props["Architectures"] == ["arm64"]
        assert props["Handler"] == "handler.handler"
        assert props.get("TracingConfig", {"Mode": "PassThrough"}) == {"Mode": "PassThrough"}  # the default
        assert [layer["Ref"][: len("FunctionsModelwatchLayer")] for layer in props["Layers"]] == [
            "FunctionsModelwatchLayer"
        ]
        assert "LogGroup" in props["LoggingConfig"]
    assert functions["churn.v2"]["MemorySize"] == 2048
    assert functions["churn.v2"]["ReservedConcurrentExecutions"] == 3
    assert "ReservedConcurrentExecutions" not in functions["flavor:onnx"]
    assert functions["fraud_detection"]["MemorySize"] == 1024
    assert functions["fraud_detection"]["Timeout"] == 15
    assert functions["flavor:sklearn"]["MemorySize"] == 1024


def test_functions_do_not_grow_with_published_models(assembly_factory: Callable[..., Assembly]) -> None:
    # The default cdk.json declares no model: two flavour functions, the catalog, the route writer.
    functions = _functions(Template.from_stack(assembly_factory().serving))

    assert set(functions) == {"flavor:sklearn", "flavor:onnx", "catalog", "model-routes"}


def test_function_logs_have_retention(template: Template) -> None:
    for group in template.find_resources("AWS::Logs::LogGroup").values():
        assert group["Properties"]["RetentionInDays"] == 30


def test_layer_is_for_python_311_on_the_configured_architecture(template: Template) -> None:
    template.resource_count_is("AWS::Lambda::LayerVersion", 1)
    template.has_resource_properties(
        "AWS::Lambda::LayerVersion",
        {"CompatibleRuntimes": ["python3.11"], "CompatibleArchitectures": ["arm64"]},
    )


def test_flavour_function_serves_its_flavour_for_any_model(template: Template) -> None:
    env = _functions(template)["flavor:onnx"]["Environment"]["Variables"]

    assert set(env) == CONTRACT_VARIABLES | {"MODELWATCH_SERVED_FLAVORS"}
    assert env["MODELWATCH_SERVED_FLAVORS"] == "onnx"
    assert "RefStreamsEvents" in _stream_import(env)
    assert env["MODELWATCH_MANIFEST_PREFIX"] == "manifests"
    assert env["MODELWATCH_SERVING_ALIAS"] == "production"
    assert env["MODELWATCH_MAX_INSTANCES"] == "1000"
    assert env["MODELWATCH_MANIFEST_TTL_SECONDS"] == "30"
    assert env["MODELWATCH_MODEL_CACHE_DIR"] == "/tmp/modelwatch-models"
    assert env["POWERTOOLS_SERVICE_NAME"] == "modelwatch"
    assert "RefStorageModels" in _import_of(env["MODELWATCH_MODELS_BUCKET"])
    assert "RefStreamsRejected" in _import_of(env["MODELWATCH_REJECTED_STREAM"])
    assert "RefCaptureDlq" in _import_of(env["MODELWATCH_CAPTURE_DLQ_URL"])


def test_dedicated_function_environment_names_its_model(template: Template) -> None:
    env = _functions(template)["churn.v2"]["Environment"]["Variables"]

    assert set(env) == CONTRACT_VARIABLES | {"MODELWATCH_SERVED_FLAVORS", "MODELWATCH_CATALOG_MODELS"}
    assert env["MODELWATCH_SERVED_FLAVORS"] == "onnx"
    assert env["MODELWATCH_CATALOG_MODELS"] == "churn.v2"
    assert "RefStreamsEvents" in _stream_import(env)


def test_catalog_function_serves_no_model(template: Template) -> None:
    env = _functions(template)["catalog"]["Environment"]["Variables"]

    assert set(env) == CONTRACT_VARIABLES | {"MODELWATCH_LABELS_STREAM", "MODELWATCH_API_AUTH"}
    assert env["MODELWATCH_API_AUTH"] == "iam"  # what its OpenAPI document tells callers (/docs)
    assert "RefStreamsEvents" in _stream_import(env)
    # feedback (POST /v1/models/<m>/feedback) goes to the catalog function
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


def test_dedicated_function_reads_only_its_model_and_writes_only_its_streams(template: Template) -> None:
    function = _functions(template)["churn.v2"]
    allowed = _by_action(_statements(template, function))

    assert set(allowed) == {
        "s3:GetObject", "firehose:PutRecord", "firehose:PutRecordBatch", "sqs:SendMessage",
        "xray:PutTraceSegments", "xray:PutTelemetryRecords",
    }  # fmt: skip
    assert _object_suffixes(allowed["s3:GetObject"]) == {"/manifests/churn.v2/*", "/models/churn.v2/*"}
    streams = {_import_of(r) for r in allowed["firehose:PutRecord"]}
    assert len(streams) == 2
    # the one events stream of every model (partitioned by model) and the rejected stream
    assert any("StreamsEvents" in s for s in streams) and any("StreamsRejected" in s for s in streams)
    assert allowed["firehose:PutRecordBatch"] == allowed["firehose:PutRecord"]
    assert ["CaptureDlq" in _import_of(r) for r in allowed["sqs:SendMessage"]] == [True]
    assert allowed["xray:PutTraceSegments"] == ["*"]


def test_flavour_function_reads_every_model_and_lists_only_manifests(template: Template) -> None:
    statements = _statements(template, _functions(template)["flavor:sklearn"])
    allowed = _by_action(statements)

    assert _object_suffixes(allowed["s3:GetObject"]) == {"/manifests/*", "/models/*"}
    (listing,) = [s for s in statements if s["Action"] == "s3:ListBucket"]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["manifests/*"]}}
    assert not any(a.startswith("s3:Put") for a in allowed)
    streams = sorted(_import_of(r) for r in allowed["firehose:PutRecord"])
    assert len(streams) == 2
    assert "StreamsEvents" in streams[0] and "StreamsRejected" in streams[1]


def test_catalog_reads_manifests_only_and_writes_rejected_and_labels_only(template: Template) -> None:
    allowed = _by_action(_statements(template, _functions(template)["catalog"]))

    assert _object_suffixes(allowed["s3:GetObject"]) == {"/manifests/*"}
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


def test_routes_send_models_to_the_default_flavour_and_dedicated_ones_to_their_function(
    template: Template,
) -> None:
    routes = _routes(template)
    functions = _functions(template)

    assert set(routes) == {
        "POST /v1/models/{model}/predict",
        "POST /v1/models/fraud_detection/predict",
        "POST /v1/models/churn.v2/predict",
        "POST /v1/models/{model}/feedback",
        "$default",
    }
    function_of = {key: _integration_function(template, route) for key, route in routes.items()}
    assert function_of["POST /v1/models/{model}/predict"] == functions["flavor:sklearn"]["id"]
    assert function_of["POST /v1/models/churn.v2/predict"] == functions["churn.v2"]["id"]
    assert (
        function_of["$default"]
        == function_of["POST /v1/models/{model}/feedback"]
        == functions["catalog"]["id"]
    )


def test_the_other_flavour_has_an_integration_for_routes_written_at_publish(template: Template) -> None:
    functions = _functions(template)
    used = {route["Target"]["Fn::Join"][1][1]["Ref"] for route in _routes(template).values()}
    unused = {
        logical_id: props["Properties"]
        for logical_id, props in template.find_resources("AWS::ApiGatewayV2::Integration").items()
        if logical_id not in used
    }

    ((integration_id, integration),) = unused.items()
    assert integration["IntegrationUri"]["Fn::GetAtt"][0] == functions["flavor:onnx"]["id"]
    assert (integration["IntegrationType"], integration["PayloadFormatVersion"]) == ("AWS_PROXY", "2.0")
    # API Gateway may invoke the onnx function for any model's predict path, nothing else
    permissions = [
        p["Properties"]
        for p in template.find_resources("AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == {"Fn::GetAtt": [functions["flavor:onnx"]["id"], "Arn"]}
    ]
    assert [p["SourceArn"]["Fn::Join"][1][-1] for p in permissions] == ["/*/*/v1/models/*/predict"]
    # and the model-routes function is told its id
    env = functions["model-routes"]["Environment"]["Variables"]
    assert env["MODELWATCH_FLAVOR_INTEGRATIONS"]["Fn::Join"][1] == [
        '{"onnx":"',
        {"Ref": integration_id},
        '"}',
    ]


def test_model_routes_function_is_started_by_manifest_writes_and_may_only_touch_routes(
    assembly: Assembly, template: Template
) -> None:
    function = _functions(template)["model-routes"]
    env = function["Environment"]["Variables"]
    assert env["MODELWATCH_DEFAULT_FLAVOR"] == "sklearn"
    assert env["MODELWATCH_DEDICATED_MODELS"] == "fraud_detection,churn.v2"
    assert env["MODELWATCH_API_ID"] == {"Ref": next(iter(template.find_resources("AWS::ApiGatewayV2::Api")))}
    assert function["ReservedConcurrentExecutions"] == 1
    # one rule on the models bucket's manifests, one daily reconcile
    rules = [r["Properties"] for r in template.find_resources("AWS::Events::Rule").values()]
    (on_manifests,) = [r for r in rules if "EventPattern" in r]
    pattern = on_manifests["EventPattern"]
    assert pattern["detail-type"] == ["Object Created", "Object Deleted"]
    assert pattern["detail"]["object"] == {"key": [{"prefix": "manifests/"}]}
    assert "StorageModels" in _import_of(pattern["detail"]["bucket"]["name"][0])
    assert [r["ScheduleExpression"] for r in rules if "ScheduleExpression" in r] == ["rate(1 hour)"]
    # the models bucket sends its events to EventBridge
    Template.from_stack(assembly.capture).has_resource_properties(
        "Custom::S3BucketNotifications", {"NotificationConfiguration": {"EventBridgeConfiguration": {}}}
    )
    allowed = _by_action(_statements(template, function))
    assert set(allowed) == {
        "apigateway:GET", "apigateway:POST", "apigateway:PATCH", "apigateway:DELETE",
        "s3:GetObject", "s3:ListBucket", "xray:PutTraceSegments", "xray:PutTelemetryRecords",
    }  # fmt: skip
    tails = sorted(r["Fn::Join"][1][-1] for r in allowed["apigateway:PATCH"])
    assert tails == ["/routes", "/routes/*"]
    assert _object_suffixes(allowed["s3:GetObject"]) == {"/manifests/*"}


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
        "POST /v1/models/{model}/predict": ["modelwatch/predict"],
        "POST /v1/models/{model}/feedback": ["modelwatch/feedback"],
        "$default": None,
    }


def test_catalog_function_is_told_the_jwt_issuer_and_scopes(jwt_template: Template) -> None:
    env = _functions(jwt_template)["catalog"]["Environment"]["Variables"]

    assert {k: v for k, v in env.items() if k.startswith("MODELWATCH_API_")} == {
        "MODELWATCH_API_AUTH": "jwt",
        "MODELWATCH_API_JWT_ISSUER": "https://login.example.com/",
        "MODELWATCH_API_JWT_PREDICT_SCOPES": "modelwatch/predict",
        "MODELWATCH_API_JWT_FEEDBACK_SCOPES": "modelwatch/feedback",
    }


DOCS_ROUTES = {"GET /docs", "GET /openapi.json"}


@pytest.fixture(scope="module")
def public_docs_template(assembly_factory: Callable[..., Assembly]) -> Template:
    return Template.from_stack(assembly_factory({"api_docs": {"public": True}}).serving)


@pytest.fixture(scope="module")
def jwt_public_docs_template(assembly_factory: Callable[..., Assembly]) -> Template:
    auth = {"type": "jwt", "issuer": "https://login.example.com/", "audience": ["modelwatch-api"]}
    return Template.from_stack(assembly_factory({"auth": auth, "api_docs": {"public": True}}).serving)


def test_docs_routes_are_public_only_with_the_switch_and_go_to_the_catalog(
    template: Template, public_docs_template: Template
) -> None:
    assert not DOCS_ROUTES & set(_routes(template))  # default: /docs is behind $default's authoriser

    routes = _routes(public_docs_template)
    functions = _functions(public_docs_template)
    assert set(routes) >= DOCS_ROUTES
    for key in DOCS_ROUTES:
        assert routes[key]["AuthorizationType"] == "NONE"
        assert "AuthorizerId" not in routes[key]
        assert _integration_function(public_docs_template, routes[key]) == functions["catalog"]["id"]
    others = {key: route["AuthorizationType"] for key, route in routes.items() if key not in DOCS_ROUTES}
    assert set(others.values()) == {"AWS_IAM"}, others
    assert {"POST /v1/models/{model}/predict", "POST /v1/models/{model}/feedback", "$default"} <= set(others)


def test_with_jwt_only_the_docs_routes_go_without_the_authoriser(jwt_public_docs_template: Template) -> None:
    routes = _routes(jwt_public_docs_template)

    kinds = {key: route["AuthorizationType"] for key, route in routes.items()}
    assert kinds == {
        "POST /v1/models/{model}/predict": "JWT",
        "POST /v1/models/{model}/feedback": "JWT",
        "$default": "JWT",
        "GET /docs": "NONE",
        "GET /openapi.json": "NONE",
    }
    assert all("AuthorizerId" in routes[key] for key, kind in kinds.items() if kind == "JWT")


def test_stage_throttles_logs_and_auto_deploys(template: Template) -> None:
    stage = next(iter(template.find_resources("AWS::ApiGatewayV2::Stage").values()))["Properties"]

    assert stage["StageName"] == "$default"
    assert stage["AutoDeploy"] is True
    assert stage["DefaultRouteSettings"] == {"ThrottlingBurstLimit": 40, "ThrottlingRateLimit": 20}
    log_format = json.loads(stage["AccessLogSettings"]["Format"])
    assert log_format["requestId"] == "$context.requestId"
    assert "Fn::GetAtt" in stage["AccessLogSettings"]["DestinationArn"]


def test_outputs_give_api_and_predict_urls(template: Template) -> None:
    outputs = {k: v for k, v in template.find_outputs("*").items() if not k.startswith("Export")}

    assert set(outputs) == {
        "ApiUrl", "PredictUrlTemplate", "PredictUrlfrauddetection", "PredictUrlchurnv2",
        "ModelRoutesFunctionName",
    }  # fmt: skip
    assert outputs["PredictUrlchurnv2"]["Value"]["Fn::Join"][1][1] == "/v1/models/churn.v2/predict"
    assert outputs["PredictUrlTemplate"]["Value"]["Fn::Join"][1][1] == "/v1/models/{model}/predict"


def test_resources_are_tagged(template: Template) -> None:
    for props in _functions(template).values():
        tags = {tag["Key"]: tag["Value"] for tag in props["Tags"]}
        assert tags == {"project": "modelwatch", "team": "ml"}
    template.has_resource_properties(
        "AWS::ApiGatewayV2::Api", {"Tags": {"project": "modelwatch", "team": "ml"}}
    )
