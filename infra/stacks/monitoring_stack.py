"""Monitoring: the profile function, the job dispatcher, its queues and jobs, the capture replay, and SQL
over the captured records (Glue tables and an Athena workgroup, queried by the performance job and people).

The platform bus and the AMP workspace belong to the observability stack (built first):
the jobs put their events on that bus and remote-write their metrics to that workspace.

The capture replay (on demand: the capture dead-letter queue back into Firehose) lives here
because this stack already takes what it needs from the stacks built before it: the layer
from serving, the events bucket, and now the DLQ and the streams from capture. In the
capture stack it would need serving's layer, and serving depends on capture (a cycle), or a
second layer of its own; the serving stack is the request path and stays that.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import constants
from infra.config import ModelwatchConfig
from infra.constructs.capture_replay import CaptureReplay
from infra.constructs.monitoring_functions import MonitoringFunctions
from infra.constructs.query_tables import QueryTables
from infra.nag import acknowledge
from modelwatch.contracts import layout


class MonitoringStack(Stack):
    """Jobs over the captured events; results under ``reports/``; alerts on the platform bus; the replay."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: ModelwatchConfig,
        layer: lambda_.ILayerVersion,
        events_bucket: s3.IBucket,
        models_bucket: s3.IBucket,
        platform_bus: events.IEventBus,
        metrics_environment: Mapping[str, str],
        grant_metrics: Callable[[iam.IGrantable], None],
        capture_dlq: sqs.IQueue,
        capture_streams: Sequence[firehose.IDeliveryStream],
        alert_topic: sns.ITopic | None = None,
        extra_alert_topics: Sequence[sns.ITopic] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.platform_bus = platform_bus
        self.dead_letter_queue = sqs.Queue(
            self,
            "MonitoringDlq",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(constants.MONITORING_DLQ_RETENTION_DAYS),
        )
        acknowledge(
            self.dead_letter_queue,
            "AwsSolutions-SQS3",
            "This queue is itself the dead-letter queue of the monitoring functions, rules and job queues.",
        )
        self.query_tables = QueryTables(self, "QueryTables", config=config, events_bucket=events_bucket)
        self.functions = MonitoringFunctions(
            self,
            "Functions",
            config=config,
            layer=layer,
            events_bucket=events_bucket,
            models_bucket=models_bucket,
            platform_bus=self.platform_bus,
            dead_letter_queue=self.dead_letter_queue,
            extra_environment=metrics_environment,
            query_tables=self.query_tables,
        )
        for function in [self.functions.profile_function, *self.functions.job_functions.values()]:
            grant_metrics(function)
        self.dead_letter_alarm = self._build_dead_letter_alarm(
            config.project, [alert_topic, *extra_alert_topics] if alert_topic is not None else []
        )
        self.capture_replay = CaptureReplay(
            self,
            "CaptureReplay",
            config=config,
            layer=layer,
            events_bucket=events_bucket,
            capture_dlq=capture_dlq,
            capture_streams=capture_streams,
        )
        CfnOutput(self, "PlatformEventBusName", value=self.platform_bus.event_bus_name)
        CfnOutput(self, "MonitoringDlqUrl", value=self.dead_letter_queue.queue_url)
        CfnOutput(
            self,
            "CaptureReplayFunctionName",
            value=self.capture_replay.function.function_name,
            description="Invoke on demand to replay the capture dead-letter queue into Firehose",
        )
        CfnOutput(
            self,
            "ReportsLocation",
            value=f"s3://{events_bucket.bucket_name}/{layout.REPORTS_PREFIX}",
            description="Job results (result.json) and HTML reports, by model, job and window",
        )

    def _build_dead_letter_alarm(self, project: str, topics: Sequence[sns.ITopic]) -> cloudwatch.Alarm:
        """An alarm when anything reaches the monitoring DLQ: a job message that failed every receive,
        a dispatcher or profile invocation that failed its retries (SQS's own metric, not AMP's)."""
        alarm = cloudwatch.Alarm(
            self,
            "MonitoringDlqMessagesVisible",
            alarm_name=f"{project}-monitoring-dlq-messages-visible",
            metric=self.dead_letter_queue.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(5), statistic="Maximum"
            ),
            threshold=0,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=(
                "A monitoring job, the job dispatcher or the profile function failed after its retries; "
                "the message or event is in the monitoring dead-letter queue. "
                "Runbook: docs/monitoring.md#scheduling-one-dispatcher-for-every-model"
            ),
        )
        for topic in topics:
            action = cloudwatch_actions.SnsAction(topic)
            alarm.add_alarm_action(action)
            alarm.add_ok_action(action)
        return alarm
