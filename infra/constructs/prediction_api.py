"""The HTTP API: predict routes by flavour, the catalog behind ``$default``, one authoriser on all.

The one exception, by configuration only (``api_docs.public``): ``GET /docs`` and
``GET /openapi.json`` get routes of their own to the catalog function without authoriser,
so Swagger UI opens in a browser; predictions and feedback keep the authoriser.

``POST /v1/models/{model}/predict`` goes to the default flavour's function. A model of
another flavour is reached by a literal route ``POST /v1/models/<name>/predict`` to its
flavour's integration, which the model-routes function writes when the model's manifest
is published (HTTP APIs match the most specific route first, so the literal route wins);
the integrations those routes target are made here, one per non-default flavour. A
``dedicated`` model has its literal route in the stack.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jsii
from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw_v1
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra import constants
from infra.config import JwtAuth, ModelwatchConfig
from infra.constructs.log_retention import retention_days
from infra.nag import acknowledge


@jsii.implements(apigw.IAccessLogSettings)
class _AccessLogSettings:
    def __init__(self, log_group: logs.ILogGroup, fields: Sequence[str]) -> None:
        self._destination = apigw.LogGroupLogDestination(log_group)
        self._fields = {name: constants.API_ACCESS_LOG_FORMAT_FIELDS[name] for name in fields}

    @property
    def destination(self) -> apigw.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigw_v1.AccessLogFormat:
        return apigw_v1.AccessLogFormat.custom(_json_format(self._fields))


def _json_format(fields: Mapping[str, str]) -> str:
    # API Gateway substitutes $context variables; numbers and strings are both quoted for safety.
    return "{" + ",".join(f'"{key}":"{value}"' for key, value in fields.items()) + "}"


class PredictionApi(Construct):
    """API Gateway HTTP API with throttling and JSON access logs on its auto-deployed ``$default`` stage."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: ModelwatchConfig,
        flavor_functions: Mapping[str, lambda_.IFunction],
        dedicated_functions: Mapping[str, lambda_.IFunction],
        catalog_function: lambda_.IFunction,
    ) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        self.authorizer = self._build_authorizer()
        self.api = self._build_api(catalog_function)
        self.access_logs = self._build_access_log_group() if config.api_access_logs.enabled else None
        self.stage = self._build_stage()
        self._build_flavor_route(flavor_functions[config.default_flavor])
        self._build_dedicated_routes(dedicated_functions)
        self._build_feedback_route(catalog_function)
        if config.api_docs.public:
            self._build_public_docs_routes(catalog_function)
        self.flavor_integrations: dict[str, apigw.CfnIntegration] = {
            flavor: self._build_flavor_integration(flavor, function)
            for flavor, function in flavor_functions.items()
            if flavor != config.default_flavor
        }

    @property
    def url(self) -> str:
        """Base URL of the API (the ``$default`` stage), with a trailing slash."""
        return self.api.api_endpoint + "/"

    @property
    def flavor_integration_ids(self) -> dict[str, str]:
        """The integration id of each non-default flavour: what a route written at publish targets."""
        return {flavor: integration.ref for flavor, integration in self.flavor_integrations.items()}

    def predict_url(self, model: str) -> str:
        """URL of a model's predict route."""
        return self.api.api_endpoint + constants.predict_path(model)

    def _build_authorizer(self) -> apigw.IHttpRouteAuthorizer:
        auth = self._config.auth
        if isinstance(auth, JwtAuth):
            return authorizers.HttpJwtAuthorizer(
                "JwtAuthorizer", jwt_issuer=auth.issuer, jwt_audience=list(auth.audience)
            )
        return authorizers.HttpIamAuthorizer()

    def _build_api(self, catalog_function: lambda_.IFunction) -> apigw.HttpApi:
        return apigw.HttpApi(
            self,
            "HttpApi",
            api_name=f"{self._config.project}-api",
            description="modelwatch prediction API",
            create_default_stage=False,
            default_authorizer=self.authorizer,
            default_integration=integrations.HttpLambdaIntegration("Catalog", catalog_function),
        )

    def _build_access_log_group(self) -> logs.LogGroup:
        return logs.LogGroup(
            self,
            "AccessLogs",
            retention=retention_days(self._config.log_retention_days),
            removal_policy=RemovalPolicy.DESTROY,
        )

    def _build_stage(self) -> apigw.HttpStage:
        throttle = self._config.throttle
        stage = apigw.HttpStage(
            self,
            "DefaultStage",
            http_api=self.api,
            stage_name="$default",
            auto_deploy=True,
            throttle=apigw.ThrottleSettings(rate_limit=throttle.rate_limit, burst_limit=throttle.burst_limit),
            access_log_settings=(
                _AccessLogSettings(self.access_logs, self._config.api_access_logs.fields)
                if self.access_logs is not None
                else None
            ),
        )
        if self.access_logs is None:
            acknowledge(
                stage,
                "AwsSolutions-APIG1",
                "Access logs are off by configuration (api_access_logs.enabled: false; docs/cost.md): "
                "the function logs keep errors and the captured events keep every request.",
            )
        return stage

    def _scopes(self, route: str) -> list[str] | None:
        """The JWT scopes a route needs (None: any valid token, or IAM, where policies name routes)."""
        auth = self._config.auth
        if isinstance(auth, JwtAuth):
            scopes = auth.predict_scopes if route == "predict" else auth.feedback_scopes
            return list(scopes) or None
        return None

    def _build_flavor_route(self, function: lambda_.IFunction) -> None:
        self.api.add_routes(
            path=constants.FLEET_PREDICT_ROUTE_PATH,
            methods=[apigw.HttpMethod.POST],
            integration=integrations.HttpLambdaIntegration("PredictDefaultFlavor", function),
            authorization_scopes=self._scopes("predict"),
        )

    def _build_dedicated_routes(self, dedicated_functions: Mapping[str, lambda_.IFunction]) -> None:
        for name, function in dedicated_functions.items():
            self.api.add_routes(
                path=constants.predict_path(name),
                methods=[apigw.HttpMethod.POST],
                integration=integrations.HttpLambdaIntegration(f"Predict-{name}", function),
                authorization_scopes=self._scopes("predict"),
            )

    def _build_flavor_integration(self, flavor: str, function: lambda_.IFunction) -> apigw.CfnIntegration:
        """A Lambda proxy integration no stack route uses: the model-routes function points routes at it."""
        integration = apigw.CfnIntegration(
            self,
            f"Flavor-{flavor}-Integration",
            api_id=self.api.api_id,
            integration_type="AWS_PROXY",
            integration_uri=function.function_arn,
            payload_format_version="2.0",
            description=f"{flavor} serving function, for the predict routes written at publish",
        )
        # One permission for every route written later: any model's predict path, nothing else.
        function.add_permission(
            f"ApiInvoke-{flavor}",
            principal=iam.ServicePrincipal("apigateway.amazonaws.com"),
            source_arn=Stack.of(self).format_arn(
                service="execute-api",
                resource=self.api.api_id,
                resource_name=f"*/*{constants.predict_path('*')}",
            ),
        )
        return integration

    def _build_feedback_route(self, catalog_function: lambda_.IFunction) -> None:
        # A route of its own (not $default), so it can need its own scopes or IAM grant.
        self.api.add_routes(
            path=constants.FEEDBACK_ROUTE_PATH,
            methods=[apigw.HttpMethod.POST],
            integration=integrations.HttpLambdaIntegration("Feedback", catalog_function),
            authorization_scopes=self._scopes("feedback"),
        )

    def _build_public_docs_routes(self, catalog_function: lambda_.IFunction) -> None:
        integration = integrations.HttpLambdaIntegration("Docs", catalog_function)
        for path in constants.API_DOCS_PATHS:
            for route in self.api.add_routes(
                path=path,
                methods=[apigw.HttpMethod.GET],
                integration=integration,
                authorizer=apigw.HttpNoneAuthorizer(),
            ):
                acknowledge(
                    route,
                    "AwsSolutions-APIG4",
                    f"GET {path} is public by configuration (api_docs.public: true): Swagger UI and the "
                    "OpenAPI document describe the API and serve no data; every other route keeps the "
                    "API's authoriser.",
                )
