"""Observability: AMP (metrics, rules, alert manager), alert channels, Grafana, the metrics export.

Also the CloudWatch alarms on the capture dead-letter queue (capture's, built before this stack),
which notify the alert topic directly, whether or not AMP and the metrics export work.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.config import ModelwatchConfig
from infra.constructs.alerting import AlertChannels, AlertTopic, DeadLetterAlarms, RetrainingTrigger
from infra.constructs.amp import AmpWorkspace
from infra.constructs.amp_functions import MetricsExport, ObservabilityFunctions
from infra.constructs.grafana import GrafanaWorkspace


class ObservabilityStack(Stack):
    """Metrics to AMP, alerts to SNS and its channels, dashboards in Grafana, retraining on alerts.

    ``models_bucket`` holds the serving manifests, which the metrics export reads (the version
    each model is published at). ``capture_dlq`` is the capture dead-letter queue: the metrics
    export reads its depth and two CloudWatch alarms watch it.

    ``event_bus`` is the platform bus the monitoring jobs put their events on; without one, the
    stack creates it (``self.event_bus``) for the monitoring stack to use. ``layer`` is the
    ``modelwatch`` layer (serving's); without one, the stack builds its own from the same bundle.
    Functions that write metrics get :attr:`metrics_environment` and :meth:`grant_remote_write`.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: ModelwatchConfig,
        events_bucket: s3.IBucket,
        models_bucket: s3.IBucket,
        capture_dlq: sqs.IQueue,
        layer: lambda_.ILayerVersion | None = None,
        event_bus: events.IEventBus | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        observability = config.observability
        functions = ObservabilityFunctions(self, "Functions", config=config, layer=layer)
        topic = AlertTopic(self, "Alerts", project=config.project)
        amp = AmpWorkspace(self, "Amp", project=config.project, topic=topic.topic)
        self.channels = AlertChannels(self, "Channels", config=config, topic=topic, functions=functions)
        self.metrics_export = MetricsExport(
            self,
            "MetricsExport",
            config=config,
            functions=functions,
            events_bucket=events_bucket,
            models_bucket=models_bucket,
            capture_dlq=capture_dlq,
            workspace_arn=amp.workspace_arn,
            remote_write_url=amp.remote_write_url,
        )
        self.dead_letter_alarms = DeadLetterAlarms(
            self,
            "CaptureDlqAlarms",
            project=config.project,
            queue=capture_dlq,
            topic=topic.topic,
            extra_topics=self.channels.alarm_topics[1:],
        )
        self.event_bus: events.IEventBus = event_bus or events.EventBus(
            self, "PlatformBus", event_bus_name=f"{config.project}-platform"
        )
        if observability.retraining_target_arn:
            RetrainingTrigger(
                self, "Retraining", bus=self.event_bus, target_arn=observability.retraining_target_arn
            )
        self.grafana = None
        if observability.grafana.enabled:
            self.grafana = GrafanaWorkspace(
                self,
                "Grafana",
                config=config,
                functions=functions,
                amp_workspace_arn=amp.workspace_arn,
                amp_query_endpoint=amp.query_endpoint,
            )
            CfnOutput(self, "GrafanaUrl", value=f"https://{self.grafana.workspace.attr_endpoint}")
        self.amp = amp
        self.alert_topic = topic.topic
        # Where a CloudWatch alarm of alerts publishes: the topic, and the copies for filtered e-mail.
        self.alarm_topics = self.channels.alarm_topics

        CfnOutput(self, "AmpWorkspaceId", value=amp.workspace.attr_workspace_id)
        CfnOutput(self, "RemoteWriteUrl", value=amp.remote_write_url)
        CfnOutput(self, "AlertTopicArn", value=topic.topic.topic_arn)
        if event_bus is None:
            CfnOutput(self, "EventBusName", value=self.event_bus.event_bus_name)

    @property
    def metrics_environment(self) -> dict[str, str]:
        """Environment of a function that writes metrics (``modelwatch.metrics.sink_from_settings``)."""
        return {"MODELWATCH_REMOTE_WRITE_URL": self.amp.remote_write_url}

    def grant_remote_write(self, grantee: iam.IGrantable) -> None:
        """Allow ``grantee`` to remote-write to the AMP workspace (``aps:RemoteWrite``)."""
        iam.Grant.add_to_principal(
            grantee=grantee, actions=["aps:RemoteWrite"], resource_arns=[self.amp.workspace_arn]
        )
