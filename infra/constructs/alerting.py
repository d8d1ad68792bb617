"""Where alerts go: an encrypted SNS topic AMP and CloudWatch alarms may publish to, its channels, the
CloudWatch alarms on the capture dead-letter queue, and the retraining trigger."""

from __future__ import annotations

import jsii
from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk.interfaces.aws_events import IRuleRef
from constructs import Construct

from infra import constants
from infra.config import ModelwatchConfig
from infra.constructs.amp_functions import ObservabilityFunctions
from modelwatch.contracts import platform_events

APS_PRINCIPAL = "aps.amazonaws.com"
CLOUDWATCH_PRINCIPAL = "cloudwatch.amazonaws.com"


class AlertTopic(Construct):
    """A standard SNS topic encrypted with a customer managed key.

    Only AMP (its workspaces) and CloudWatch (its alarms) of this account publish; both need the
    key, which SNS uses to encrypt what they publish (AWS's own SNS key would not let them).
    """

    def __init__(self, scope: Construct, construct_id: str, *, project: str) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        workspaces = f"arn:{stack.partition}:aps:{stack.region}:{stack.account}:workspace/*"
        alarms = f"arn:{stack.partition}:cloudwatch:{stack.region}:{stack.account}:alarm:*"
        self.key = kms.Key(
            self, "Key", enable_key_rotation=True, description=f"{project} alert topic (SNS) encryption"
        )
        for sid, principal in (
            ("AllowAmpToUseTheKeyForTheTopic", APS_PRINCIPAL),
            ("AllowCloudWatchAlarmsToUseTheKeyForTheTopic", CLOUDWATCH_PRINCIPAL),
        ):
            self.key.add_to_resource_policy(
                iam.PolicyStatement(
                    sid=sid,
                    principals=[iam.ServicePrincipal(principal)],
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
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToPublish",
                principals=[iam.ServicePrincipal(CLOUDWATCH_PRINCIPAL)],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {"aws:SourceArn": alarms},
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


class DeadLetterAlarms(Construct):
    """CloudWatch alarms on the capture dead-letter queue, to the alert topic (on ALARM and on OK).

    They watch SQS's own metrics, so they fire even when the metrics export or AMP is down:
    messages visible for ``CAPTURE_DLQ_VISIBLE_ALARM_MINUTES`` minutes, and the oldest message
    older than ``CAPTURE_DLQ_AGE_ALARM_SECONDS`` (one the replays could not take, or no replay ran).
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, project: str, queue: sqs.IQueue, topic: sns.ITopic
    ) -> None:
        super().__init__(scope, construct_id)
        action = cloudwatch_actions.SnsAction(topic)
        minutes = constants.CAPTURE_DLQ_VISIBLE_ALARM_MINUTES
        self.messages_visible = self._build_alarm(
            "MessagesVisible",
            name=f"{project}-capture-dlq-messages-visible",
            metric=queue.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(1), statistic="Maximum"
            ),
            threshold=0,
            periods=minutes,
            description=(
                f"Events have waited in the capture dead-letter queue for {minutes} minutes: they are not "
                "in S3 until replayed (modelwatch capture replay, or the capture replay function). "
                "Runbook: docs/alerts.md#cloudwatch-alarms-on-the-capture-dead-letter-queue"
            ),
            action=action,
        )
        minutes_old = constants.CAPTURE_DLQ_AGE_ALARM_SECONDS // 60
        self.oldest_message_age = self._build_alarm(
            "OldestMessageAge",
            name=f"{project}-capture-dlq-oldest-message-age",
            metric=queue.metric_approximate_age_of_oldest_message(
                period=Duration.minutes(5), statistic="Maximum"
            ),
            threshold=constants.CAPTURE_DLQ_AGE_ALARM_SECONDS,
            periods=1,
            description=(
                f"The oldest message of the capture dead-letter queue is over {minutes_old} minutes old: "
                "no replay has taken it (messages expire after "
                f"{constants.CAPTURE_DLQ_RETENTION_DAYS} days). "
                "Runbook: docs/alerts.md#cloudwatch-alarms-on-the-capture-dead-letter-queue"
            ),
            action=action,
        )

    def _build_alarm(
        self,
        construct_id: str,
        *,
        name: str,
        metric: cloudwatch.Metric,
        threshold: float,
        periods: int,
        description: str,
        action: cloudwatch.IAlarmAction,
    ) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            alarm_name=name,
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=periods,
            datapoints_to_alarm=periods,
            # An idle queue stops reporting: no data means no messages.
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(action)
        alarm.add_ok_action(action)
        return alarm


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
            description="Start retraining on drift, data-quality, performance alerts and rollout rollbacks",
            event_pattern=events.EventPattern(
                source=[platform_events.SOURCE], detail_type=list(platform_events.DETAIL_TYPES.values())
            ),
            targets=[_StartTarget(target_arn, role)],
        )
