"""The chaos stack (optional): AWS FIS templates, their stop alarms, the deny automation and its rollback."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template
from cfnlint.api import lint_file

from infra.assembly import Assembly, cdk_json_context
from infra.config import ConfigError, parse_config

pytestmark = pytest.mark.infra

LAYER = "arn:aws:lambda:eu-west-1:123456789012:layer:aws-fis-extension-arm64:9"


@pytest.fixture(scope="module")
def assembly(assembly_factory: Callable[..., Assembly]) -> Assembly:
    return assembly_factory(
        {"chaos": {"enabled": True, "lambda_extension_layer_arn": LAYER, "duration_minutes": 3}}
    )


@pytest.fixture(scope="module")
def template(assembly: Assembly) -> Template:
    assert assembly.chaos is not None
    return Template.from_stack(assembly.chaos)


def _templates(template: Template) -> dict[str, dict[str, Any]]:
    return {
        logical: resource["Properties"]
        for logical, resource in template.find_resources("AWS::FIS::ExperimentTemplate").items()
    }


def _action(props: dict[str, Any]) -> dict[str, Any]:
    (action,) = props["Actions"].values()
    return dict(action)


def test_chaos_is_off_by_default() -> None:
    assert parse_config(None).chaos.enabled is False
    assert parse_config(cdk_json_context()["modelwatch"]).chaos.enabled is False


def test_bad_chaos_settings_fail_naming_the_entry() -> None:
    with pytest.raises(ConfigError, match=r"modelwatch\.chaos\.lambda_extension_layer_arn"):
        parse_config({"chaos": {"lambda_extension_layer_arn": "not-an-arn"}})
    with pytest.raises(ConfigError, match="error_percentage"):
        parse_config({"chaos": {"error_percentage": 30, "max_5xx_percent": 20}})


def test_lambda_and_deny_templates_with_their_actions(template: Template) -> None:
    actions = sorted(_action(props)["ActionId"] for props in _templates(template).values())

    assert actions == [
        "aws:lambda:invocation-add-delay",
        "aws:lambda:invocation-add-delay",
        "aws:lambda:invocation-error",
        "aws:lambda:invocation-error",
        "aws:ssm:start-automation-execution",
        "aws:ssm:start-automation-execution",
    ]
    for props in _templates(template).values():
        action = _action(props)
        if action["ActionId"] == "aws:lambda:invocation-add-delay":
            assert action["Parameters"] == {
                "duration": "PT3M",
                "startupDelayMilliseconds": "3000",
                "invocationPercentage": "25",
            }
        if action["ActionId"] == "aws:lambda:invocation-error":
            assert action["Parameters"] == {
                "duration": "PT3M",
                "invocationPercentage": "10",
                "preventExecution": "true",
            }
        if action["ActionId"].startswith("aws:lambda:"):
            target = props["Targets"]["Functions"]
            assert target["ResourceType"] == "aws:lambda:function" and target["SelectionMode"] == "ALL"
            assert target["ResourceArns"] and action["Targets"] == {"Functions": "Functions"}


def test_lambda_templates_target_the_predict_and_the_job_functions(template: Template) -> None:
    described = {props["Description"].split(" ")[0]: props for props in _templates(template).values()}
    predict = json.dumps(described["Predict"]["Targets"])
    jobs = json.dumps(described["Drift,"]["Targets"])

    assert "FlavorSklearn" in predict and "FlavorOnnx" in predict and "Catalog" not in predict
    assert all(name in jobs for name in ("Drift", "Quality", "Performance")) and "Profile" not in jobs


def test_every_template_stops_on_the_three_platform_alarms(template: Template) -> None:
    alarms = set(template.find_resources("AWS::CloudWatch::Alarm"))

    assert len(alarms) == 3
    for props in _templates(template).values():
        stops = props["StopConditions"]
        assert {s["Source"] for s in stops} == {"aws:cloudwatch:alarm"}
        assert {s["Value"]["Fn::GetAtt"][0] for s in stops} == alarms


def test_alarms_watch_server_errors_latency_and_capture_kept_in_logs(template: Template) -> None:
    alarms = {
        props["Properties"]["AlarmName"]: props["Properties"]
        for props in template.find_resources("AWS::CloudWatch::Alarm").values()
    }

    assert set(alarms) == {
        "modelwatch-api-5xx-share",
        "modelwatch-api-p99-latency",
        "modelwatch-capture-logged-only",
    }
    share = alarms["modelwatch-api-5xx-share"]
    assert share["Threshold"] == 20 and "100 * errors" in json.dumps(share["Metrics"])
    assert alarms["modelwatch-api-p99-latency"]["ExtendedStatistic"] == "p99"
    logged = alarms["modelwatch-capture-logged-only"]
    assert "SELECT SUM(CaptureFailures)" in logged["Metrics"][0]["Expression"]
    assert "outcome = 'logged'" in logged["Metrics"][0]["Expression"]
    for props in alarms.values():
        assert props["TreatMissingData"] == "notBreaching"


def test_deny_automation_rolls_back_on_failure_and_cancel(template: Template) -> None:
    (document,) = template.find_resources("AWS::SSM::Document").values()
    content = document["Properties"]["Content"]
    steps = {step["name"]: step for step in content["mainSteps"]}

    assert document["Properties"]["DocumentType"] == "Automation"
    assert list(steps) == ["AttachDeny", "Hold", "DetachDeny"]
    for name in ("AttachDeny", "Hold"):
        assert steps[name]["onFailure"] == steps[name]["onCancel"] == "step:DetachDeny"
    assert steps["DetachDeny"]["isEnd"] is True
    assert "detach_role_policy" in steps["DetachDeny"]["inputs"]["Script"]


def test_deny_templates_hold_for_the_duration_and_may_outlive_it_only_to_roll_back(
    template: Template,
) -> None:
    deny = [p for p in _templates(template).values() if _action(p)["ActionId"].startswith("aws:ssm:")]

    assert len(deny) == 2
    for props in deny:
        parameters = _action(props)["Parameters"]
        assert parameters["maxDuration"] == "PT8M"
        rendered = json.dumps(parameters["documentParameters"])
        assert "PT3M" in rendered and "RoleNames" in rendered and "AutomationAssumeRole" in rendered
        assert props["Targets"] == {}


def test_deny_policies_and_who_may_attach_them(template: Template) -> None:
    policies = [p["Properties"] for p in template.find_resources("AWS::IAM::ManagedPolicy").values()]
    denied = sorted(a for p in policies for s in p["PolicyDocument"]["Statement"] for a in _list(s["Action"]))

    assert denied == ["firehose:PutRecord", "firehose:PutRecordBatch", "s3:GetObject"]
    assert all(s["Effect"] == "Deny" for p in policies for s in p["PolicyDocument"]["Statement"])
    statements = [
        s
        for p in template.find_resources("AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    attach = next(s for s in statements if "iam:AttachRolePolicy" in _list(s["Action"]))
    assert "iam:PolicyARN" in attach["Condition"]["ArnEquals"]
    passes = [s for s in statements if "iam:PassRole" in _list(s["Action"])]
    assert len(passes) == 1 and "*" not in json.dumps(passes[0]["Resource"])


def test_fis_extension_is_attached_to_the_targets_when_its_layer_is_named(assembly: Assembly) -> None:
    serving = Template.from_stack(assembly.serving).find_resources("AWS::Lambda::Function")
    monitoring = Template.from_stack(assembly.monitoring).find_resources("AWS::Lambda::Function")

    def extended(props: dict[str, Any]) -> bool:
        env = props["Properties"]["Environment"]["Variables"]
        return (
            LAYER in props["Properties"].get("Layers", [])
            and env.get("AWS_LAMBDA_EXEC_WRAPPER") == "/opt/aws-fis/bootstrap"
            and "AWS_FIS_CONFIGURATION_LOCATION" in env
        )

    described = {
        p["Properties"].get("Description", ""): extended(p) for p in [*serving.values(), *monitoring.values()]
    }
    assert described["modelwatch predictions for every sklearn model with a serving manifest"]
    for job in ("drift", "quality", "performance"):
        assert described[f"modelwatch monitoring: {job}"]
    assert not described["modelwatch catalog: model listing, health, docs and unknown routes"]
    assert not described["modelwatch monitoring: profile"]


def test_chaos_template_has_no_cfn_lint_errors(assembly: Assembly) -> None:
    assert assembly.chaos is not None
    path = Path(assembly.app.outdir) / f"{assembly.chaos.artifact_id}.template.json"
    errors = [str(m) for m in lint_file(path) if m.rule.id.startswith("E")]

    assert errors == []


def _list(value: Any) -> list[str]:
    return value if isinstance(value, list) else [value]
