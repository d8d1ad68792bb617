"""The monitoring stack: profile function on delivered objects, one dispatch schedule, job queues, IAM."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from infra import constants
from infra.assembly import Assembly
from modelwatch.contracts import layout

pytestmark = pytest.mark.infra

# Entries under `models` are dedicated models where the configuration knows the field (fleet-infra).
MODELS = [
    {"name": "fraud_detection", "flavor": "sklearn", "dedicated": True},
    {"name": "churn", "flavor": "onnx", "dedicated": True},
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


def test_one_function_per_job_plus_profile_and_dispatcher_with_retries_and_dlq(template: Template) -> None:
    functions = _functions(template)

    assert set(functions) == {"profile", "dispatch", "drift", "quality", "performance", "rollout"}
    for props in functions.values():
        assert props["Runtime"] == "python3.11" and props["Architectures"] == ["arm64"]
        assert props.get("TracingConfig", {"Mode": "PassThrough"}) == {"Mode": "PassThrough"}  # the default
    configs = template.find_resources("AWS::Lambda::EventInvokeConfig")
    assert len(configs) == 6
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
    assert len(writers) == 5  # profile, drift, quality, performance, rollout
    assert all("Amp" in json.dumps(s["Resource"]) for s in writers)


def _logical_id(template: Template, description: str) -> str:
    (found,) = [
        logical_id
        for logical_id, r in template.find_resources("AWS::Lambda::Function").items()
        if r["Properties"].get("Description") == f"modelwatch monitoring: {description}"
    ]
    return found


def test_one_schedule_invokes_the_dispatcher_with_its_time(template: Template) -> None:
    rules = [
        r["Properties"]
        for r in template.find_resources("AWS::Events::Rule").values()
        if "ScheduleExpression" in r["Properties"]
    ]

    (rule,) = rules
    assert rule["ScheduleExpression"] == f"rate({constants.JOB_DISPATCH_EVERY_MINUTES} minutes)"
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [_logical_id(template, "dispatch"), "Arn"]}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 2 and "DeadLetterConfig" in target
    transformer = target["InputTransformer"]
    assert transformer["InputPathsMap"] == {"time": "$.time"}
    assert json.loads(transformer["InputTemplate"].replace("<time>", '"T"')) == {"time": "T"}


def test_each_job_consumes_its_queue_in_batches_reporting_item_failures(template: Template) -> None:
    queues = template.find_resources("AWS::SQS::Queue")
    mappings = template.find_resources("AWS::Lambda::EventSourceMapping")

    by_function = {m["Properties"]["FunctionName"]["Ref"]: m["Properties"] for m in mappings.values()}
    assert set(by_function) == {_logical_id(template, job) for job in constants.MONITORING_JOBS}
    (dlq_id,) = [q for q in queues if q.startswith("MonitoringDlq")]
    for mapping in by_function.values():
        assert mapping["BatchSize"] == constants.JOB_QUEUE_BATCH_SIZE
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert mapping["ScalingConfig"] == {"MaximumConcurrency": constants.JOB_QUEUE_MAX_CONCURRENCY}
        queue = queues[mapping["EventSourceArn"]["Fn::GetAtt"][0]]["Properties"]
        assert queue["VisibilityTimeout"] >= 6 * constants.MONITORING_TIMEOUT_S
        assert queue["RedrivePolicy"] == {
            "deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]},
            "maxReceiveCount": constants.MONITORING_RETRY_ATTEMPTS + 1,
        }
        assert queue["SqsManagedSseEnabled"] is True


def test_the_dispatcher_lists_manifests_keeps_its_state_and_sends_to_the_job_queues_only(
    template: Template,
) -> None:
    (dispatcher,) = [
        r["Properties"]
        for r in template.find_resources("AWS::Lambda::Function").values()
        if r["Properties"].get("Description") == "modelwatch monitoring: dispatch"
    ]
    statements = _role_statements(template, dispatcher)
    by_action = {action: s for s in statements for action in _actions(s)}
    env = dispatcher["Environment"]["Variables"]

    assert {"sqs:SendMessage", "s3:ListBucket", "s3:GetObject", "s3:PutObject"} <= set(by_action)
    assert not {"events:PutEvents", "aps:RemoteWrite"} & set(by_action)
    sends = [
        r["Fn::GetAtt"][0] for s in statements if "sqs:SendMessage" in _actions(s) for r in s["Resource"]
    ]
    # the four job queues, and the DLQ (its failed invocations' destination)
    assert sorted(re.sub(r"[0-9A-F]{8}$", "", r) for r in sends) == [
        "FunctionsDriftQueue", "FunctionsPerformanceQueue", "FunctionsQualityQueue", "FunctionsRolloutQueue",
        "MonitoringDlq",
    ]  # fmt: skip
    assert by_action["s3:ListBucket"]["Condition"] == {"StringLike": {"s3:prefix": ["manifests/*"]}}
    state = json.dumps(by_action["s3:PutObject"]["Resource"])
    assert state.endswith(f'/{layout.JOB_DISPATCH_STATE_KEY}"]]}}')
    assert set(env["MODELWATCH_JOB_QUEUE_URLS"]) == {"Fn::Join"}
    assert env["MODELWATCH_SERVED_ALIAS"] == "production" and env["MODELWATCH_WINDOW_MINUTES"] == "60"


def test_delivered_events_and_rejected_objects_start_the_profile_function(template: Template) -> None:
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.s3"],
                "detail-type": ["Object Created"],
                "detail": {
                    "object": {"key": [{"prefix": "events/"}, {"prefix": "rejected/"}]},
                    "bucket": Match.any_value(),
                },
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
    state = f"/{layout.JOB_DISPATCH_STATE_KEY}"
    rollout_state = layout.ROLLOUTS_STATE_PREFIX
    writes = [
        s
        for s in statements
        if s["Action"] == "s3:PutObject"
        and state not in json.dumps(s["Resource"])
        and rollout_state not in json.dumps(s["Resource"])  # the rollout job's own: tested below
    ]
    assert writes
    for statement in writes:
        resources = (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
        suffixes = {json.dumps(r).rsplit("/", 1)[0].split("/")[-1] for r in resources}
        # Athena writes the performance job's query results as the job (tests/infra/test_query_tables.py).
        assert suffixes <= {"profiles", "reports", layout.QUERY_RESULTS_PREFIX.strip("/")}, resources
    puts = [s for s in statements if s["Action"] == "events:PutEvents"]
    assert puts and all(
        s["Resource"] == {"Fn::GetAtt": [Match.string_like_regexp("PlatformBus"), "Arn"]}
        or "PlatformBus" in json.dumps(s["Resource"])
        for s in puts
    )


def _statements_of(template: Template, function_id: str) -> list[dict[str, Any]]:
    policies = template.find_resources("AWS::IAM::Policy")
    role = template.find_resources("AWS::Lambda::Function")[function_id]["Properties"]["Role"]["Fn::GetAtt"][
        0
    ]
    return [
        statement
        for policy in policies.values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_the_rollout_job_may_write_manifests_and_its_evidence_besides_what_every_job_writes(
    template: Template,
) -> None:
    statements = _statements_of(template, _logical_id(template, "rollout"))

    writes = [s["Resource"] for s in statements if s["Action"] == "s3:PutObject"]
    (rollout_writes,) = [w for w in writes if layout.ROLLOUTS_STATE_PREFIX in json.dumps(w)]
    suffixes = sorted(json.dumps(r).split('"')[-2] for r in rollout_writes)  # each ARN's literal tail
    assert suffixes == sorted(
        [
            f"/{layout.manifests_prefix()}*",
            f"/{layout.ARTIFACTS_PREFIX}/*/{layout.VERSION_MANIFEST_FILE}",
            f"/{layout.ROLLOUTS_STATE_PREFIX}*",
            f"/{layout.PROFILES_PREFIX}*",  # what every job writes (CDK merges the statements)
            f"/{layout.REPORTS_PREFIX}*",
        ]
    )
    queries = [s for s in statements if "athena:StartQueryExecution" in json.dumps(s["Action"])]
    assert queries  # it reads the variants' figures with SQL, like the performance job
    other = _statements_of(template, _logical_id(template, "drift"))
    assert not any(layout.ROLLOUTS_STATE_PREFIX in json.dumps(s["Resource"]) for s in other)


def test_dlq_is_encrypted_and_outputs_name_bus_and_reports(template: Template) -> None:
    template.has_resource_properties(
        "AWS::SQS::Queue", {"SqsManagedSseEnabled": True, "MessageRetentionPeriod": 14 * 24 * 3600}
    )
    outputs = template.find_outputs("*")
    assert {"PlatformEventBusName", "MonitoringDlqUrl", "ReportsLocation"} <= set(outputs)


def test_anything_in_the_monitoring_dlq_notifies_the_alert_topic(template: Template) -> None:
    (alarm,) = [
        a["Properties"]
        for a in template.find_resources("AWS::CloudWatch::Alarm").values()
        if "MonitoringDlq" in json.dumps(a["Properties"]["Dimensions"])
    ]

    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["Threshold"] == 0 and alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["AlarmActions"] == alarm["OKActions"] and "AlertsTopic" in json.dumps(alarm["AlarmActions"])


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

    assert function["Runtime"] == "python3.11"
    assert function.get("TracingConfig", {"Mode": "PassThrough"}) == {"Mode": "PassThrough"}
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


def _standalone_monitoring_template(tmp_path: Path, models: int) -> dict[str, Any]:
    """The monitoring stack alone, its inputs imported, with ``models`` models in the configuration.

    Only the configuration changes between two calls: the buckets, bus, layer, capture DLQ and
    streams are the same imports (the capture streams belong to the capture stack).
    """
    import aws_cdk as cdk
    from aws_cdk import aws_events as events
    from aws_cdk import aws_iam as iam
    from aws_cdk import aws_kinesisfirehose as firehose
    from aws_cdk import aws_lambda as lambda_
    from aws_cdk import aws_s3 as s3
    from aws_cdk import aws_sqs as sqs

    from infra.assembly import cdk_json_context
    from infra.config import parse_config
    from infra.stacks.monitoring_stack import MonitoringStack

    raw = cdk_json_context()["modelwatch"]
    flavors = ("sklearn", "onnx")
    config = parse_config(
        {
            **raw,
            "models": [
                {"name": f"model_{i:03d}", "flavor": flavors[i % 2], "dedicated": True} for i in range(models)
            ],
        }
    )
    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "Inputs")
    account = "arn:aws:%s:us-east-1:123456789012:%s"
    monitoring = MonitoringStack(
        app,
        "Monitoring",
        config=config,
        layer=lambda_.LayerVersion.from_layer_version_arn(stack, "Layer", account % ("lambda", "layer:mw:1")),
        events_bucket=s3.Bucket(stack, "Events"),
        models_bucket=s3.Bucket(stack, "Models"),
        platform_bus=events.EventBus(stack, "Bus"),
        metrics_environment={"MODELWATCH_REMOTE_WRITE_URL": "https://aps.example/api/v1/remote_write"},
        grant_metrics=lambda grantee: iam.Grant.add_to_principal(
            grantee=grantee, actions=["aps:RemoteWrite"], resource_arns=["*"]
        ),
        capture_dlq=sqs.Queue(stack, "CaptureDlq"),
        capture_streams=[
            firehose.DeliveryStream.from_delivery_stream_name(stack, "Stream", "events"),
        ],
    )
    return Template.from_stack(monitoring).to_json()


def test_the_monitoring_stack_is_the_same_for_1_and_100_models(tmp_path: Path) -> None:
    one = _standalone_monitoring_template(tmp_path / "one", 1)
    hundred = _standalone_monitoring_template(tmp_path / "hundred", 100)

    # Every resource, rule, permission, queue policy and output: the same template
    assert hundred == one
    resources = one["Resources"].values()
    kinds = [r["Type"] for r in resources]
    assert kinds.count("AWS::Events::Rule") == 2  # the dispatch schedule and the profile's Object Created
    assert kinds.count("AWS::Lambda::Permission") == 2  # one per rule target
    assert kinds.count("AWS::Lambda::EventSourceMapping") == 4  # one per job
    (dlq_policy,) = [
        r["Properties"]["PolicyDocument"]["Statement"]
        for r in resources
        if r["Type"] == "AWS::SQS::QueuePolicy" and "MonitoringDlq" in json.dumps(r["Properties"]["Queues"])
    ]
    # enforce SSL, and one statement per rule that dead-letters here (the job queues redrive, no policy)
    assert len(dlq_policy) == 3
    print(f"monitoring stack: {len(one['Resources'])} resources for 1 and for 100 models")
