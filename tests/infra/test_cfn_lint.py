"""Every synthesised template passes cfn-lint with no errors (warnings are printed, not failed)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import aws_cdk as cdk
import pytest
from cfnlint.api import lint_file

from infra.assembly import Assembly

pytestmark = pytest.mark.infra


@pytest.fixture(scope="module")
def templates(assembly_factory: Callable[..., Assembly]) -> list[Path]:
    assembly = assembly_factory()  # the default cdk.json configuration, as app.py builds it
    found = sorted(Path(assembly.app.outdir).glob("*.template.json"))
    stacks = [child for child in assembly.app.node.children if isinstance(child, cdk.Stack)]
    assert len(found) == len(stacks) >= 3
    return found


def test_templates_have_no_cfn_lint_errors(templates: list[Path]) -> None:
    errors = []
    for template in templates:
        for match in lint_file(template):
            # Known warnings (level W), printed for the record:
            # W7001 - the Firehose L2 adds a CIDR mapping that S3 destinations never reference;
            # W3005 - CDK adds DependsOn on a role that a GetAtt already implies.
            print(f"{template.name}: {match}")
            if match.rule.id.startswith("E"):
                errors.append(f"{template.name}: {match}")
    assert errors == []
