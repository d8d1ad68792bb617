"""The registry-sync function: every minute (and on demand) it reconciles MLflow aliases with manifests.

It runs in the VPC's isolated subnets (it reaches MLflow by its private name), talks
to MLflow's REST API as its own basic-auth user (not the admin: read models, versions and
their artifacts, set their tags; credentials from Secrets Manager), and may write
only the models bucket's ``manifests/`` and ``models/`` prefixes. Model files are read
through MLflow's ``model-versions/get-artifact`` route, so it needs no access to the
artifact bucket. Beyond MLflow it calls two AWS APIs, with no NAT gateway: S3 (the
models bucket) through the VPC's gateway endpoint and Secrets Manager (its credentials, read
at a cold start and again when MLflow refuses them) through the VPC's interface endpoint. Its
bundle holds no MLflow (sizes are printed at synth).
"""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra import bundling, constants
from infra.config import ModelwatchConfig
from infra.constructs.mlflow_network import MlflowNetwork
from infra.constructs.python_function import build_python_function
from infra.nag import acknowledge, acknowledge_wildcards, nag_resource
from modelwatch.contracts import layout


def sync_bundle_spec(architecture: str) -> bundling.BundleSpec:
    """The sync function's bundle: its handler, with the modelwatch layer (no extra requirements)."""
    return bundling.function_spec(
        "registry_sync", architecture, source_dir=constants.REGISTRY_SYNC_FUNCTION_DIR
    )


class MlflowSync(Construct):
    """The sync function, its security group and its one-minute schedule."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: ModelwatchConfig,
        network: MlflowNetwork,
        layer: lambda_.ILayerVersion,
        models_bucket: s3.IBucket,
        tracking_uri: str,
        credentials: secretsmanager.ISecret,
    ) -> None:
        super().__init__(scope, construct_id)
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=network.vpc,
            description="registry-sync function",
            allow_all_outbound=True,
        )
        self.function = build_python_function(
            self,
            "Function",
            config=config,
            spec=sync_bundle_spec(config.architecture),
            code_dir=constants.REGISTRY_SYNC_FUNCTION_DIR,
            layer=layer,
            memory_mb=constants.REGISTRY_SYNC_MEMORY_MB,
            timeout_s=constants.REGISTRY_SYNC_TIMEOUT_S,
            description="modelwatch registry sync: MLflow aliases -> serving manifests",
            environment={
                "MODELWATCH_MLFLOW_TRACKING_URI": tracking_uri,
                "MODELWATCH_MODELS_BUCKET": models_bucket.bucket_name,
                "MODELWATCH_MANIFEST_PREFIX": layout.MANIFESTS_PREFIX,
                "MODELWATCH_SERVED_ALIASES": ",".join(config.registry.served_aliases),
                "MODELWATCH_MLFLOW_CREDENTIALS_SECRET": credentials.secret_arn,
            },
            reserved_concurrent_executions=1,
            vpc=network.vpc,
            vpc_subnets=network.isolated_subnets,
            security_groups=[self.security_group],
        )
        credentials.grant_read(self.function)
        self._grant_models_bucket(models_bucket)
        events.Rule(
            self,
            "Schedule",
            description="Reconcile MLflow aliases with serving manifests every minute",
            schedule=events.Schedule.rate(Duration.minutes(constants.REGISTRY_SYNC_SCHEDULE_MINUTES)),
            targets=[targets.LambdaFunction(self.function, retry_attempts=0)],
        )
        self._acknowledge()

    def _grant_models_bucket(self, models_bucket: s3.IBucket) -> None:
        # Imported explicitly when the bucket lives in another stack, so the acknowledgment below
        # can name the resource as the template renders it.
        producer = Stack.of(models_bucket)
        arn = (
            models_bucket.bucket_arn
            if producer is Stack.of(self)
            else producer.export_value(models_bucket.bucket_arn)
        )
        prefixes = [f"{arn}/{layout.MANIFESTS_PREFIX}/*", f"{arn}/{layout.ARTIFACTS_PREFIX}/*"]
        self.function.add_to_role_policy(
            iam.PolicyStatement(actions=["s3:GetObject", "s3:PutObject"], resources=prefixes)
        )
        self.function.add_to_role_policy(iam.PolicyStatement(actions=["s3:ListBucket"], resources=[arn]))
        acknowledge_wildcards(
            self.function,
            "The sync writes manifests/<model>/<alias>.json and models/<model>/<version>/...: "
            "model names are registered at run time.",
            resources=tuple(nag_resource(self, r) for r in prefixes),
        )

    def _acknowledge(self) -> None:
        # Beyond what every function carries (build_python_function): the VPC access policy.
        acknowledge(
            self.function,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AWSLambdaVPCAccessExecutionRole]",
            "AWS's managed policy for a VPC function: it manages its own network interfaces.",
        )
