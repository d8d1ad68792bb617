"""AWS quotas that cfn-lint does not check, as one readable function each.

Every check takes synthesised templates and returns the violations it found, each naming
the stack, the resource and the figure against the quota (an empty list: within quota).
Sizes of policies are estimated on the template: an intrinsic function that CloudFormation
resolves at deploy time (``Ref``, ``Fn::GetAtt``, ``Fn::ImportValue``, ...) is counted as
:data:`TOKEN_BYTES` bytes, the length of a typical ARN; ``Fn::Join`` is joined.

Quotas (AWS documentation, "quotas" pages of each service):

- CloudFormation: 500 resources and 200 outputs per stack; a template of at most
  1,000,000 bytes when uploaded to S3, which is how the CDK deploys every template (its
  bootstrap's asset bucket); 51,200 bytes only applies to a template passed inline.
- SQS: a queue policy of at most 20 statements and 8,192 bytes.
- Lambda: a function's resource-based policy of at most 20 KB (20,480 bytes); its
  statements are the ``AWS::Lambda::Permission`` resources that target the function.
- EventBridge: 300 rules per event bus (the default bus is shared by every stack).
- API Gateway: 300 routes per HTTP API.
- IAM: 10,240 bytes of inline policy per role (the sum of every policy attached inline,
  minified JSON without whitespace, as IAM counts it).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

MAX_RESOURCES = 500
MAX_OUTPUTS = 200
MAX_TEMPLATE_BYTES_S3 = 1_000_000
MAX_TEMPLATE_BYTES_INLINE = 51_200
MAX_QUEUE_POLICY_STATEMENTS = 20
MAX_QUEUE_POLICY_BYTES = 8_192
MAX_LAMBDA_POLICY_BYTES = 20 * 1024
MAX_RULES_PER_BUS = 300
MAX_ROUTES_PER_API = 300
MAX_ROLE_INLINE_POLICY_BYTES = 10_240

TOKEN_BYTES = 80  # a resolved Ref/GetAtt/ImportValue: about the length of an ARN
DEFAULT_BUS = "default"

Templates = Mapping[str, Mapping[str, Any]]  # stack name -> template


def render(value: Any) -> Any:
    """``value`` with intrinsic functions replaced by what they resolve to (or a placeholder)."""
    if isinstance(value, dict):
        if len(value) == 1:
            ((name, argument),) = value.items()
            if name == "Fn::Join":
                separator, parts = argument
                return str(separator).join(str(render(part)) for part in parts)
            if name in ("Ref", "Fn::GetAtt", "Fn::ImportValue", "Fn::Sub", "Fn::Select", "Fn::If"):
                return "x" * TOKEN_BYTES
        return {key: render(item) for key, item in value.items()}
    if isinstance(value, list):
        return [render(item) for item in value]
    return value


def minified_bytes(document: Any) -> int:
    """Bytes of ``document`` as minified JSON, intrinsic functions rendered."""
    return len(json.dumps(render(document), separators=(",", ":")).encode())


def _resources(template: Mapping[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in template.get("Resources", {}).items()
        if resource.get("Type") == kind
    }


def _key(reference: Any) -> str:
    """A stable name for the resource a property points at (``Ref``, ``GetAtt``, a literal)."""
    if isinstance(reference, dict) and "Ref" in reference:
        return str(reference["Ref"])
    if isinstance(reference, dict) and "Fn::GetAtt" in reference:
        return str(reference["Fn::GetAtt"][0])
    return json.dumps(reference, sort_keys=True)


def check_resources(templates: Templates) -> list[str]:
    return [
        f"{stack}: {len(template.get('Resources', {}))} resources (quota {MAX_RESOURCES})"
        for stack, template in templates.items()
        if len(template.get("Resources", {})) > MAX_RESOURCES
    ]


def check_outputs(templates: Templates) -> list[str]:
    return [
        f"{stack}: {len(template.get('Outputs', {}))} outputs (quota {MAX_OUTPUTS})"
        for stack, template in templates.items()
        if len(template.get("Outputs", {})) > MAX_OUTPUTS
    ]


def check_template_sizes(sizes: Mapping[str, int], quota: int = MAX_TEMPLATE_BYTES_S3) -> list[str]:
    """``sizes``: the bytes of each stack's template file as written to the cloud assembly."""
    return [
        f"{stack}: template of {size:,} bytes (quota {quota:,})"
        for stack, size in sizes.items()
        if size > quota
    ]


