"""The model-routes function: writes a literal predict route when a model's manifest is published.

One EventBridge rule (Object Created / Object Deleted under the models bucket's ``manifests/``)
starts it for one model; one hourly schedule reconciles every route (a lost or failed event).
It may only read the manifests and list, create, update and delete the routes of the prediction API.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from aws_cdk import Duration, Stack
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra import bundling, constants
from infra.config import ModelwatchConfig
from infra.constructs.python_function import build_python_function
from infra.nag import acknowledge_wildcards, nag_resource
from modelwatch.contracts import layout


class ModelRoutes(Construct):
    """The function, its rule on manifests and its hourly reconcile."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: ModelwatchConfig,
        layer: lambda_.ILayerVersion,
        api: apigw.HttpApi,
        flavor_integration_ids: Mapping[str, str],
        models_bucket: s3.IBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        self._api = api
        self._models_bucket = models_bucket
        self.function = self._build_function(layer, flavor_integration_ids)
        self._grant_routes()
        self._grant_manifests()
        self._build_rules()

    def _build_function(
        self, layer: lambda_.ILayerVersion, flavor_integration_ids: Mapping[str, str]
    ) -> lambda_.Function:
        config = self._config
        return build_python_function(
            self,
            "Function",
            config=config,
            spec=bundling.function_spec(
                constants.MODEL_ROUTES_FUNCTION_NAME,
                config.architecture,
                source_dir=constants.MODEL_ROUTES_FUNCTION_DIR,
            ),
            code_dir=constants.MODEL_ROUTES_FUNCTION_DIR,
            layer=layer,
            memory_mb=constants.MODEL_ROUTES_MEMORY_MB,
            timeout_s=constants.MODEL_ROUTES_TIMEOUT_S,
            description="modelwatch model routes: a predict route per model of a non-default flavour",
            environment={
                "MODELWATCH_API_ID": self._api.api_id,
                "MODELWATCH_MODELS_BUCKET": self._models_bucket.bucket_name,
                "MODELWATCH_MANIFEST_PREFIX": layout.MANIFESTS_PREFIX,
                "MODELWATCH_SERVING_ALIAS": config.serving_alias,
                "MODELWATCH_DEFAULT_FLAVOR": config.default_flavor,
                "MODELWATCH_FLAVOR_INTEGRATIONS": Stack.of(self).to_json_string(dict(flavor_integration_ids))
                if flavor_integration_ids
                else json.dumps({}),
                "MODELWATCH_DEDICATED_MODELS": ",".join(model.name for model in config.dedicated_models),
            },
            # One writer at a time: two events for one model never race on its route.
            reserved_concurrent_executions=1,
        )

    def _grant_routes(self) -> None:
        stack = Stack.of(self)
        routes = stack.format_arn(
            service="apigateway", account="", resource="", resource_name=f"apis/{self._api.api_id}/routes"
        )
        # API Gateway's ARNs have no account and a path for a resource: arn:...:apigateway:<region>::/apis/...
        resources = [routes, f"{routes}/*"]
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["apigateway:GET", "apigateway:POST", "apigateway:PATCH", "apigateway:DELETE"],
                resources=resources,
            )
        )
        acknowledge_wildcards(
            self.function,
            "Route-level access to this API's routes only (apis/<id>/routes/<route id>): the routes of "
            "models published after deployment have ids unknown at deploy time.",
            resources=tuple(nag_resource(self, resource) for resource in resources[1:]),
        )

    def _grant_manifests(self) -> None:
        bucket = self._models_bucket
        producer = Stack.of(bucket)
        arn = bucket.bucket_arn if producer is Stack.of(self) else producer.export_value(bucket.bucket_arn)
        manifests = f"{arn}/{layout.MANIFESTS_PREFIX}/*"
        self.function.add_to_role_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=[manifests]))
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[arn],
                conditions={"StringLike": {"s3:prefix": [f"{layout.MANIFESTS_PREFIX}/*"]}},
            )
        )
        acknowledge_wildcards(
            self.function,
            "Reads the serving manifests (manifests/<model>/<alias>.json) of any model: models are "
            "published after deployment. Nothing of the bucket is writable.",
            resources=(nag_resource(self, manifests),),
        )

    def _build_rules(self) -> None:
        target = targets.LambdaFunction(
            self.function,
            retry_attempts=constants.MODEL_ROUTES_RETRY_ATTEMPTS,
            max_event_age=Duration.hours(1),
        )
        events.Rule(
            self,
            "ManifestChanged",
            description="Write the predict route of a model whose serving manifest was published or deleted",
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=["Object Created", "Object Deleted"],
                detail={
                    "bucket": {"name": [self._models_bucket.bucket_name]},
                    "object": {"key": [{"prefix": layout.manifests_prefix()}]},
                },
            ),
            targets=[target],
        )
        events.Rule(
            self,
            "Reconcile",
            description="Reconcile every model's predict route with the serving manifests",
            schedule=events.Schedule.rate(Duration.hours(constants.MODEL_ROUTES_RECONCILE_HOURS)),
            targets=[targets.LambdaFunction(self.function, retry_attempts=0)],
        )
