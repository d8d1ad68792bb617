"""Serving: the layer, the flavour, dedicated and catalog functions, the HTTP API, the model routes.

Nothing here grows with the number of published models: one function per flavour, the
catalog, the model-routes function; only ``dedicated`` models add a function, a route and
an output each.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.config import ModelwatchConfig
from infra.constructs.model_routes import ModelRoutes
from infra.constructs.predict_functions import PredictFunctions
from infra.constructs.prediction_api import PredictionApi


class ServingStack(Stack):
    """Predictions over HTTPS, reading manifests and artifacts from S3 and capturing to Firehose."""

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
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        functions = PredictFunctions(
            self,
            "Functions",
            config=config,
            models_bucket=models_bucket,
            events_stream=events_stream,
            rejected_stream=rejected_stream,
            labels_stream=labels_stream,
            capture_dlq=capture_dlq,
        )
        api = PredictionApi(
            self,
            "Api",
            config=config,
            flavor_functions=functions.flavor_functions,
            dedicated_functions=functions.dedicated_functions,
            catalog_function=functions.catalog_function,
        )
        routes = ModelRoutes(
            self,
            "ModelRoutes",
            config=config,
            layer=functions.layer,
            api=api.api,
            flavor_integration_ids=api.flavor_integration_ids,
            models_bucket=models_bucket,
        )
        self.functions = functions
        self.api = api
        self.model_routes = routes

        CfnOutput(self, "ApiUrl", value=api.url)
        CfnOutput(
            self,
            "PredictUrlTemplate",
            value=api.predict_url("{model}"),
            description="POST endpoint of every model ({model}: the model's name)",
        )
        CfnOutput(
            self,
            "ModelRoutesFunctionName",
            value=routes.function.function_name,
            description="Invoke with {} to reconcile every model's predict route with the manifests",
        )
        for model in config.dedicated_models:
            CfnOutput(
                self,
                f"PredictUrl{model.id_suffix}",
                value=api.predict_url(model.name),
                description=f"POST endpoint of dedicated model {model.name}",
            )
