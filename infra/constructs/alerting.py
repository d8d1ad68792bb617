"""Where alerts go: an encrypted SNS topic AMP may publish to, its channels, and the retraining trigger."""

from __future__ import annotations

import jsii
from aws_cdk import Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk.interfaces.aws_events import IRuleRef
from constructs import Construct

from infra import constants
from infra.config import ModelwatchConfig
from infra.constructs.amp_functions import ObservabilityFunctions
from modelwatch.contracts import platform_events

APS_PRINCIPAL = "aps.amazonaws.com"


class AlertTopic(Construct):
    """A standard SNS topic encrypted with a customer managed key; only AMP of this account publishes."""

    def __init__(self, scope: Construct, construct_id: str, *, project: str) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        workspaces = f"arn:{stack.partition}:aps:{stack.region}:{stack.account}:workspace/*"
        self.key = kms.Key(
            self, "Key", enable_key_rotation=True, description=f"{project} alert topic (SNS) encryption"
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowAmpToUseTheKeyForTheTopic",
                principals=[iam.ServicePrincipal(APS_PRINCIPAL)],
                actions=["kms:GenerateDataKey*", "kms:Decrypt"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
            )
        )
        self.topic = sns.Topic(
            self, "Topic", display_name=f"{project} alerts", master_key=self.key, enforce_ssl=True
        )
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowAmpAlertManagerToPublish",
                principals=[iam.ServicePrincipal(APS_PRINCIPAL)],
                actions=["sns:Publish", "sns:GetTopicAttributes"],
                resources=[self.topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {"aws:SourceArn": workspaces},
                },
            )
        )


class AlertChannels(Construct):
    """E-mail subscriptions, and the notify function (webhook URL from Secrets Manager) when configured."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: ModelwatchConfig,
        topic: AlertTopic,
        functions: ObservabilityFunctions,
    ) -> None:
        super().__init__(scope, construct_id)
        for email in config.observability.alert_emails:
            topic.topic.add_subscription(subscriptions.EmailSubscription(email))
        self.notify_function: lambda_.Function | None = None
        secret_arn = config.observability.webhook_secret_arn
        if secret_arn is not None:
            self.notify_function = self._build_notify(functions, topic, secret_arn)

    def _build_notify(
        self, functions: ObservabilityFunctions, topic: AlertTopic, secret_arn: str
    ) -> lambda_.Function:
        function = functions.function(
            self,
            "Notify",
            source=constants.NOTIFY_FUNCTION_DIR,
            memory_mb=constants.NOTIFY_MEMORY_MB,
            timeout_s=constants.NOTIFY_TIMEOUT_S,
            description="modelwatch notify: alerts from SNS to a webhook (Slack-style HTTPS POST)",
            environment={"MODELWATCH_WEBHOOK_SECRET_ARN": secret_arn},
        )
        secretsmanager.Secret.from_secret_complete_arn(self, "WebhookSecret", secret_arn).grant_read(function)
        topic.topic.add_subscription(subscriptions.LambdaSubscription(function))
        return function


@jsii.implements(events.IRuleTarget)
class _StartTarget:
    """A rule target that starts a Step Functions state machine or a SageMaker pipeline by ARN."""

    def __init__(self, arn: str, role: iam.IRole) -> None:
        self._arn = arn
        self._role = role

    def bind(self, rule: IRuleRef, id: str | None = None) -> events.RuleTargetConfig:
        return events.RuleTargetConfig(arn=self._arn, role=self._role)


class RetrainingTrigger(Construct):
    """Monitoring alerts on the platform bus start the configured retraining target."""

    def __init__(
        self, scope: Construct, construct_id: str, *, bus: events.IEventBus, target_arn: str
    ) -> None:
        super().__init__(scope, construct_id)
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("events.amazonaws.com"),
            description="Lets the retraining rule start the configured retraining target",
        )
        action = "states:StartExecution" if ":states:" in target_arn else "sagemaker:StartPipelineExecution"
        role.add_to_policy(iam.PolicyStatement(actions=[action], resources=[target_arn]))
        self.rule = events.Rule(
            self,
            "Rule",
            event_bus=bus,
            description="Start retraining when drift, data-quality or performance alerts are raised",
            event_pattern=events.EventPattern(
                source=[platform_events.SOURCE], detail_type=list(platform_events.DETAIL_TYPES.values())
            ),
            targets=[_StartTarget(target_arn, role)],
        )
