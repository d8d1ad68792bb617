"""`make cost` on the registry as the default configuration synthesises it: at most $50 an idle month.

Every line of the registry's idle month must answer to a resource of its template (the mapping
below), so a line cannot outlive what it prices; the HTTPS variant's figure is computed too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from modelwatch_local.cost.calculator import Inputs, registry_idle_month
from modelwatch_local.cost.prices import load_prices
from modelwatch_local.cost.templates import summarise

from infra.assembly import Assembly
from tests.infra.test_registry_stack import CERTIFICATE_ARN, DOMAIN

pytestmark = pytest.mark.infra

GOAL_USD = 50.0
# Each line of the registry's idle month and the resource type(s) of the template it prices.
PRICED_BY = {
    "registry_secrets": ("AWS::SecretsManager::Secret",),
    "registry_nat_gateways": ("AWS::EC2::NatGateway", "AWS::EC2::EIP"),
    "registry_interface_endpoints": ("AWS::EC2::VPCEndpoint",),
    "registry_task_public_ipv4": ("AWS::ECS::Service",),
    "registry_load_balancer": ("AWS::ElasticLoadBalancingV2::LoadBalancer",),
    "registry_cloud_map": ("AWS::ServiceDiscovery::PrivateDnsNamespace",),
    "registry_hosted_zones": ("AWS::Route53::HostedZone",),
    "registry_fargate": ("AWS::ECS::TaskDefinition",),
    "registry_container_insights": ("AWS::ECS::Cluster",),
    "registry_database": ("AWS::RDS::DBInstance",),
    "registry_image_storage": ("AWS::ECR::Repository",),
    "registry_flow_logs": ("AWS::EC2::FlowLog",),
}


def _templates(assembly: Assembly) -> dict[str, dict[str, Any]]:
    cloud = assembly.app.synth()
    return {stack.stack_name: stack.template for stack in cloud.stacks}


@pytest.fixture(scope="module")
def default(assembly_factory: Callable[..., Assembly]) -> dict[str, dict[str, Any]]:
    return _templates(assembly_factory())


@pytest.fixture(scope="module")
def https(assembly_factory: Callable[..., Assembly]) -> dict[str, dict[str, Any]]:
    return _templates(
        assembly_factory({"registry": {"certificate_arn": CERTIFICATE_ARN, "domain_name": DOMAIN}})
    )


def _registry_month(templates: dict[str, dict[str, Any]]) -> dict[str, float]:
    figure = registry_idle_month(summarise(templates), Inputs(), load_prices())
    lines = {item.name: item.usd for item in figure.items}
    print("registry idle month:", {k: round(v, 2) for k, v in lines.items()}, f"total {figure.total:.2f}")
    return lines


def _types(templates: dict[str, dict[str, Any]]) -> set[str]:
    (registry,) = [t for name, t in templates.items() if name.endswith("Registry")]
    return {r["Type"] for r in registry["Resources"].values()}


def test_the_default_registry_idles_at_or_under_fifty_dollars_a_month(default: dict[str, Any]) -> None:
    lines = _registry_month(default)

    assert sum(lines.values()) <= GOAL_USD
    assert {"registry_nat_gateways", "registry_load_balancer", "registry_container_insights"}.isdisjoint(
        lines
    )
    assert lines["registry_fargate"] < 10  # 0.25 vCPU / 1 GB arm64


@pytest.mark.parametrize("variant", ["default", "https"])
def test_every_line_comes_from_a_resource_of_the_template(
    variant: str, request: pytest.FixtureRequest
) -> None:
    templates = request.getfixturevalue(variant)
    types = _types(templates)

    for name in _registry_month(templates):
        if name.startswith("scheduled "):
            assert "AWS::Events::Rule" in types
            continue
        assert name in PRICED_BY, f"{name} prices nothing the test knows"
        assert types & set(PRICED_BY[name]), f"{name} without any of {PRICED_BY[name]} in the template"


def test_with_a_certificate_the_load_balancer_replaces_cloud_map(
    default: dict[str, Any], https: dict[str, Any]
) -> None:
    plain, secure = _registry_month(default), _registry_month(https)

    assert "registry_load_balancer" in secure and "registry_cloud_map" not in secure
    assert sum(secure.values()) - sum(plain.values()) == pytest.approx(
        secure["registry_load_balancer"] + secure["registry_hosted_zones"] - plain["registry_cloud_map"]
    )
