"""cdk-nag acknowledgments: every finding we accept on a construct, with the reason why.

cdk-nag v3 reports through CDK's policy validation and names each wildcard finding
exactly (``AwsSolutions-IAM5[Resource::<Bucket.Arn>/*]``); an acknowledgment must
repeat that name, so :func:`nag_resource` renders a resource the way cdk-nag does.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Acknowledgment, Stack, Validations
from constructs import IConstruct


def acknowledge(construct: IConstruct, rule_id: str, reason: str) -> None:
    """Acknowledge (suppress) one cdk-nag finding on ``construct`` and its children."""
    Validations.of(construct).acknowledge(Acknowledgment(id=rule_id, reason=reason))


def acknowledge_wildcards(
    construct: IConstruct, reason: str, *, actions: tuple[str, ...] = (), resources: tuple[str, ...] = ()
) -> None:
    """Acknowledge the AwsSolutions-IAM5 findings of the given wildcard actions and resources.

    ``resources`` are as rendered by :func:`nag_resource`.
    """
    for action in actions:
        acknowledge(construct, f"AwsSolutions-IAM5[Action::{action}]", reason)
    for resource in resources:
        acknowledge(construct, f"AwsSolutions-IAM5[Resource::{resource}]", reason)


def nag_resource(scope: IConstruct, value: str) -> str:
    """Return ``value`` (possibly a token) as cdk-nag names it in ``scope``'s template."""
    return _render(Stack.of(scope).resolve(value))


def _render(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Fn::Join":
            separator, parts = argument
            return str(separator).join(_render(part) for part in parts)
        if function == "Fn::ImportValue":
            return _render(argument)
        if function == "Fn::GetAtt":
            return f"<{argument[0]}.{argument[1]}>"
        if function == "Ref":
            return f"<{argument}>"
    raise ValueError(f"cannot render {value!r} as cdk-nag does")
