"""The observability stack: AMP with rules and alert manager, SNS and its channels, Grafana, export."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from aws_cdk.assertions import Match, Template
from cfnlint.api import lint_file

from infra import constants
from infra.assembly import Assembly
from infra.config import ConfigError, parse_config
from infra.constructs.grafana import dashboards_hash
from modelwatch.contracts import layout
from modelwatch.settings import NotifySettings, load_settings

pytestmark = pytest.mark.infra

SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:modelwatch/webhook-AbCdEf"
STATE_MACHINE = "arn:aws:states:eu-west-1:123456789012:stateMachine:retrain"
PIPELINE = "arn:aws:sagemaker:eu-west-1:123456789012:pipeline/retrain-fraud"
CUSTOM = [
    {"name": "modelwatch_custom_high_risk_total", "help": "p > 0.9",
     "where": [{"field": "prediction", "op": ">", "value": 0.9}]},
]  # fmt: skip
SECRETS = {
    name: f"arn:aws:secretsmanager:eu-west-1:123456789012:secret:modelwatch/{name}-{suffix}"
    for name, suffix in (("slack", "Ab12Cd"), ("teams", "Ef34Gh"), ("pager", "Ij56Kl"), ("genie", "Mn78Op"))
}
HOOK_PARTIAL = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:modelwatch/hook"  # no suffix
CHANNELS = [
    {"name": "oncall-mail", "type": "email", "address": "pager@example.com", "severities": ["critical"]},
    {"name": "fraud-mail", "type": "email", "address": "fraud@example.com", "models": ["fraud*", "churn"]},
    {"name": "fraud-slack", "type": "slack", "secret_arn": SECRETS["slack"], "models": ["fraud*"]},
    {"name": "teams", "type": "teams", "secret_arn": SECRETS["teams"]},
    {"name": "pager", "type": "pagerduty", "secret_arn": SECRETS["pager"], "severities": ["critical"]},
    {"name": "genie", "type": "opsgenie", "secret_arn": SECRETS["genie"]},
    {"name": "hook", "type": "webhook", "secret_arn": HOOK_PARTIAL},
]
FULL = {
    "channels": CHANNELS,
    "alert_emails": ["ml-oncall@example.com", "lead@example.com"],
    "webhook_secret_arn": SECRET,
    "retraining_target_arn": STATE_MACHINE,
    "custom_metrics": CUSTOM,
}


@pytest.fixture(scope="module")
def full(assembly_factory: Callable[..., Assembly]) -> Assembly:
    # A dedicated model: the metrics export still reads the manifests of config.models.
    return assembly_factory(
        {
            "observability": FULL,
            "models": [{"name": "fraud_detection", "flavor": "sklearn", "dedicated": True}],
        }
    )


@pytest.fixture(scope="module")
def template(full: Assembly) -> Template:
    return Template.from_stack(full.observability)


@pytest.fixture(scope="module")
def minimal(assembly_factory: Callable[..., Assembly]) -> Template:
    observability = {"grafana": {"enabled": False}, "retraining_target_arn": PIPELINE}
    return Template.from_stack(assembly_factory({"observability": observability}).observability)


def _topic_id(template: Template, display_name: str = "modelwatch alerts") -> str:
    (topic_id,) = [
        topic_id
        for topic_id, topic in template.find_resources("AWS::SNS::Topic").items()
        if topic["Properties"]["DisplayName"] == display_name
    ]
    return topic_id


def _one(template: Template, kind: str) -> dict[str, Any]:
    (resource,) = template.find_resources(kind).values()
    return resource["Properties"]


def _topic_policy(template: Template, topic_id: str) -> list[dict[str, Any]]:
    (statements,) = [
        policy["Properties"]["PolicyDocument"]["Statement"]
        for policy in template.find_resources("AWS::SNS::TopicPolicy").values()
        if policy["Properties"]["Topics"] == [{"Ref": topic_id}]
    ]
    return list(statements)


def _statements(template: Template) -> list[dict[str, Any]]:
    return [
        statement
        for policy in template.find_resources("AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return action if isinstance(action, list) else [action]


def test_amp_workspace_has_the_alert_manager_definition_routed_to_the_topic(template: Template) -> None:
    workspace = _one(template, "AWS::APS::Workspace")
    text, variables = workspace["AlertManagerDefinition"]["Fn::Sub"]

    assert text == constants.ALERTMANAGER_FILE.read_text()
    assert variables["SNS_TOPIC_ARN"] == {"Ref": _topic_id(template)}
    assert yaml.safe_load(yaml.safe_load(text)["alertmanager_config"])["receivers"][0]["sns_configs"]


def test_one_rule_groups_namespace_per_rule_file(template: Template) -> None:
    namespaces = {
        ns["Properties"]["Name"]: ns["Properties"]
        for ns in template.find_resources("AWS::APS::RuleGroupsNamespace").values()
    }
    files = sorted(constants.RULES_DIR.glob("*.yml"))

    assert set(namespaces) == {f"modelwatch-{p.stem}" for p in files}
    for path in files:
        assert namespaces[f"modelwatch-{path.stem}"]["Data"] == path.read_text()
        assert "Fn::GetAtt" in namespaces[f"modelwatch-{path.stem}"]["Workspace"]


def test_alert_topic_is_encrypted_tls_only_and_only_amp_of_this_account_publishes(template: Template) -> None:
    topic = template.find_resources("AWS::SNS::Topic")[_topic_id(template)]["Properties"]
    assert "Fn::GetAtt" in topic["KmsMasterKeyId"]
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    statements = _topic_policy(template, _topic_id(template))
    amp = next(s for s in statements if s.get("Sid") == "AllowAmpAlertManagerToPublish")
    assert amp["Principal"] == {"Service": "aps.amazonaws.com"}
    assert "sns:Publish" in _actions(amp)
    assert set(amp["Condition"]) == {"StringEquals", "ArnLike"}
    assert "aws:SourceAccount" in amp["Condition"]["StringEquals"]
    assert any(s["Effect"] == "Deny" and "aws:SecureTransport" in json.dumps(s) for s in statements)


def _subscriptions(template: Template) -> list[dict[str, Any]]:
    return [s["Properties"] for s in template.find_resources("AWS::SNS::Subscription").values()]


def _notify(template: Template) -> dict[str, Any]:
    return _function(template, "modelwatch notify")


def test_email_channels_subscribe_with_filter_policies_on_severity_and_model(template: Template) -> None:
    main = {"Ref": _topic_id(template)}
    emails = {
        s["Endpoint"]: s
        for s in _subscriptions(template)
        if s["Protocol"] == "email" and s["TopicArn"] == main
    }

    assert set(emails) == {
        "pager@example.com",
        "fraud@example.com",
        "ml-oncall@example.com",
        "lead@example.com",
    }
    assert emails["pager@example.com"]["FilterPolicy"] == {"severity": ["critical"]}
    assert emails["fraud@example.com"]["FilterPolicy"] == {"model": ["-", "churn", {"prefix": "fraud"}]}
    assert "FilterPolicy" not in emails["ml-oncall@example.com"]  # the alert_emails shorthand: everything
    assert "FilterPolicy" not in emails["lead@example.com"]


def test_filtered_email_channels_that_take_warnings_also_get_the_cloudwatch_alarms(
    template: Template,
) -> None:
    # SNS filter policies never match a message without attributes, which is what alarms publish.
    copies = {"Ref": _topic_id(template, "modelwatch alarms (for filtered e-mail channels)")}
    on_copies = [s for s in _subscriptions(template) if s["TopicArn"] == copies]
    alarms = template.find_resources("AWS::CloudWatch::Alarm").values()

    assert [(s["Protocol"], s["Endpoint"]) for s in on_copies] == [("email", "fraud@example.com")]
    assert "FilterPolicy" not in on_copies[0]
    assert all(copies in alarm["Properties"]["AlarmActions"] for alarm in alarms)
    publish = next(
        s for s in _topic_policy(template, copies["Ref"]) if s.get("Sid") == "AllowCloudWatchAlarmsToPublish"
    )
    assert publish["Principal"] == {"Service": "cloudwatch.amazonaws.com"}


def test_the_monitoring_dlq_alarm_publishes_to_the_alarm_copies_too(
    full: Assembly, template: Template
) -> None:
    monitoring = Template.from_stack(full.monitoring)
    (alarm,) = [
        a["Properties"]
        for a in monitoring.find_resources("AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("AlarmName") == "modelwatch-monitoring-dlq-messages-visible"
    ]
    imports = json.dumps(alarm["AlarmActions"])

    assert len(alarm["AlarmActions"]) == 2 and alarm["OKActions"] == alarm["AlarmActions"]
    assert "AlarmCopies" in imports and "AlertsTopic" in imports


def test_notify_function_gets_the_channel_list_without_secrets_or_addresses(template: Template) -> None:
    (lambda_subscription,) = [s for s in _subscriptions(template) if s["Protocol"] == "lambda"]
    functions = template.find_resources("AWS::Lambda::Function")
    notify_id = lambda_subscription["Endpoint"]["Fn::GetAtt"][0]
    env = functions[notify_id]["Properties"]["Environment"]["Variables"]
    channels = json.loads(env["MODELWATCH_CHANNELS"])

    assert lambda_subscription["TopicArn"] == {"Ref": _topic_id(template)}
    assert "FilterPolicy" not in lambda_subscription  # the function selects by severity and model
    assert [c["name"] for c in channels] == ["fraud-slack", "teams", "pager", "genie", "hook", "webhook"]
    assert {c["type"] for c in channels} == {"slack", "teams", "pagerduty", "opsgenie", "webhook"}
    assert next(c for c in channels if c["name"] == "pager")["severities"] == ["critical"]
    assert env["MODELWATCH_FAILURE_ALARM_NAME"] == "modelwatch-notify-channel-failures"
    assert "hooks.slack.com" not in json.dumps(template.to_json())
    assert "@example.com" not in env["MODELWATCH_CHANNELS"]


def test_the_notify_function_accepts_the_channel_list_the_stack_gives_it(
    template: Template, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _notify(template)["Environment"]["Variables"]
    for name in ("MODELWATCH_CHANNELS", "MODELWATCH_FAILURE_ALARM_NAME"):
        monkeypatch.setenv(name, env[name])

    settings = load_settings(NotifySettings)

    assert [c.name for c in settings.channels] == [
        "fraud-slack",
        "teams",
        "pager",
        "genie",
        "hook",
        "webhook",
    ]
    assert settings.channels[0].models == ("fraud*",) and settings.channels[2].severities == ("critical",)


def test_a_channel_list_too_long_for_the_environment_fails_the_synth(
    assembly_factory: Callable[..., Assembly],
) -> None:
    many = [{"name": f"team-{i:02d}", "type": "slack", "secret_arn": SECRETS["slack"]} for i in range(30)]

    with pytest.raises(ValueError, match=r"observability\.channels: .* over the 3000 that fit"):
        assembly_factory({"observability": {"channels": many, "grafana": {"enabled": False}}})


def test_notify_function_may_read_exactly_the_channels_secrets(template: Template) -> None:
    reads = [s for s in _statements(template) if "secretsmanager:GetSecretValue" in _actions(s)]
    resources = sorted(json.dumps(r) for s in reads for r in _resources(s))

    complete = sorted(json.dumps(arn) for arn in [*SECRETS.values(), SECRET])
    assert [r for r in resources if "??????" not in r] == complete
    (partial,) = [r for r in resources if "??????" in r]  # a partial ARN: CDK matches its 6-character suffix
    assert "modelwatch/hook-??????" in partial


def test_failed_deliveries_alarm_the_topics_on_alarm_and_on_ok(template: Template) -> None:
    (alarm,) = [
        a["Properties"]
        for a in template.find_resources("AWS::CloudWatch::Alarm").values()
        if a["Properties"]["AlarmName"] == "modelwatch-notify-channel-failures"
    ]
    topics = [
        {"Ref": _topic_id(template)},
        {"Ref": _topic_id(template, "modelwatch alarms (for filtered e-mail channels)")},
    ]

    assert (alarm["Namespace"], alarm["MetricName"]) == ("modelwatch", "ChannelDeliveryFailuresTotal")
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "modelwatch"}]
    assert (alarm["Statistic"], alarm["Period"], alarm["Threshold"]) == ("Sum", 300, 0)
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["TreatMissingData"] == "notBreaching"
    assert alarm["AlarmActions"] == topics and alarm["OKActions"] == topics
    assert "docs/alerts.md#a-channel-that-fails" in alarm["AlarmDescription"]


def test_no_channels_means_no_subscription_no_notify_function_and_one_topic(minimal: Template) -> None:
    assert minimal.find_resources("AWS::SNS::Subscription") == {}
    minimal.resource_count_is("AWS::SNS::Topic", 1)
    assert not [
        f for f in minimal.find_resources("AWS::Lambda::Function").values()
        if f["Properties"].get("Description", "").startswith("modelwatch notify")
    ]  # fmt: skip


def _function(template: Template, description_start: str) -> dict[str, Any]:
    (props,) = [
        f["Properties"]
        for f in template.find_resources("AWS::Lambda::Function").values()
        if f["Properties"].get("Description", "").startswith(description_start)
    ]
    return props


def test_metrics_export_is_scheduled_and_may_only_write_to_this_workspace(template: Template) -> None:
    export = _function(template, "modelwatch metrics export")
    env = export["Environment"]["Variables"]

    assert "MODELWATCH_SERVED_MODELS" not in env  # the models are the published manifests
    assert json.loads(env["MODELWATCH_CUSTOM_METRICS"]) == CUSTOM
    assert env["MODELWATCH_METRICS_STATE_KEY"] == layout.METRICS_EXPORT_STATE_KEY
    assert "api/v1/remote_write" in json.dumps(env["MODELWATCH_REMOTE_WRITE_URL"])
    assert export["Runtime"] == "python3.11" and export["Timeout"] < 60
    template.has_resource_properties("AWS::Events::Rule", {"ScheduleExpression": "rate(1 minute)"})
    (remote_write,) = [s for s in _statements(template) if "aps:RemoteWrite" in _actions(s)]
    assert "Fn::GetAtt" in remote_write["Resource"] and remote_write["Resource"]["Fn::GetAtt"][1] == "Arn"


def test_alerts_on_the_platform_bus_start_the_retraining_state_machine(template: Template) -> None:
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["modelwatch"],
                "detail-type": [
                    "DriftDetected",
                    "DataQualityViolation",
                    "PerformanceDegraded",
                    "RolloutRolledBack",
                ],
            },
            "Targets": [Match.object_like({"Arn": STATE_MACHINE})],
        },
    )
    assert any(
        "states:StartExecution" in _actions(s) and s["Resource"] == STATE_MACHINE
        for s in _statements(template)
    )


def test_a_sagemaker_pipeline_can_be_the_retraining_target(minimal: Template) -> None:
    minimal.has_resource_properties("AWS::Events::Rule", {"Targets": [Match.object_like({"Arn": PIPELINE})]})
    assert any("sagemaker:StartPipelineExecution" in _actions(s) for s in _statements(minimal))


def test_grafana_workspace_with_amp_and_cloudwatch_and_a_role_that_can_query_them(template: Template) -> None:
    workspace = _one(template, "AWS::Grafana::Workspace")

    assert workspace["AuthenticationProviders"] == ["AWS_SSO"]
    assert workspace["DataSources"] == ["PROMETHEUS", "CLOUDWATCH"]
    assert (
        workspace["PermissionType"] == "CUSTOMER_MANAGED"
        and workspace["AccountAccessType"] == "CURRENT_ACCOUNT"
    )
    role_id = workspace["RoleArn"]["Fn::GetAtt"][0]
    role = template.find_resources("AWS::IAM::Role")[role_id]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "grafana.amazonaws.com"
    }
    policies = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
    ]
    actions = {a for statements in policies for s in statements for a in _actions(s)}
    assert {"aps:QueryMetrics", "aps:GetSeries", "aps:GetLabels", "cloudwatch:GetMetricData"} <= actions


def test_dashboards_are_provisioned_by_a_custom_resource_that_reruns_when_they_change(
    template: Template,
) -> None:
    resource = _one(template, "Custom::ModelwatchGrafanaDashboards")

    assert resource["DashboardsHash"] == dashboards_hash(constants.DASHBOARDS_DIR)
    assert set(resource) >= {
        "ServiceToken",
        "WorkspaceId",
        "WorkspaceEndpoint",
        "PrometheusEndpoint",
        "Region",
    }
    provisioner = _function(template, "modelwatch Grafana provisioner")
    assert provisioner["Runtime"] == "python3.11"
    token_actions = {
        "grafana:CreateWorkspaceServiceAccount",
        "grafana:CreateWorkspaceServiceAccountToken",
        "grafana:DeleteWorkspaceServiceAccount",
    }
    (statement,) = [s for s in _statements(template) if token_actions & set(_actions(s))]
    assert set(_actions(statement)) == token_actions and "workspaces/" in json.dumps(statement["Resource"])


def test_grafana_can_be_disabled(minimal: Template) -> None:
    minimal.resource_count_is("AWS::Grafana::Workspace", 0)
    minimal.resource_count_is("AWS::APS::Workspace", 1)


def test_provisioner_bundle_carries_the_dashboards(full: Assembly) -> None:
    outdir = Path(full.app.outdir)
    bundles = [p.parent for p in outdir.glob("asset.*/handler.py") if (p.parent / "dashboards").is_dir()]

    assert bundles, "no asset holds the provisioner's handler with its dashboards"
    assert {p.name for p in (bundles[0] / "dashboards").glob("*.json")} == {
        p.name for p in constants.DASHBOARDS_DIR.glob("*.json")
    }


def test_observability_template_has_no_cfn_lint_errors(full: Assembly) -> None:
    path = Path(full.app.outdir) / f"{full.observability.artifact_id}.template.json"
    errors = [str(m) for m in lint_file(path) if m.rule.id.startswith("E")]

    assert errors == []


@pytest.mark.parametrize(
    ("observability", "message"),
    [
        (
            {"custom_metrics": [{"name": "kpi", "help": "x"}]},
            r"observability\.custom_metrics: .*custom_metrics\[0\] \(kpi\)",
        ),
        ({"webhook_secret_arn": "https://hooks.slack.com/services/x"}, r"observability\.webhook_secret_arn"),
        (
            {
                "channels": [
                    {"name": "pager", "type": "pagerduty", "secret_arn": "https://events.pagerduty.com"}
                ]
            },
            r"observability\.channels: .*channels\[0\] \(pager\): secret_arn",
        ),
        (
            {"channels": [{"name": "mail", "type": "email", "secret_arn": SECRET}]},
            r"channels\[0\] \(mail\): .*an email channel has an address and no secret_arn",
        ),
        (
            {
                "channels": [
                    {"name": "mail", "type": "email", "address": "a@example.com", "models": ["*fraud"]}
                ]
            },
            r"channels\[0\] \(mail\): .*names or prefixes",
        ),
        (
            {"channels": [{"name": "chat", "type": "matrix", "secret_arn": SECRET}]},
            r"channels\[0\] \(chat\): type",
        ),
        (
            {"channels": [{"name": "t", "type": "teams", "secret_arn": SECRET, "severities": ["page"]}]},
            r"channels\[0\] \(t\): severities",
        ),
        (
            {
                "channels": [{"name": "webhook", "type": "teams", "secret_arn": SECRET}],
                "webhook_secret_arn": SECRET,
            },
            r"channels \(webhook\): two channels have the name 'webhook'",
        ),
        ({"alert_emails": ["not-an-address"]}, r"observability\.alert_emails: .*not-an-address"),
        (
            {"retraining_target_arn": "arn:aws:lambda:eu-west-1:123456789012:function:x"},
            r"retraining_target_arn",
        ),
        ({"grafana": {"authentication": "LDAP"}}, r"observability\.grafana\.authentication"),
    ],
)
def test_bad_observability_configuration_fails_the_synth_naming_the_entry(
    observability: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config({"observability": observability})


def _alarms(template: Template) -> dict[str, dict[str, Any]]:
    return {
        alarm["Properties"]["MetricName"]: alarm["Properties"]
        for alarm in template.find_resources("AWS::CloudWatch::Alarm").values()
    }


def test_cloudwatch_alarms_watch_the_capture_dlq_depth_and_age_and_notify_the_alert_topic(
    template: Template,
) -> None:
    alarms = _alarms(template)
    topic = {"Ref": _topic_id(template)}
    copies = {"Ref": _topic_id(template, "modelwatch alarms (for filtered e-mail channels)")}

    visible = alarms["ApproximateNumberOfMessagesVisible"]
    assert (visible["Threshold"], visible["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    assert visible["Period"] * visible["EvaluationPeriods"] == 5 * 60
    assert visible["DatapointsToAlarm"] == visible["EvaluationPeriods"]
    age = alarms["ApproximateAgeOfOldestMessage"]
    assert (age["Threshold"], age["ComparisonOperator"]) == (3600, "GreaterThanThreshold")
    for alarm in (visible, age):
        assert alarm["Namespace"] == "AWS/SQS" and alarm["Statistic"] == "Maximum"
        (dimension,) = alarm["Dimensions"]
        assert dimension["Name"] == "QueueName" and "CaptureDlqQueue" in json.dumps(dimension["Value"])
        assert alarm["AlarmActions"] == [topic, copies] and alarm["OKActions"] == [topic, copies]
        assert alarm["TreatMissingData"] == "notBreaching"
        assert (
            "docs/alerts.md#cloudwatch-alarms-on-the-capture-dead-letter-queue" in alarm["AlarmDescription"]
        )


def test_cloudwatch_alarms_of_this_account_may_publish_to_the_encrypted_topic(template: Template) -> None:
    topic_statements = _topic_policy(template, _topic_id(template))
    publish = next(s for s in topic_statements if s.get("Sid") == "AllowCloudWatchAlarmsToPublish")
    assert publish["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert _actions(publish) == ["sns:Publish"]
    assert ":alarm:*" in json.dumps(publish["Condition"]["ArnLike"]["aws:SourceArn"])
    assert "aws:SourceAccount" in publish["Condition"]["StringEquals"]
    key_statements = _one(template, "AWS::KMS::Key")["KeyPolicy"]["Statement"]
    (key_use,) = [s for s in key_statements if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}]
    assert set(_actions(key_use)) == {"kms:GenerateDataKey*", "kms:Decrypt"}
    assert "aws:SourceAccount" in key_use["Condition"]["StringEquals"]


def test_the_metrics_export_reads_the_capture_dlq_depth(template: Template) -> None:
    export = _function(template, "modelwatch metrics export")

    assert "CaptureDlq" in json.dumps(export["Environment"]["Variables"]["MODELWATCH_CAPTURE_DLQ_URL"])
    # (the other statement with it is the export's own queue of delivered objects, read by Lambda)
    (statement,) = [
        s
        for s in _statements(template)
        if "sqs:GetQueueAttributes" in _actions(s) and "CaptureDlqQueue" in json.dumps(s["Resource"])
    ]
    assert _actions(statement) == ["sqs:GetQueueAttributes"]


def test_the_metrics_export_lists_the_manifests_and_reads_only_the_served_alias_ones(
    full: Assembly, template: Template
) -> None:
    export = _function(template, "modelwatch metrics export")
    variables = export["Environment"]["Variables"]
    alias_manifests = f"/{layout.manifest_key('*', full.config.serving_alias)}"
    on_models_bucket = [
        statement
        for statement in _statements(template)
        if any("StorageModels" in json.dumps(resource) for resource in _resources(statement))
    ]  # the export is the only function of this stack with a statement on the models bucket
    reads = [s for s in on_models_bucket if "s3:GetObject" in _actions(s)]
    lists = [s for s in on_models_bucket if "s3:ListBucket" in _actions(s)]

    assert variables["MODELWATCH_SERVING_ALIAS"] == full.config.serving_alias
    assert "StorageModels" in json.dumps(variables["MODELWATCH_MODELS_BUCKET"])
    # CDK merges the statements of one action: look at the models bucket's resources of the read
    read_on_models = [json.dumps(r) for s in reads for r in _resources(s) if "StorageModels" in json.dumps(r)]
    assert read_on_models and all(alias_manifests in r for r in read_on_models)
    assert [s["Condition"] for s in lists] == [
        {"StringLike": {"s3:prefix": [f"{layout.MANIFESTS_PREFIX}/*"]}}
    ]


def _resources(statement: dict[str, Any]) -> list[Any]:
    resource = statement["Resource"]
    return resource if isinstance(resource, list) else [resource]