def check_queue_policies(templates: Templates) -> list[str]:
    problems = []
    for stack, template in templates.items():
        statements: dict[str, list[Any]] = defaultdict(list)
        for logical_id, policy in _resources(template, "AWS::SQS::QueuePolicy").items():
            for queue in policy["Properties"]["Queues"]:
                statements[f"{_key(queue)} (via {logical_id})"] += policy["Properties"]["PolicyDocument"][
                    "Statement"
                ]
        for queue, found in statements.items():
            size = minified_bytes({"Version": "2012-10-17", "Statement": found})
            if len(found) > MAX_QUEUE_POLICY_STATEMENTS:
                problems.append(
                    f"{stack}: queue {queue} policy has {len(found)} statements "
                    f"(quota {MAX_QUEUE_POLICY_STATEMENTS})"
                )
            if size > MAX_QUEUE_POLICY_BYTES:
                problems.append(
                    f"{stack}: queue {queue} policy of {size:,} bytes (quota {MAX_QUEUE_POLICY_BYTES:,})"
                )
    return problems


def lambda_permission_statement(properties: Mapping[str, Any]) -> dict[str, Any]:
    """The statement Lambda adds to the function's resource policy for one ``AWS::Lambda::Permission``."""
    statement: dict[str, Any] = {
        "Sid": "x" * 64,
        "Effect": "Allow",
        "Principal": {"Service": properties.get("Principal")},
        "Action": properties.get("Action"),
        "Resource": properties.get("FunctionName"),
    }
    conditions: dict[str, Any] = {}
    if "SourceArn" in properties:
        conditions["ArnLike"] = {"AWS:SourceArn": properties["SourceArn"]}
    if "SourceAccount" in properties:
        conditions["StringEquals"] = {"AWS:SourceAccount": properties["SourceAccount"]}
    if conditions:
        statement["Condition"] = conditions
    return statement


def check_lambda_resource_policies(templates: Templates) -> list[str]:
    problems = []
    for stack, template in templates.items():
        statements: dict[str, list[Any]] = defaultdict(list)
        for permission in _resources(template, "AWS::Lambda::Permission").values():
            properties = permission["Properties"]
            statements[_key(properties["FunctionName"])].append(lambda_permission_statement(properties))
        for function, found in statements.items():
            size = minified_bytes({"Version": "2012-10-17", "Id": "default", "Statement": found})
            if size > MAX_LAMBDA_POLICY_BYTES:
                problems.append(
                    f"{stack}: function {function} resource policy of ~{size:,} bytes, "
                    f"{len(found)} statements (quota {MAX_LAMBDA_POLICY_BYTES:,})"
                )
    return problems


def check_rules_per_bus(templates: Templates) -> list[str]:
    """Rules of every stack together: stacks share the default bus (and any bus they import)."""
    rules: dict[str, list[str]] = defaultdict(list)
    for stack, template in templates.items():
        for logical_id, rule in _resources(template, "AWS::Events::Rule").items():
            bus = rule["Properties"].get("EventBusName", DEFAULT_BUS)
            name = DEFAULT_BUS if bus == DEFAULT_BUS else f"{stack}:{_key(bus)}"
            rules[name].append(f"{stack}/{logical_id}")
    return [
        f"event bus {bus}: {len(found)} rules (quota {MAX_RULES_PER_BUS}), e.g. {found[0]}"
        for bus, found in rules.items()
        if len(found) > MAX_RULES_PER_BUS
    ]


def check_routes_per_api(
    templates: Templates, planned: Mapping[str, Iterable[str]] | None = None
) -> list[str]:
    """Routes of each HTTP API: the template's plus ``planned`` (API logical id -> keys written later)."""
    problems = []
    for stack, template in templates.items():
        routes: dict[str, set[str]] = defaultdict(set)
        for route in _resources(template, "AWS::ApiGatewayV2::Route").values():
            routes[_key(route["Properties"]["ApiId"])].add(route["Properties"]["RouteKey"])
        for api in _resources(template, "AWS::ApiGatewayV2::Api"):
            keys = routes[api] | set((planned or {}).get(api, ()))
            if len(keys) > MAX_ROUTES_PER_API:
                problems.append(
                    f"{stack}: HTTP API {api} has {len(keys)} routes (quota {MAX_ROUTES_PER_API})"
                )
    return problems


def role_inline_policy_bytes(template: Mapping[str, Any]) -> dict[str, int]:
    """Bytes of inline policy per role of one template (its Policies plus the AWS::IAM::Policy attached)."""
    sizes: dict[str, int] = defaultdict(int)
    for logical_id, role in _resources(template, "AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies", []):
            sizes[logical_id] += minified_bytes(policy["PolicyDocument"])
    for policy in _resources(template, "AWS::IAM::Policy").values():
        for role in policy["Properties"].get("Roles", []):
            sizes[_key(role)] += minified_bytes(policy["Properties"]["PolicyDocument"])
    return dict(sizes)


def check_role_inline_policies(templates: Templates) -> list[str]:
    return [
        f"{stack}: role {role} has {size:,} bytes of inline policy (quota {MAX_ROLE_INLINE_POLICY_BYTES:,})"
        for stack, template in templates.items()
        for role, size in role_inline_policy_bytes(template).items()
        if size > MAX_ROLE_INLINE_POLICY_BYTES
    ]
