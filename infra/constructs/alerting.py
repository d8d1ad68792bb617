"""Where alerts go: an encrypted SNS topic AMP and CloudWatch alarms may publish to, its channels
(e-mail subscriptions with filter policies, the notify function and the alarm on its failed
deliveries), the CloudWatch alarms on the capture dead-letter queue, and the retraining trigger."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Final

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
from modelwatch.contracts.channels import NO_MODEL, SEVERITIES, Channel, secret_arns

APS_PRINCIPAL = "aps.amazonaws.com"
CLOUDWATCH_PRINCIPAL = "cloudwatch.amazonaws.com"
MAX_CHANNELS_ENVIRONMENT: Final = 3000  # characters of JSON; the rest of the 4 KB is Powertools' and ours


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


def email_filter_policy(channel: Channel) -> dict[str, sns.SubscriptionFilter] | None:
    """The SNS filter policy of an e-mail channel on the ``severity`` and ``model`` attributes.

    ``None`` when the channel takes every alert. A model filter passes the alerts about no one model
    (``model`` is ``-``), as the notify function's selection does.
    """
    policy: dict[str, sns.SubscriptionFilter] = {}
    if set(channel.severities) != set(SEVERITIES):
        policy["severity"] = sns.SubscriptionFilter.string_filter(allowlist=list(channel.severities))
    if not channel.all_models:
        names = [pattern for pattern in channel.models if not pattern.endswith("*")]
        prefixes = [pattern[:-1] for pattern in channel.models if pattern.endswith("*")]
        policy["model"] = sns.SubscriptionFilter.string_filter(
            allowlist=[NO_MODEL, *names], match_prefixes=prefixes or None
        )
    return policy or None


class AlertChannels(Construct):
    """The channels of ``observability``: e-mail subscriptions and the notify function for the others.

    An e-mail channel with severities or models is an e-mail subscription with a filter policy on
    the message attributes. CloudWatch alarms publish without attributes, and SNS filter policies
    never match a message without attributes, so such a channel (when it takes ``warning``, the
    alarms' severity) also subscribes, unfiltered, to a second topic the alarms publish to as well:
    :attr:`alarm_topics` are where every CloudWatch alarm of alerts should publish.

    Every other channel is sent to by the ``notify`` function, which gets the channel list (no
    secret) and read access to exactly the channels' secrets. Its failed deliveries alarm the
    topics (``<project>-notify-channel-failures``), so every other channel hears of them.
    """

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
        self._project = config.project
        channels = config.observability.all_channels
        emails = [c for c in channels if c.type == "email"]
        others = [c for c in channels if c.type != "email"]
        self.alarm_topics: list[sns.ITopic] = [topic.topic]
        copies_for = [c for c in emails if email_filter_policy(c) is not None and "warning" in c.severities]
        if copies_for:
            self.alarm_topics.append(self._build_alarm_copies(topic))
        for channel in emails:
            self._subscribe_email(topic.topic, channel, alarm_copies=channel in copies_for)
        self.notify_function: lambda_.Function | None = None
        self.failure_alarm: cloudwatch.Alarm | None = None
        if others:
            self.notify_function = self._build_notify(functions, topic, others)
            self.failure_alarm = self._build_failure_alarm()

    def _subscribe_email(self, topic: sns.ITopic, channel: Channel, *, alarm_copies: bool) -> None:
        assert channel.address is not None
        policy = email_filter_policy(channel)
        topic.add_subscription(subscriptions.EmailSubscription(channel.address, filter_policy=policy))
        if alarm_copies:
            self.alarm_topics[-1].add_subscription(subscriptions.EmailSubscription(channel.address))

    def _build_alarm_copies(self, topic: AlertTopic) -> sns.Topic:
        copies = sns.Topic(
            self,
            "AlarmCopies",
            display_name=f"{self._project} alarms (for filtered e-mail channels)",
            master_key=topic.key,
            enforce_ssl=True,
        )
        stack = Stack.of(self)
        alarms = f"arn:{stack.partition}:cloudwatch:{stack.region}:{stack.account}:alarm:*"
        copies.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToPublish",
                principals=[iam.ServicePrincipal(CLOUDWATCH_PRINCIPAL)],
                actions=["sns:Publish"],
                resources=[copies.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {"aws:SourceArn": alarms},
                },
            )
        )
        return copies

    @property
    def failure_alarm_name(self) -> str:
        """The name of the alarm on the notify function's failed deliveries."""
        return f"{self._project}-notify-channel-failures"

    def _build_notify(
        self, functions: ObservabilityFunctions, topic: AlertTopic, channels: list[Channel]
    ) -> lambda_.Function:
        document = json.dumps(
            [c.model_dump(mode="json", exclude_defaults=True) for c in channels], separators=(",", ":")
        )
        if len(document) > MAX_CHANNELS_ENVIRONMENT:
            raise ValueError(
                f"observability.channels: the notify function's channel list is {len(document)} characters "
                f"of JSON, over the {MAX_CHANNELS_ENVIRONMENT} that fit its environment (Lambda allows 4 KB)"
            )
        function = functions.function(
            self,
            "Notify",
            source=constants.NOTIFY_FUNCTION_DIR,
            memory_mb=constants.NOTIFY_MEMORY_MB,
            timeout_s=constants.NOTIFY_TIMEOUT_S,
            description=(
                "modelwatch notify: alerts from SNS to their channels (Slack, Teams, PagerDuty, Opsgenie, "
                "webhooks)"
            ),
            environment={
                "MODELWATCH_CHANNELS": document,
                "MODELWATCH_FAILURE_ALARM_NAME": self.failure_alarm_name,
            },
        )
        for index, arn in enumerate(secret_arns(channels)):
            secret_id = f"ChannelSecret{index}"
            if re.search(r"-[A-Za-z0-9]{6}$", arn):
                secret = secretsmanager.Secret.from_secret_complete_arn(self, secret_id, arn)
            else:
                secret = secretsmanager.Secret.from_secret_partial_arn(self, secret_id, arn)
            secret.grant_read(function)
        topic.topic.add_subscription(subscriptions.LambdaSubscription(function))
        return function

    def _build_failure_alarm(self) -> cloudwatch.Alarm:
        minutes = constants.NOTIFY_FAILURE_ALARM_PERIOD_MINUTES
        alarm = cloudwatch.Alarm(
            self,
            "ChannelFailures",
            alarm_name=self.failure_alarm_name,
            alarm_description=(
                "The notify function could not deliver alerts to a channel after its retries "
                f"(ChannelDeliveryFailures by channel; {minutes}-minute sums). The other channels took them. "
                "Runbook: docs/alerts.md#a-channel-that-fails"
            ),
            metric=cloudwatch.Metric(
                namespace=constants.POWERTOOLS_METRICS_NAMESPACE,
                metric_name=constants.NOTIFY_FAILURES_TOTAL_METRIC,
                dimensions_map={"service": constants.POWERTOOLS_SERVICE_NAME},
                statistic="Sum",
                period=Duration.minutes(minutes),
            ),
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        for alarm_topic in self.alarm_topics:
            action = cloudwatch_actions.SnsAction(alarm_topic)
            alarm.add_alarm_action(action)
            alarm.add_ok_action(action)
        return alarm


class DeadLetterAlarms(Construct):
    """CloudWatch alarms on the capture dead-letter queue, to the alert topic (on ALARM and on OK).

    They watch SQS's own metrics, so they fire even when the metrics export or AMP is down:
    messages visible for ``CAPTURE_DLQ_VISIBLE_ALARM_MINUTES`` minutes, and the oldest message
    older than ``CAPTURE_DLQ_AGE_ALARM_SECONDS`` (one the replays could not take, or no replay ran).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        project: str,
        queue: sqs.IQueue,
        topic: sns.ITopic,
        extra_topics: Sequence[sns.ITopic] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        actions = [cloudwatch_actions.SnsAction(t) for t in (topic, *extra_topics)]
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
            actions=actions,
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
            actions=actions,
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
        actions: Sequence[cloudwatch.IAlarmAction],
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
        alarm.add_alarm_action(*actions)
        alarm.add_ok_action(*actions)
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
