"""Serving: the layer, the predict and catalog functions, and the HTTP API in front of them."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.config import ModelwatchConfig
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
            model_functions=functions.model_functions,
            catalog_function=functions.catalog_function,
        )
        self.functions = functions
        self.api = api

        CfnOutput(self, "ApiUrl", value=api.url)
        for model in config.models:
            CfnOutput(
                self,
                f"PredictUrl{model.id_suffix}",
                value=api.predict_url(model.name),
                description=f"POST endpoint of model {model.name}",
            )
