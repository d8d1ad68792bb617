"""Chaos (optional, off by default): AWS FIS experiment templates, the platform's alarms as stop conditions.

The hypotheses of ``make chaos`` (docs/reliability.md), as templates to start in AWS: Lambda
faults on the predict and job functions (FIS's Lambda extension), and Firehose or S3 refusing
the predict functions (an IAM deny applied and rolled back by SSM Automation). Every template
stops on the same three alarms: server errors, p99 latency, capture kept in logs only.
Nothing here starts an experiment; a deploy only creates the templates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.config import ModelwatchConfig
from infra.constructs.chaos_alarms import ChaosAlarms
from infra.constructs.chaos_iam_deny import ChaosIamDenyFaults
from infra.constructs.chaos_lambda_faults import ChaosLambdaFaults, attach_fis_extension


class ChaosStack(Stack):
    """Stop alarms, the FIS Lambda-fault templates and the IAM-deny templates."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: ModelwatchConfig,
        api: apigw.IHttpApi,
        predict_functions: Mapping[str, lambda_.Function],
        job_functions: Mapping[str, lambda_.Function],
        capture_streams: Sequence[firehose.IDeliveryStream],
        models_bucket: s3.IBucket,
        access_logs_bucket: s3.IBucket,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.alarms = ChaosAlarms(self, "Alarms", config=config, api=api)
        stops = self.alarms.arns
        layer_arn = config.chaos.lambda_extension_layer_arn
        if layer_arn:
            for function in [*predict_functions.values(), *job_functions.values()]:
                attach_fis_extension(function, project=config.project, layer_arn=layer_arn)
        self.lambda_faults = ChaosLambdaFaults(
            self,
            "LambdaFaults",
            config=config,
            predict_functions=predict_functions,
            job_functions=job_functions,
            stop_alarm_arns=stops,
            access_logs_bucket=access_logs_bucket,
        )
        self.iam_faults = ChaosIamDenyFaults(
            self,
            "IamDeny",
            config=config,
            roles=[f.role for f in predict_functions.values() if f.role is not None],
            capture_streams=capture_streams,
            models_bucket=models_bucket,
            stop_alarm_arns=stops,
        )
        self.templates = {**self.lambda_faults.templates, **self.iam_faults.templates}
        for name, template in self.templates.items():
            CfnOutput(
                self,
                "Template" + "".join(part.title() for part in name.split("-")),
                value=template.attr_id,
                description=f"FIS experiment template {name} (aws fis start-experiment)",
            )
