"""The monitoring stack: profile function on delivered objects, scheduled jobs per model, bus, DLQ, IAM."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from infra import constants
from infra.assembly import Assembly
from modelwatch.contracts import layout

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


def _replay_function(template: Template) -> tuple[str, dict[str, Any]]:
    (found,) = [
        (logical_id, resource["Properties"])
        for logical_id, resource in template.find_resources("AWS::Lambda::Function").items()
        if resource["Properties"].get("Description", "").startswith("modelwatch capture replay")
    ]
    return found


def _role_statements(template: Template, function: dict[str, Any]) -> list[dict[str, Any]]:
    role = function["Role"]["Fn::GetAtt"][0]
    return [
        statement
        for policy in template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _actions(statement: dict[str, Any]) -> set[str]:
    action = statement["Action"]
    return set(action) if isinstance(action, list) else {action}


def test_the_capture_replay_function_is_sized_from_the_constants_and_named_in_an_output(
    template: Template,
) -> None:
    logical_id, function = _replay_function(template)
    env = function["Environment"]["Variables"]

    assert function["Runtime"] == "python3.11" and function["TracingConfig"] == {"Mode": "Active"}
    assert function["Timeout"] == constants.CAPTURE_REPLAY_TIMEOUT_S
    assert function["MemorySize"] == constants.CAPTURE_REPLAY_MEMORY_MB
    assert "CaptureDlq" in json.dumps(env["MODELWATCH_CAPTURE_DLQ_URL"])
    assert "StorageEvents" in json.dumps(env["MODELWATCH_EVENTS_BUCKET"])
    assert int(env["MODELWATCH_REPLAY_VISIBILITY_TIMEOUT_SECONDS"]) > constants.CAPTURE_REPLAY_TIMEOUT_S
    assert template.find_outputs("CaptureReplayFunctionName")["CaptureReplayFunctionName"]["Value"] == {
        "Ref": logical_id
    }


def test_the_capture_replay_may_drain_the_dlq_put_to_the_capture_streams_and_touch_only_its_claims(
    template: Template,
) -> None:
    _, function = _replay_function(template)
    statements = _role_statements(template, function)
    by_action = {action: s for s in statements for action in _actions(s)}

    # Exactly these actions, and X-Ray's for tracing
    assert set(by_action) == {
        "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
        "firehose:PutRecordBatch", "s3:GetObject", "s3:PutObject", "s3:ListBucket",
        "xray:PutTraceSegments", "xray:PutTelemetryRecords",
    }  # fmt: skip
    # on the capture DLQ only
    for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"):
        assert "CaptureDlqQueue" in json.dumps(by_action[action]["Resource"])
        assert not isinstance(by_action[action]["Resource"], list)
    # on every capture stream (the one events stream of every model, rejected, labels) and nothing else
    streams = by_action["firehose:PutRecordBatch"]["Resource"]
    assert len(streams) == 3
    assert all("ExportsOutputFnGetAttStreams" in json.dumps(s) for s in streams)
    # objects: the claims only
    for action in ("s3:GetObject", "s3:PutObject"):
        (resource,) = [by_action[action]["Resource"]]
        assert resource["Fn::Join"][1][1] == f"/{layout.CAPTURE_REPLAY_CLAIMS_PREFIX}*"
    assert "StorageEvents" in json.dumps(by_action["s3:ListBucket"]["Resource"])


def test_the_replay_bundle_is_its_handler_only(assembly: Assembly) -> None:
    from infra import bundling

    spec = bundling.function_spec(
        constants.CAPTURE_REPLAY_FUNCTION_NAME,
        assembly.config.architecture,
        source_dir=constants.CAPTURE_REPLAY_FUNCTION_DIR,
    )
    bundle = bundling.build_bundle(spec)

    assert sorted(p.name for p in bundle.iterdir() if p.suffix == ".py") == ["handler.py"]
    assert spec.requirements == ()
