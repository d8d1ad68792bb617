"""The ``modelwatch`` layer and the predict functions: one per model, plus the catalog function."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import bundling, constants
from infra.config import ModelConfig, ModelwatchConfig
from infra.constructs.python_function import build_modelwatch_layer, build_python_function
from infra.nag import acknowledge_wildcards, nag_resource
from modelwatch.contracts import layout


class PredictFunctions(Construct):
    """Functions sharing one handler; each bundles only its model flavour's runtime.

    Each function may read only its own model's manifests and artifacts (the catalog
    function: every model's manifests, no artifacts), write only to the events
    stream and the rejected stream, and send to the capture dead-letter queue.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: ModelwatchConfig,
        models_bucket: s3.IBucket,
        events_stream: firehose.IDeliveryStream,
        rejected_stream: firehose.IDeliveryStream,
        labels_stream: firehose.IDeliveryStream,
        capture_dlq: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        self._models_bucket = models_bucket
        self._events_stream = events_stream
        self._rejected_stream = rejected_stream
        self._labels_stream = labels_stream
        self._capture_dlq = capture_dlq
        self.layer = self._build_layer()
        self.model_functions: dict[str, lambda_.Function] = {
            model.name: self._build_model_function(model) for model in config.models
        }
        self.catalog_function = self._build_catalog_function()

    def _build_layer(self) -> lambda_.LayerVersion:
        return build_modelwatch_layer(
            self, self._config, "modelwatch library and its serving dependencies (no model runtimes)"
        )

    def _build_model_function(self, model: ModelConfig) -> lambda_.Function:
        spec = bundling.function_spec(
            model.name, self._config.architecture, constants.FLAVOR_REQUIREMENTS[model.flavor]
        )
        function = self._build_function(
            f"Model-{model.name}",
            spec=spec,
            memory_mb=model.memory_mb,
            timeout_s=model.timeout_s,
            description=f"modelwatch predictions for model {model.name} ({model.flavor})",
            environment={
                "MODELWATCH_EVENTS_STREAM": self._events_stream.delivery_stream_name,
                "MODELWATCH_SERVED_MODELS": model.name,
                "MODELWATCH_CATALOG_MODELS": model.name,
            },
        )
        self._grant_read(function, model_names=[model.name], artifacts=True)
        self._grant_capture(function, [self._events_stream])
        return function

    def _build_catalog_function(self) -> lambda_.Function:
        spec = bundling.function_spec(constants.CATALOG_FUNCTION_NAME, self._config.architecture)
        names = [model.name for model in self._config.models]
        function = self._build_function(
            "Catalog",
            spec=spec,
            memory_mb=constants.CATALOG_MEMORY_MB,
            timeout_s=constants.CATALOG_TIMEOUT_S,
            description="modelwatch catalog: model listing, health, docs and unknown routes",
            environment={
                # Required by the serving settings; the catalog predicts for no model, so never writes it.
                "MODELWATCH_EVENTS_STREAM": self._events_stream.delivery_stream_name,
                "MODELWATCH_CATALOG_MODELS": ",".join(names),
                # POST /v1/models/<m>/feedback reaches the catalog function ($default route).
                "MODELWATCH_LABELS_STREAM": self._labels_stream.delivery_stream_name,
            },
        )
        self._grant_read(function, model_names=names, artifacts=False)
        self._grant_capture(function, [self._labels_stream])
        return function

    def _build_function(
        self,
        construct_id: str,
        *,
        spec: bundling.BundleSpec,
        memory_mb: int,
        timeout_s: int,
        description: str,
        environment: dict[str, str],
    ) -> lambda_.Function:
        return build_python_function(
            self,
            construct_id,
            config=self._config,
            spec=spec,
            code_dir=constants.PREDICT_FUNCTION_DIR,
            layer=self.layer,
            memory_mb=memory_mb,
            timeout_s=timeout_s,
            description=description,
            environment={**self._common_environment(), **environment},
        )

    def _common_environment(self) -> dict[str, str]:
        config = self._config
        return {
            "MODELWATCH_MODELS_BUCKET": self._models_bucket.bucket_name,
            "MODELWATCH_MANIFEST_PREFIX": layout.MANIFESTS_PREFIX,
            "MODELWATCH_SERVING_ALIAS": config.serving_alias,
            "MODELWATCH_REJECTED_STREAM": self._rejected_stream.delivery_stream_name,
            "MODELWATCH_CAPTURE_DLQ_URL": self._capture_dlq.queue_url,
            "MODELWATCH_MAX_INSTANCES": str(config.max_instances),
            "MODELWATCH_MANIFEST_TTL_SECONDS": str(config.manifest_ttl_seconds),
            "MODELWATCH_MODEL_CACHE_DIR": constants.MODEL_CACHE_DIR,
        }

    def _grant_read(self, function: lambda_.Function, *, model_names: list[str], artifacts: bool) -> None:
        prefixes = [f"{layout.MANIFESTS_PREFIX}/{name}/*" for name in model_names]
        if artifacts:
            prefixes += [f"{layout.ARTIFACTS_PREFIX}/{name}/*" for name in model_names]
        if not prefixes:
            return
        resources = [f"{self._models_bucket_arn()}/{prefix}" for prefix in prefixes]
        function.add_to_role_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=resources))
        acknowledge_wildcards(
            function,
            "Object-level read limited to this function's own model prefixes of the models bucket "
            "(manifests/<model>/ and, for a model function, models/<model>/); versions are not known "
            "at deploy time.",
            resources=tuple(nag_resource(self, resource) for resource in resources),
        )

    def _models_bucket_arn(self) -> str:
        """The models bucket's ARN, imported explicitly when it lives in another stack.

        The explicit import renders the same in the template as CDK's implicit one, but is
        known at construction, so the cdk-nag acknowledgment can name the resource exactly.
        """
        bucket = self._models_bucket
        producer = Stack.of(bucket)
        if producer is Stack.of(self):
            return bucket.bucket_arn
        return producer.export_value(bucket.bucket_arn)

    def _grant_capture(self, function: lambda_.Function, streams: list[firehose.IDeliveryStream]) -> None:
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["firehose:PutRecord", "firehose:PutRecordBatch"],
                resources=[s.delivery_stream_arn for s in [*streams, self._rejected_stream]],
            )
        )
        function.add_to_role_policy(
            iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[self._capture_dlq.queue_arn])
        )
