"""AWS FIS templates with the Lambda fault actions, on the predict and the job functions.

``aws:lambda:invocation-add-delay`` and ``aws:lambda:invocation-error`` work through AWS FIS's
managed Lambda extension: a layer on each target function, which reads the fault FIS writes to
an S3 configuration bucket. The bucket is built here; :func:`attach_fis_extension` puts the layer
and its two environment variables on a function (done by the chaos stack when the configuration
names the layer's ARN). The bucket's name is derived from the project, account and region, so the
functions' stacks refer to it without a reference to this stack (which refers to them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Aws, Fn, RemovalPolicy
from aws_cdk import aws_fis as fis
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra import constants
from infra.config import ModelwatchConfig
from infra.nag import acknowledge_wildcards, nag_resource


def fis_config_bucket_name(project: str) -> str:
    """``<project>-fis-<account>-<region>``: the FIS Lambda extension's configuration bucket."""
    return Fn.join("-", [project, "fis", Aws.ACCOUNT_ID, Aws.REGION])


def fis_config_location(project: str) -> str:
    """The ``AWS_FIS_CONFIGURATION_LOCATION`` of the functions (an S3 ARN ending with ``/``)."""
    return Fn.join(
        "",
        ["arn:", Aws.PARTITION, ":s3:::", fis_config_bucket_name(project), "/", constants.FIS_CONFIG_PREFIX],
    )


def attach_fis_extension(function: lambda_.Function, *, project: str, layer_arn: str) -> None:
    """Give ``function`` the AWS FIS Lambda extension: its layer, wrapper and configuration location."""
    function.add_layers(lambda_.LayerVersion.from_layer_version_arn(function, "FisExtension", layer_arn))
    function.add_environment("AWS_LAMBDA_EXEC_WRAPPER", constants.FIS_EXTENSION_EXEC_WRAPPER)
    function.add_environment("AWS_FIS_CONFIGURATION_LOCATION", fis_config_location(project))
    bucket_arn = Fn.join("", ["arn:", Aws.PARTITION, ":s3:::", fis_config_bucket_name(project)])
    objects = Fn.join("", [bucket_arn, "/", constants.FIS_CONFIG_PREFIX, "*"])
    function.add_to_role_policy(iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket_arn]))
    function.add_to_role_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=[objects]))
    acknowledge_wildcards(
        function,
        "The AWS FIS Lambda extension reads the fault configurations FIS writes under its prefix of "
        "the chaos stack's configuration bucket; their names are FIS's.",
        resources=(nag_resource(function, objects),),
    )


class ChaosLambdaFaults(Construct):
    """The configuration bucket, FIS's role, and four templates: delay and errors, predict and jobs."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: ModelwatchConfig,
        predict_functions: Mapping[str, lambda_.IFunction],
        job_functions: Mapping[str, lambda_.IFunction],
        stop_alarm_arns: Sequence[str],
        access_logs_bucket: s3.IBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        self._stop_alarm_arns = list(stop_alarm_arns)
        self._access_logs_bucket = access_logs_bucket
        self._functions = [*predict_functions.values(), *job_functions.values()]
        self.config_bucket = self._build_config_bucket()
        self.role = self._build_role()
        chaos = config.chaos
        duration = f"PT{chaos.duration_minutes}M"
        delay = {
            "duration": duration,
            "startupDelayMilliseconds": str(chaos.delay_ms),
            "invocationPercentage": str(chaos.delay_percentage),
        }
        errors = {
            "duration": duration,
            "invocationPercentage": str(chaos.error_percentage),
            "preventExecution": "true",
        }
        predict = list(predict_functions.values())
        jobs = list(job_functions.values())
        self.templates: dict[str, fis.CfnExperimentTemplate] = {
            "predict-delay": self._build_template(
                "PredictDelay",
                "aws:lambda:invocation-add-delay",
                delay,
                predict,
                f"Predict functions slowed by {chaos.delay_ms} ms on {chaos.delay_percentage}% of "
                "invocations: every request is still answered and captured (p99 under the stop alarm, "
                "no record kept in logs only).",
            ),
            "predict-errors": self._build_template(
                "PredictErrors",
                "aws:lambda:invocation-error",
                errors,
                predict,
                f"{chaos.error_percentage}% of predict invocations fail before the handler: callers get 5xx "
                "for those only (under the stop alarm's share), the others are answered and captured.",
            ),
            "jobs-delay": self._build_template(
                "JobsDelay",
                "aws:lambda:invocation-add-delay",
                delay,
                jobs,
                f"Drift, quality and performance jobs slowed by {chaos.delay_ms} ms: their windows are still "
                "computed; serving is untouched.",
            ),
            "jobs-errors": self._build_template(
                "JobsErrors",
                "aws:lambda:invocation-error",
                errors,
                jobs,
                f"{chaos.error_percentage}% of job invocations fail: retried, then dead-lettered; the next "
                "run computes the window; serving is untouched.",
            ),
        }

    def _build_config_bucket(self) -> s3.Bucket:
        return s3.Bucket(
            self,
            "FisConfig",
            bucket_name=fis_config_bucket_name(self._config.project),
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            server_access_logs_bucket=self._access_logs_bucket,
            server_access_logs_prefix="fis-config/",
            removal_policy=RemovalPolicy.DESTROY,
            auto_delete_objects=False,
        )

    def _build_role(self) -> iam.Role:
        role = iam.Role(
            self,
            "FisRole",
            assumed_by=iam.ServicePrincipal(
                "fis.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}
            ),
            description="AWS FIS: the Lambda fault actions on modelwatch's predict and job functions",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["lambda:GetFunction"], resources=[f.function_arn for f in self._functions]
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(actions=["s3:ListBucket"], resources=[self.config_bucket.bucket_arn])
        )
        objects = self.config_bucket.arn_for_objects(f"{constants.FIS_CONFIG_PREFIX}*")
        role.add_to_policy(
            iam.PolicyStatement(actions=["s3:PutObject", "s3:DeleteObject"], resources=[objects])
        )
        role.add_to_policy(iam.PolicyStatement(actions=["tag:GetResources"], resources=["*"]))
        acknowledge_wildcards(
            role,
            "FIS writes and removes its fault configurations under one prefix of its own bucket (names "
            "are FIS's), and resolves targets with tag:GetResources, which takes no resource.",
            actions=(),
            resources=(nag_resource(self, objects), "*"),
        )
        return role

    def _build_template(
        self,
        construct_id: str,
        action_id: str,
        parameters: dict[str, str],
        functions: Sequence[lambda_.IFunction],
        description: str,
    ) -> fis.CfnExperimentTemplate:
        return fis.CfnExperimentTemplate(
            self,
            construct_id,
            description=description,
            role_arn=self.role.role_arn,
            stop_conditions=[
                fis.CfnExperimentTemplate.ExperimentTemplateStopConditionProperty(
                    source="aws:cloudwatch:alarm", value=arn
                )
                for arn in self._stop_alarm_arns
            ],
            targets={
                "Functions": fis.CfnExperimentTemplate.ExperimentTemplateTargetProperty(
                    resource_type="aws:lambda:function",
                    resource_arns=[f.function_arn for f in functions],
                    selection_mode="ALL",
                )
            },
            actions={
                "Fault": fis.CfnExperimentTemplate.ExperimentTemplateActionProperty(
                    action_id=action_id,
                    parameters=parameters,
                    targets={"Functions": "Functions"},
                )
            },
            tags={"Name": f"{self._config.project}-{construct_id}"},
        )
