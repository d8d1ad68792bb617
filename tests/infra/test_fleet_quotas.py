"""A fleet of 100 models stays within the AWS quotas cfn-lint does not check, in every stack.

Models are data: of the fleet's 100 models only the two ``dedicated`` ones are in cdk.json
(the other 98 are published manifests and add nothing to any template), so the synth has
two dedicated models of mixed flavours, and the routes the model-routes function writes
for the 98 (one per model of a non-default flavour) are planned by its own logic
(``RouteWriter`` over in-memory twins) and counted with the stack's routes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import Stack
from aws_cdk.assertions import Template
from modelwatch_local.fraud import FRAUD_SCHEMA

from infra.assembly import Assembly
from modelwatch.contracts.manifest import ServingManifest
from modelwatch.registry.routes import RouteWriter
from modelwatch.stores.manifests import ManifestStore
from modelwatch.stores.objects import InMemoryStorage
from modelwatch.stores.routes import InMemoryRoutes, Route, RouteAuthorization
from tests.infra import quotas

pytestmark = pytest.mark.infra

FLEET_SIZE = 100
DEDICATED = [
    {"name": "iso_alpha", "flavor": "onnx", "dedicated": True, "memory_mb": 3008, "reserved_concurrency": 10},
    {"name": "iso_beta", "flavor": "sklearn", "dedicated": True, "timeout_s": 29},
]
MORE_DEDICATED = [
    {"name": "iso_gamma", "flavor": "onnx", "dedicated": True},
    {"name": "iso_delta", "flavor": "sklearn", "dedicated": True},
]
FLEET_CONFIG = {"models": DEDICATED, "chaos": {"enabled": True}}


def _stacks(assembly: Assembly) -> list[Stack]:
    return [
        s
        for s in (
            assembly.capture,
            assembly.serving,
            assembly.monitoring,
            assembly.observability,
            assembly.registry,
            assembly.chaos,
        )
        if s is not None
    ]


def _templates(assembly: Assembly) -> dict[str, dict[str, Any]]:
    return {stack.stack_name: Template.from_stack(stack).to_json() for stack in _stacks(assembly)}


@pytest.fixture(scope="module")
def fleet(assembly_factory: Callable[..., Assembly]) -> Assembly:
    return assembly_factory(FLEET_CONFIG)


@pytest.fixture(scope="module")
def templates(fleet: Assembly) -> dict[str, dict[str, Any]]:
    return _templates(fleet)


def published_fleet() -> list[tuple[str, str]]:
    """The fleet's models and flavours: the dedicated ones, then the published ones, flavours alternating."""
    models = [(m["name"], m["flavor"]) for m in DEDICATED]
    flavors = ("sklearn", "onnx")
    models += [(f"model_{n:03d}", flavors[n % 2]) for n in range(FLEET_SIZE - len(models))]
    return models


def planned_routes(fleet: Assembly, template: dict[str, Any]) -> tuple[str, set[str]]:
    """The API's logical id and the routes the model-routes function writes for the published fleet."""
    (api_id,) = [k for k, v in template["Resources"].items() if v["Type"] == "AWS::ApiGatewayV2::Api"]
    stack_routes = [
        Route(
            logical_id,
            r["Properties"]["RouteKey"],
            "integrations/stack",
            RouteAuthorization(r["Properties"].get("AuthorizationType", "NONE")),
        )
        for logical_id, r in template["Resources"].items()
        if r["Type"] == "AWS::ApiGatewayV2::Route"
    ]
    integrations = {
        flavor: fleet.serving.resolve(integration.ref)["Ref"]
        for flavor, integration in fleet.serving.api.flavor_integrations.items()
    }
    storage = InMemoryStorage()
    store = ManifestStore(storage, "models")
    for model, flavor in published_fleet():
        store.write(
            ServingManifest(
                model=model,
                version="1",
                flavor=flavor,
                artifact_uri="s3://models/x",  # type: ignore[arg-type]
                input_schema=FRAUD_SCHEMA,
            )
        )
    routes = InMemoryRoutes(stack_routes)
    report = RouteWriter(
        routes,
        storage,
        "models",
        serving_alias=fleet.config.serving_alias,
        default_flavor=fleet.config.default_flavor,
        integrations=integrations,
        dedicated=[m.name for m in fleet.config.dedicated_models],
    ).reconcile()
    assert not report.failures
    return api_id, {route.route_key for route in routes.routes()} - {r.route_key for r in stack_routes}


