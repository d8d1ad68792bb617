"""The capture replay function: the capture dead-letter queue back into Firehose, on demand.

It may receive, delete and change the visibility of the capture DLQ's messages, put records
to the capture streams (and no other), and read and write its claims, one object per event
under ``state/capture_replay/claims/`` of the events bucket (``modelwatch.jobs.capture_replay``).
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import bundling, constants
from infra.config import ModelwatchConfig
from infra.constructs.python_function import build_python_function
from infra.nag import acknowledge_wildcards, nag_resource
from modelwatch.contracts import layout


class CaptureReplay(Construct):
    """The ``capture_replay`` function with least-privilege access to the DLQ, the streams and its claims."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: ModelwatchConfig,
        layer: lambda_.ILayerVersion,
        events_bucket: s3.IBucket,
        capture_dlq: sqs.IQueue,
        capture_streams: Sequence[firehose.IDeliveryStream],
    ) -> None:
        super().__init__(scope, construct_id)
        self._events_bucket = events_bucket
        self._capture_dlq = capture_dlq
        self.function = self._build_function(config, layer)
        self._grant_queue()
        self._grant_streams(capture_streams)
        self._grant_claims()

    def _build_function(self, config: ModelwatchConfig, layer: lambda_.ILayerVersion) -> lambda_.Function:
        spec = bundling.function_spec(
            constants.CAPTURE_REPLAY_FUNCTION_NAME,
            config.architecture,
            source_dir=constants.CAPTURE_REPLAY_FUNCTION_DIR,
        )
        return build_python_function(
            self,
            "Function",
            config=config,
            spec=spec,
            code_dir=constants.CAPTURE_REPLAY_FUNCTION_DIR,
            layer=layer,
            memory_mb=constants.CAPTURE_REPLAY_MEMORY_MB,
            timeout_s=constants.CAPTURE_REPLAY_TIMEOUT_S,
            description="modelwatch capture replay: the capture dead-letter queue back into Firehose",
            environment={
                "MODELWATCH_CAPTURE_DLQ_URL": self._capture_dlq.queue_url,
                "MODELWATCH_EVENTS_BUCKET": self._events_bucket.bucket_name,
                "MODELWATCH_REPLAY_VISIBILITY_TIMEOUT_SECONDS": str(
                    constants.CAPTURE_REPLAY_VISIBILITY_TIMEOUT_S
                ),
            },
        )

    def _grant_queue(self) -> None:
        # The batch form of ChangeMessageVisibility is authorised by the same action.
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"],
                resources=[self._capture_dlq.queue_arn],
            )
        )

    def _grant_streams(self, streams: Sequence[firehose.IDeliveryStream]) -> None:
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["firehose:PutRecordBatch"], resources=[s.delivery_stream_arn for s in streams]
            )
        )

    def _grant_claims(self) -> None:
        bucket_arn = _bucket_arn(self, self._events_bucket)
        claims = f"{bucket_arn}/{layout.CAPTURE_REPLAY_CLAIMS_PREFIX}*"
        self.function.add_to_role_policy(
            iam.PolicyStatement(actions=["s3:GetObject", "s3:PutObject"], resources=[claims])
        )
        # Without ListBucket, reading a claim that does not exist answers 403 instead of 404.
        self.function.add_to_role_policy(
            iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket_arn])
        )
        acknowledge_wildcards(
            self.function,
            "Object access limited to the replay's own claims, one object per event id under "
            f"{layout.CAPTURE_REPLAY_CLAIMS_PREFIX} of the events bucket (event ids are not known at "
            "deploy time).",
            resources=(nag_resource(self, claims),),
        )


def _bucket_arn(scope: Construct, bucket: s3.IBucket) -> str:
    """The bucket's ARN, imported explicitly when it lives in another stack (so cdk-nag can name it)."""
    producer = Stack.of(bucket)
    return bucket.bucket_arn if producer is Stack.of(scope) else producer.export_value(bucket.bucket_arn)
