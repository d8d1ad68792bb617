"""Dead-letter queue for prediction events Firehose still refused after retries."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import constants
from infra.nag import acknowledge


class CaptureDeadLetterQueue(Construct):
    """An SQS queue (SSE, TLS-only, 14-day retention) the predict functions send failed events to."""

    def __init__(self, scope: Construct, construct_id: str, *, project: str) -> None:
        super().__init__(scope, construct_id)
        self.queue = self._build_queue(project)

    def _build_queue(self, project: str) -> sqs.Queue:
        queue = sqs.Queue(
            self,
            "Queue",
            queue_name=f"{project}-{constants.CAPTURE_DLQ_NAME}",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(constants.CAPTURE_DLQ_RETENTION_DAYS),
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(
            queue,
            "AwsSolutions-SQS3",
            (
                "This queue is itself the capture dead-letter queue: the predict functions send "
                "events Firehose refused to it directly, so it has no DLQ of its own."
            ),
        )
        return queue
