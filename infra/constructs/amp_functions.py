"""Lambda functions of the observability stack: the layer, a common builder, the metrics export."""

from __future__ import annotations

import json
from pathlib import Path

from aws_cdk import Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as lambda_event_sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import bundling, constants
from infra.config import ModelwatchConfig
from infra.constructs.python_function import build_modelwatch_layer, build_python_function
from infra.nag import acknowledge, acknowledge_wildcards, nag_resource
from modelwatch.contracts import layout


class ObservabilityFunctions(Construct):
    """A builder of thin handler functions on the ``modelwatch`` layer (serving's, or one of its own)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: ModelwatchConfig,
        layer: lambda_.ILayerVersion | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        self.layer = layer or self._build_layer()

    def _build_layer(self) -> lambda_.ILayerVersion:
        return build_modelwatch_layer(
            self, self._config, "modelwatch library and its dependencies (observability functions)"
        )

    def function(
        self,
        scope: Construct,
        construct_id: str,
        *,
        source: Path,
        extra_sources: tuple[tuple[Path, str], ...] = (),
        memory_mb: int,
        timeout_s: int,
        description: str,
        environment: dict[str, str],
    ) -> lambda_.Function:
        """Return a Python 3.11 function running ``source``/handler.py with the layer, traced, logged."""
        spec = bundling.BundleSpec(
            name=construct_id,
            architecture=self._config.architecture,
            sources=((source, ""), *extra_sources),
            layer=bundling.layer_spec(self._config.architecture),
        )
        return build_python_function(
            scope,
            construct_id,
            config=self._config,
            spec=spec,
            code_dir=source,
            layer=self.layer,
            memory_mb=memory_mb,
            timeout_s=timeout_s,
            description=description,
            environment=environment,
        )


class MetricsExport(Construct):
    """The ``metrics_export`` function: serving metrics from captured events to AMP.

    The events bucket's Object Created events under ``events/`` and ``rejected/`` reach it through
    a queue, a batch a minute, so it lists nothing; a schedule every minute writes every series (an
    idle model's rate reads 0), its own health, the dead-letter queue's depth and the published
    versions.

    It also reads the capture dead-letter queue's depth (``sqs:GetQueueAttributes``) and the
    serving manifests (which version each model should be served at).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: ModelwatchConfig,
        functions: ObservabilityFunctions,
        events_bucket: s3.IBucket,
        models_bucket: s3.IBucket,
        capture_dlq: sqs.IQueue,
        workspace_arn: str,
        remote_write_url: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = functions.function(
            self,
            "Function",
            source=constants.METRICS_EXPORT_FUNCTION_DIR,
            memory_mb=constants.METRICS_EXPORT_MEMORY_MB,
            timeout_s=constants.METRICS_EXPORT_TIMEOUT_S,
            description="modelwatch metrics export: serving metrics from captured events to AMP",
            environment={
                "MODELWATCH_EVENTS_BUCKET": events_bucket.bucket_name,
                "MODELWATCH_METRICS_STATE_KEY": layout.METRICS_EXPORT_STATE_KEY,
                "MODELWATCH_EXPORT_SCHEDULE_SECONDS": str(constants.METRICS_EXPORT_SCHEDULE_MINUTES * 60),
                "MODELWATCH_EXPORT_KEYS_FROM": "events",
                "MODELWATCH_REMOTE_WRITE_URL": remote_write_url,
                "MODELWATCH_CUSTOM_METRICS": json.dumps(config.observability.custom_metrics),
                "MODELWATCH_CAPTURE_DLQ_URL": capture_dlq.queue_url,
                "MODELWATCH_MODELS_BUCKET": models_bucket.bucket_name,
                "MODELWATCH_SERVING_ALIAS": config.serving_alias,
            },
        )
        self._grant(events_bucket, workspace_arn)
        self._grant_manifests(models_bucket, config.serving_alias)
        self.function.add_to_role_policy(
            iam.PolicyStatement(actions=["sqs:GetQueueAttributes"], resources=[capture_dlq.queue_arn])
        )
        events.Rule(
            self,
            "Schedule",
            description="Export serving metrics to AMP every minute (the objects come from the queue)",
            schedule=events.Schedule.rate(Duration.minutes(constants.METRICS_EXPORT_SCHEDULE_MINUTES)),
            targets=[targets.LambdaFunction(self.function, retry_attempts=0)],
        )
        self.queue = self._build_delivered_objects_queue(events_bucket)

    def _build_delivered_objects_queue(self, events_bucket: s3.IBucket) -> sqs.Queue:
        """Object Created of events/ and rejected/ -> a queue -> the export, a batch a minute."""
        dead_letters = sqs.Queue(
            self,
            "DeliveredDlq",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(constants.METRICS_EXPORT_DLQ_RETENTION_DAYS),
        )
        acknowledge(
            dead_letters,
            "AwsSolutions-SQS3",
            "This queue is the dead-letter queue of the delivered-objects queue; the objects stay in "
            "S3 and a redrive counts them.",
        )
        queue = sqs.Queue(
            self,
            "Delivered",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=Duration.seconds(constants.METRICS_EXPORT_QUEUE_VISIBILITY_S),
            retention_period=Duration.days(constants.METRICS_EXPORT_QUEUE_RETENTION_DAYS),
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=dead_letters, max_receive_count=constants.METRICS_EXPORT_MAX_RECEIVES
            ),
        )
        events.Rule(
            self,
            "DeliveredObjects",
            description="Objects Firehose delivers under events/ and rejected/, for the metrics export",
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=["Object Created"],
                detail={
                    "bucket": {"name": [events_bucket.bucket_name]},
                    "object": {"key": [{"prefix": layout.EVENTS_PREFIX}, {"prefix": layout.REJECTED_PREFIX}]},
                },
            ),
            targets=[targets.SqsQueue(queue)],
        )
        self.function.add_event_source(
            lambda_event_sources.SqsEventSource(
                queue,
                batch_size=constants.METRICS_EXPORT_BATCH_SIZE,
                max_batching_window=Duration.seconds(constants.METRICS_EXPORT_BATCH_WINDOW_S),
                max_concurrency=constants.METRICS_EXPORT_MAX_CONCURRENCY,
            )
        )
        return queue

    def _grant(self, bucket: s3.IBucket, workspace_arn: str) -> None:
        function = self.function
        bucket_arn = _bucket_arn(self, bucket)
        readable = [f"{bucket_arn}/{layout.EVENTS_PREFIX}*", f"{bucket_arn}/{layout.REJECTED_PREFIX}*"]
        state = f"{bucket_arn}/{layout.METRICS_EXPORT_STATE_KEY}"
        function.add_to_role_policy(iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket_arn]))
        function.add_to_role_policy(
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[*readable, state])
        )
        function.add_to_role_policy(iam.PolicyStatement(actions=["s3:PutObject"], resources=[state]))
        function.add_to_role_policy(
            iam.PolicyStatement(actions=["aps:RemoteWrite"], resources=[workspace_arn])
        )
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:ListMetrics", "cloudwatch:GetMetricData"], resources=["*"]
            )
        )
        acknowledge_wildcards(
            function,
            "Reads only the events/ and rejected/ prefixes of the events bucket (object keys are "
            "Firehose's, not known at deploy time).",
            resources=tuple(nag_resource(self, r) for r in readable),
        )

    def _grant_manifests(self, models_bucket: s3.IBucket, alias: str) -> None:
        """The models it exports are the manifests published under the serving alias (models are
        data): it may list the manifests and read each model's alias manifest, nothing else."""
        models_arn = _bucket_arn(self, models_bucket)
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[models_arn],
                conditions={"StringLike": {"s3:prefix": [f"{layout.MANIFESTS_PREFIX}/*"]}},
            )
        )
        manifests = f"{models_arn}/{layout.manifest_key('*', alias)}"
        self.function.add_to_role_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=[manifests]))
        acknowledge_wildcards(
            self.function,
            "Reads the serving alias's manifest of every model (manifests/*/<alias>.json): models are "
            "published after deployment, so their names are not known at deploy time.",
            resources=(nag_resource(self, manifests),),
        )


def _bucket_arn(scope: Construct, bucket: s3.IBucket) -> str:
    """The bucket's ARN, imported explicitly when it lives in another stack (so cdk-nag can name it)."""
    producer = Stack.of(bucket)
    if producer is Stack.of(scope):
        return bucket.bucket_arn
    return producer.export_value(bucket.bucket_arn)
