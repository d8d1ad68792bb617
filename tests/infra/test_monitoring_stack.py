"""The monitoring stack: profile function on delivered objects, scheduled jobs per model, bus, DLQ, IAM."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from infra.assembly import Assembly

pytestmark = pytest.mark.infra

MODELS = [
    {"name": "fraud_detection", "flavor": "sklearn"},
    {"name": "churn", "flavor": "onnx", "monitoring_window_minutes": 1440},
]


@pytest.fixture(scope="module")
def assembly(assembly_factory: Callable[..., Assembly]) -> Assembly:
    return assembly_factory(
        {
            "models": MODELS,
            "monitoring": {
                "window_minutes": 60,
                "label_lag_minutes": 120,
                "performance_thresholds": {"min": {"auc": 0.7}},
            },
        }
    )


@pytest.fixture(scope="module")
def template(assembly: Assembly) -> Template:
    return Template.from_stack(assembly.monitoring)


def _functions(template: Template) -> dict[str, dict[str, Any]]:
    return {
        props["Properties"]["Description"].split(": ")[1]: props["Properties"]
        for props in template.find_resources("AWS::Lambda::Function").values()
        if props["Properties"].get("Description", "").startswith("modelwatch monitoring")
    }


def test_one_function_per_job_plus_profile_with_retries_and_dlq(template: Template) -> None:
    functions = _functions(template)

    assert set(functions) == {"profile", "drift", "quality", "performance"}
    for props in functions.values():
        assert props["Runtime"] == "python3.11" and props["Architectures"] == ["arm64"]
        assert props["TracingConfig"] == {"Mode": "Active"}
    configs = template.find_resources("AWS::Lambda::EventInvokeConfig")
    assert len(configs) == 4
    for config in configs.values():
        assert config["Properties"]["MaximumRetryAttempts"] == 2
        assert "OnFailure" in config["Properties"]["DestinationConfig"]


def test_environment_carries_buckets_bus_and_settings(template: Template) -> None:
    env = _functions(template)["drift"]["Environment"]["Variables"]

    assert env["MODELWATCH_WINDOW_MINUTES"] == "60"
    assert env["MODELWATCH_LABEL_LAG_MINUTES"] == "120"
    assert json.loads(env["MODELWATCH_PERFORMANCE_THRESHOLDS"]) == {"min": {"auc": 0.7}}
    assert {
        "MODELWATCH_EVENTS_BUCKET",
        "MODELWATCH_MODELS_BUCKET",
        "MODELWATCH_EVENT_BUS_NAME",
        "MODELWATCH_REMOTE_WRITE_URL",
    } <= set(env)


def test_jobs_may_remote_write_to_the_amp_workspace(template: Template) -> None:
    policies = template.find_resources("AWS::IAM::Policy")
    statements = [s for p in policies.values() for s in p["Properties"]["PolicyDocument"]["Statement"]]
    writers = [s for s in statements if s["Action"] == "aps:RemoteWrite"]
    assert len(writers) == 4  # profile, drift, quality, performance
    assert all("Amp" in json.dumps(s["Resource"]) for s in writers)


def test_each_model_has_a_schedule_per_job_at_its_own_rate(template: Template) -> None:
    rules = [
        r["Properties"]
        for r in template.find_resources("AWS::Events::Rule").values()
        if "ScheduleExpression" in r["Properties"]
    ]

    rates = sorted(
        (r["Description"].split()[0], r["Description"].split()[4], r["ScheduleExpression"]) for r in rules
    )
    assert rates == sorted(
        [(job, "fraud_detection,", "rate(1 hour)") for job in ("drift", "quality", "performance")]
        + [(job, "churn,", "rate(1 day)") for job in ("drift", "quality", "performance")]
    )
    for rule in rules:
        target = rule["Targets"][0]
        assert target["RetryPolicy"]["MaximumRetryAttempts"] == 2 and "DeadLetterConfig" in target
        transformer = target["InputTransformer"]
        assert transformer["InputPathsMap"] == {"time": "$.time"}
        assert json.loads(transformer["InputTemplate"].replace("<time>", '"T"'))["time"] == "T"


def test_delivered_events_objects_start_the_profile_function(template: Template) -> None:
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.s3"],
                "detail-type": ["Object Created"],
                "detail": {"object": {"key": [{"prefix": "events/"}]}, "bucket": Match.any_value()},
            }
        },
    )


def test_events_bucket_sends_notifications_to_eventbridge(assembly: Assembly) -> None:
    capture = Template.from_stack(assembly.capture)
    capture.has_resource_properties(
        "Custom::S3BucketNotifications", {"NotificationConfiguration": {"EventBridgeConfiguration": {}}}
    )


def test_jobs_write_only_reports_and_profiles_and_put_on_the_platform_bus(template: Template) -> None:
    policies = template.find_resources("AWS::IAM::Policy")
    statements = [s for p in policies.values() for s in p["Properties"]["PolicyDocument"]["Statement"]]
    writes = [s for s in statements if s["Action"] == "s3:PutObject"]
    assert writes
    for statement in writes:
        suffixes = {json.dumps(r).rsplit("/", 1)[0].split("/")[-1] for r in statement["Resource"]}
        assert suffixes <= {"profiles", "reports"}, statement["Resource"]
    puts = [s for s in statements if s["Action"] == "events:PutEvents"]
    assert puts and all(
        s["Resource"] == {"Fn::GetAtt": [Match.string_like_regexp("PlatformBus"), "Arn"]}
        or "PlatformBus" in json.dumps(s["Resource"])
        for s in puts
    )


def test_dlq_is_encrypted_and_outputs_name_bus_and_reports(template: Template) -> None:
    template.has_resource_properties(
        "AWS::SQS::Queue", {"SqsManagedSseEnabled": True, "MessageRetentionPeriod": 14 * 24 * 3600}
    )
    outputs = template.find_outputs("*")
    assert {"PlatformEventBusName", "MonitoringDlqUrl", "ReportsLocation"} <= set(outputs)
