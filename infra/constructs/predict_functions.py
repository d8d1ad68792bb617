"""The ``modelwatch`` layer and the serving functions: one per flavour, one per dedicated model, the catalog.

Models are data: a flavour function serves every model whose serving manifest names its
flavour, so nothing here grows with the number of published models. Only a model declared
``dedicated`` in cdk.json gets a function of its own (its memory, timeout, concurrency).
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import bundling, constants
from infra.config import JwtAuth, ModelConfig, ModelwatchConfig
from infra.constructs.python_function import build_modelwatch_layer, build_python_function
from infra.nag import acknowledge_wildcards, nag_resource
from modelwatch.contracts import layout


def _title(name: str) -> str:
    return "".join(part.title() for part in name.replace(".", "_").replace("-", "_").split("_"))


class PredictFunctions(Construct):
    """Functions sharing one handler; each bundles only its flavour's runtime.

    A flavour function may read every model's manifests and artifacts (any model of its
    flavour may be published after deployment); a dedicated function only its own model's;
    the catalog function every manifest, no artifacts. A predicting function writes only to
    the one events stream and the rejected stream (the catalog: labels and rejected), and
    sends only to the capture dead-letter queue.
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
        self.flavor_functions: dict[str, lambda_.Function] = {
            flavor: self._build_flavor_function(flavor) for flavor in config.serving_flavors
        }
        self.dedicated_functions: dict[str, lambda_.Function] = {
            model.name: self._build_dedicated_function(model) for model in config.dedicated_models
        }
        self.catalog_function = self._build_catalog_function()

    @property
    def model_functions(self) -> dict[str, lambda_.Function]:
        """Every function that predicts: ``flavor:<flavour>`` and the dedicated models' names."""
        return {
            **{f"flavor:{flavor}": function for flavor, function in self.flavor_functions.items()},
            **self.dedicated_functions,
        }

    def _build_layer(self) -> lambda_.LayerVersion:
        return build_modelwatch_layer(
            self, self._config, "modelwatch library and its serving dependencies (no model runtimes)"
        )

    def _build_flavor_function(self, flavor: str) -> lambda_.Function:
        spec = bundling.function_spec(
            f"{flavor}-function", self._config.architecture, constants.FLAVOR_REQUIREMENTS[flavor]
        )
        function = self._build_function(
            f"Flavor{_title(flavor)}",
            spec=spec,
            memory_mb=constants.FLAVOR_FUNCTION_MEMORY_MB,
            timeout_s=constants.FLAVOR_FUNCTION_TIMEOUT_S,
            description=f"modelwatch predictions for every {flavor} model with a serving manifest",
            environment={
                "MODELWATCH_SERVED_FLAVORS": flavor,
                "MODELWATCH_EVENTS_STREAM": self._events_stream.delivery_stream_name,
            },
        )
        self._grant_read(function, model_names=None, artifacts=True)
        self._grant_capture(function, [self._events_stream])
        return function

    def _build_dedicated_function(self, model: ModelConfig) -> lambda_.Function:
        spec = bundling.function_spec(
            model.name, self._config.architecture, constants.FLAVOR_REQUIREMENTS[model.flavor]
        )
        function = self._build_function(
            f"Model-{model.name}",
            spec=spec,
            memory_mb=model.memory_mb,
            timeout_s=model.timeout_s,
            description=f"modelwatch predictions for dedicated model {model.name} ({model.flavor})",
            environment={
                "MODELWATCH_SERVED_FLAVORS": model.flavor,
                "MODELWATCH_EVENTS_STREAM": self._events_stream.delivery_stream_name,
                "MODELWATCH_CATALOG_MODELS": model.name,
            },
            reserved_concurrent_executions=model.reserved_concurrency,
        )
        self._grant_read(function, model_names=[model.name], artifacts=True)
        self._grant_capture(function, [self._events_stream])
        return function

    def _build_catalog_function(self) -> lambda_.Function:
        spec = bundling.function_spec(constants.CATALOG_FUNCTION_NAME, self._config.architecture)
        function = self._build_function(
            "Catalog",
            spec=spec,
            memory_mb=constants.CATALOG_MEMORY_MB,
            timeout_s=constants.CATALOG_TIMEOUT_S,
            description="modelwatch catalog: model listing, health, docs and unknown routes",
            environment={
                # Required by the serving settings; the catalog predicts for no model, so never writes it.
                "MODELWATCH_EVENTS_STREAM": self._events_stream.delivery_stream_name,
                # POST /v1/models/<m>/feedback reaches the catalog function (its own route).
                "MODELWATCH_LABELS_STREAM": self._labels_stream.delivery_stream_name,
                **self._api_auth_environment(),
            },
        )
        self._grant_read(function, model_names=None, artifacts=False)
        self._grant_capture(function, [self._labels_stream])
        return function

    def _api_auth_environment(self) -> dict[str, str]:
        """How API Gateway authenticates callers: the catalog's OpenAPI document says so (/docs)."""
        auth = self._config.auth
        if not isinstance(auth, JwtAuth):
            return {"MODELWATCH_API_AUTH": auth.type}
        return {
            "MODELWATCH_API_AUTH": auth.type,
            "MODELWATCH_API_JWT_ISSUER": auth.issuer,
            "MODELWATCH_API_JWT_PREDICT_SCOPES": ",".join(auth.predict_scopes),
            "MODELWATCH_API_JWT_FEEDBACK_SCOPES": ",".join(auth.feedback_scopes),
        }

    def _build_function(
        self,
        construct_id: str,
        *,
        spec: bundling.BundleSpec,
        memory_mb: int,
        timeout_s: int,
        description: str,
        environment: dict[str, str],
        reserved_concurrent_executions: int | None = None,
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
            reserved_concurrent_executions=reserved_concurrent_executions,
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

    def _grant_read(
        self, function: lambda_.Function, *, model_names: list[str] | None, artifacts: bool
    ) -> None:
        """Object reads of the models bucket: these models' prefixes, or every model's (None).

        A function that serves any model (None) may also list the manifests: the catalog and
        ``/health`` come from what the manifests hold, not from a configured list.
        """
        bucket_arn = self._models_bucket_arn()
        if model_names is None:
            prefixes = [f"{layout.MANIFESTS_PREFIX}/*"]
            if artifacts:
                prefixes.append(f"{layout.ARTIFACTS_PREFIX}/*")
        else:
            prefixes = [f"{layout.MANIFESTS_PREFIX}/{name}/*" for name in model_names]
            if artifacts:
                prefixes += [f"{layout.ARTIFACTS_PREFIX}/{name}/*" for name in model_names]
        resources = [f"{bucket_arn}/{prefix}" for prefix in prefixes]
        function.add_to_role_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=resources))
        if model_names is None:
            function.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["s3:ListBucket"],
                    resources=[bucket_arn],
                    conditions={"StringLike": {"s3:prefix": [f"{layout.MANIFESTS_PREFIX}/*"]}},
                )
            )
        whose = (
            "every model's prefixes (manifests/ and, for a flavour function, models/): any model may be "
            "published after deployment, and models are data, not infrastructure"
            if model_names is None
            else "this dedicated model's own prefixes (manifests/<model>/ and models/<model>/)"
        )
        acknowledge_wildcards(
            function,
            f"Object-level read of the models bucket limited to {whose}; versions are not known at "
            "deploy time. Nothing is writable.",
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