def test_every_stack_is_within_resources_and_outputs(templates: dict[str, dict[str, Any]]) -> None:
    assert quotas.check_resources(templates) == []
    assert quotas.check_outputs(templates) == []


def test_every_template_is_within_the_s3_uploaded_template_size(fleet: Assembly) -> None:
    # The CDK uploads every template to its bootstrap bucket: 1,000,000 bytes applies, not 51,200.
    outdir = Path(fleet.app.outdir)
    sizes = {stack.stack_name: (outdir / stack.template_file).stat().st_size for stack in _stacks(fleet)}
    print({name: f"{size:,} B" for name, size in sizes.items()})

    assert quotas.check_template_sizes(sizes) == []


def test_queue_policies_are_within_statements_and_bytes(templates: dict[str, dict[str, Any]]) -> None:
    assert quotas.check_queue_policies(templates) == []


def test_lambda_resource_policies_are_within_20_kb(templates: dict[str, dict[str, Any]]) -> None:
    assert quotas.check_lambda_resource_policies(templates) == []


def test_event_buses_hold_at_most_300_rules(templates: dict[str, dict[str, Any]]) -> None:
    assert quotas.check_rules_per_bus(templates) == []


def test_role_inline_policies_are_within_10240_bytes(templates: dict[str, dict[str, Any]]) -> None:
    assert quotas.check_role_inline_policies(templates) == []


def test_the_api_holds_the_stack_routes_plus_one_per_published_model_of_another_flavour(
    fleet: Assembly, templates: dict[str, dict[str, Any]]
) -> None:
    serving = templates[fleet.serving.stack_name]
    api_id, planned = planned_routes(fleet, serving)
    others = [m for m, flavor in published_fleet()[len(DEDICATED) :] if flavor != fleet.config.default_flavor]
    print(f"routes: {len(planned)} written at publish for {FLEET_SIZE} models")

    # one literal route per published onnx model, none for sklearn ones or the dedicated ones
    assert planned == {f"POST /v1/models/{m}/predict" for m in others}
    assert quotas.check_routes_per_api(templates, {api_id: planned}) == []


def _without(template: dict[str, Any], names: list[str], section: str = "Resources") -> set[str]:
    suffixes = [name.replace("_", "") for name in names]
    return {key for key in template.get(section, {}) if not any(s in key for s in suffixes)}


def test_only_dedicated_models_add_resources(
    fleet: Assembly, templates: dict[str, dict[str, Any]], assembly_factory: Callable[..., Assembly]
) -> None:
    # Given the fleet with two more dedicated models
    more = _templates(assembly_factory({**FLEET_CONFIG, "models": [*DEDICATED, *MORE_DEDICATED]}))
    added = [m["name"] for m in MORE_DEDICATED]

    for stack, template in templates.items():
        # Then every stack holds the same resources but those named after the two added models
        assert _without(more[stack], added) == set(template["Resources"]), stack
    # And the serving stack adds a function, its role, policy, log group, route, integration,
    # and permission per dedicated model
    serving = fleet.serving.stack_name
    grown = len(more[serving]["Resources"]) - len(templates[serving]["Resources"])
    assert grown == 2 * 7


# The checks themselves: each finds the quota a tiny template breaks.


def _policy(n: int, role: str = "Role") -> dict[str, Any]:
    return {
        "Type": "AWS::IAM::Policy",
        "Properties": {
            "Roles": [{"Ref": role}],
            "PolicyDocument": {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "s3:GetObject",
                        "Resource": "arn:aws:s3:::b/" + "k" * 100 + str(i),
                    }
                    for i in range(n)
                ]
            },
        },
    }


def test_check_resources_and_outputs_name_the_stack_and_figure() -> None:
    big = {
        "Resources": {f"R{i}": {"Type": "AWS::SNS::Topic"} for i in range(501)},
        "Outputs": {f"O{i}": {"Value": "x"} for i in range(201)},
    }

    assert quotas.check_resources({"S": big}) == ["S: 501 resources (quota 500)"]
    assert quotas.check_outputs({"S": big}) == ["S: 201 outputs (quota 200)"]
    assert quotas.check_template_sizes({"S": 1_000_001}) == [
        "S: template of 1,000,001 bytes (quota 1,000,000)"
    ]
    assert quotas.check_template_sizes({"S": 60_000}) == []


