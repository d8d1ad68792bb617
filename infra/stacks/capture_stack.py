"""Data and capture: buckets, three Firehose streams (events of every model, rejected, labels), the DLQ."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.config import ModelwatchConfig
from infra.constructs.capture_queue import CaptureDeadLetterQueue
from infra.constructs.capture_streams import CaptureStreams
from infra.constructs.storage import Storage
from infra.nag import acknowledge


class CaptureStack(Stack):
    """Where predictions land. Exposes buckets, the three streams and the DLQ to the serving stack."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: ModelwatchConfig, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        storage = Storage(self, "Storage", config=config)
        streams = CaptureStreams(self, "Streams", config=config, events_bucket=storage.events_bucket)
        dlq = CaptureDeadLetterQueue(self, "CaptureDlq", project=config.project)

        self.events_bucket: s3.IBucket = storage.events_bucket
        self.models_bucket: s3.IBucket = storage.models_bucket
        self.access_logs_bucket: s3.IBucket = storage.access_logs_bucket
        self.events_stream: firehose.IDeliveryStream = streams.events_stream
        self.rejected_stream: firehose.IDeliveryStream = streams.rejected_stream
        self.labels_stream: firehose.IDeliveryStream = streams.labels_stream
        self.capture_dlq: sqs.IQueue = dlq.queue
        self.capture_streams: list[firehose.IDeliveryStream] = [
            self.events_stream,
            self.rejected_stream,
            self.labels_stream,
        ]

        # event_bridge_enabled on the events bucket adds CDK's bucket-notifications handler.
        notifications_handler = next(
            child for child in self.node.children if child.node.id.startswith("BucketNotificationsHandler")
        )
        acknowledge(
            notifications_handler,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AWSLambdaBasicExecutionRole]",
            "CDK's own bucket-notifications handler (it turns on EventBridge notifications of the events "
            "bucket at deploy time); the managed policy only lets it write its logs.",
        )
        acknowledge(
            self,
            "CloudFormation-Validate::W7001",
            "The Firehose L2 always adds its CIDR-block mapping, used only by destinations "
            "that need Firehose's IP ranges (e.g. Redshift); S3 delivery does not reference it.",
        )

        CfnOutput(self, "EventsBucketName", value=self.events_bucket.bucket_name)
        CfnOutput(self, "ModelsBucketName", value=self.models_bucket.bucket_name)
        CfnOutput(self, "CaptureDlqUrl", value=self.capture_dlq.queue_url)
        CfnOutput(self, "EventsStreamName", value=self.events_stream.delivery_stream_name)