def test_check_queue_policies_counts_statements_and_bytes_per_queue() -> None:
    statement = {
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": {"Fn::GetAtt": ["Dlq", "Arn"]},
        "Condition": {"ArnEquals": {"aws:SourceArn": "a" * 300}},
    }
    template = {
        "Resources": {
            "P1": {
                "Type": "AWS::SQS::QueuePolicy",
                "Properties": {"Queues": [{"Ref": "Dlq"}], "PolicyDocument": {"Statement": [statement] * 21}},
            }
        }
    }

    problems = quotas.check_queue_policies({"S": template})

    assert len(problems) == 2
    assert "S: queue Dlq (via P1) policy has 21 statements (quota 20)" in problems
    assert any("bytes (quota 8,192)" in p for p in problems)


def test_check_lambda_resource_policies_sums_the_permissions_of_one_function() -> None:
    permission = {
        "Type": "AWS::Lambda::Permission",
        "Properties": {
            "FunctionName": {"Fn::GetAtt": ["Fn", "Arn"]},
            "Action": "lambda:InvokeFunction",
            "Principal": "events.amazonaws.com",
            "SourceArn": {"Fn::GetAtt": ["Rule", "Arn"]},
        },
    }
    few = {"Resources": {f"P{i}": permission for i in range(20)}}
    many = {"Resources": {f"P{i}": permission for i in range(60)}}

    assert quotas.check_lambda_resource_policies({"S": few}) == []
    (problem,) = quotas.check_lambda_resource_policies({"S": many})
    assert problem.startswith("S: function Fn resource policy of ~") and "60 statements" in problem


def test_check_rules_per_bus_counts_the_default_bus_across_stacks() -> None:
    rules = {f"R{i}": {"Type": "AWS::Events::Rule", "Properties": {}} for i in range(150)}
    custom = {
        f"C{i}": {"Type": "AWS::Events::Rule", "Properties": {"EventBusName": {"Ref": "Bus"}}}
        for i in range(301)
    }

    # 300 on the default bus (150 + 150, within), 301 on B's own bus
    problems = quotas.check_rules_per_bus(
        {"A": {"Resources": rules}, "B": {"Resources": {**rules, **custom}}}
    )

    assert problems == ["event bus B:Bus: 301 rules (quota 300), e.g. B/C0"]
    three = {"A": {"Resources": rules}, "B": {"Resources": rules}, "C": {"Resources": {"X": rules["R0"]}}}
    assert quotas.check_rules_per_bus(three) == ["event bus default: 301 rules (quota 300), e.g. A/R0"]


def test_check_routes_per_api_adds_the_planned_routes() -> None:
    routes = {
        f"R{i}": {
            "Type": "AWS::ApiGatewayV2::Route",
            "Properties": {"ApiId": {"Ref": "Api"}, "RouteKey": f"POST /v1/models/m{i}/predict"},
        }
        for i in range(250)
    }
    template = {"Resources": {"Api": {"Type": "AWS::ApiGatewayV2::Api", "Properties": {}}, **routes}}
    planned = {"Api": [f"POST /v1/models/p{i}/predict" for i in range(51)]}

    assert quotas.check_routes_per_api({"S": template}) == []
    assert quotas.check_routes_per_api({"S": template}, planned) == [
        "S: HTTP API Api has 301 routes (quota 300)"
    ]


def test_check_role_inline_policies_sums_every_policy_of_a_role() -> None:
    role = {"Type": "AWS::IAM::Role", "Properties": {}}
    within = {"Resources": {"Role": role, "P1": _policy(40)}}
    over = {"Resources": {"Role": role, "P1": _policy(40), "P2": _policy(40)}}

    assert quotas.check_role_inline_policies({"S": within}) == []
    (problem,) = quotas.check_role_inline_policies({"S": over})
    assert problem.startswith("S: role Role has ") and problem.endswith("(quota 10,240)")
