"""The model registry: VPC, MLflow on ECS Fargate with PostgreSQL and S3, and the registry-sync function."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.config import ModelwatchConfig
from infra.constructs.mlflow_database import MlflowDatabase
from infra.constructs.mlflow_network import MlflowNetwork
from infra.constructs.mlflow_server import MlflowServer
from infra.constructs.mlflow_sync import MlflowSync


class RegistryStack(Stack):
    """MLflow (tracking + registry) inside a VPC; promotions reach serving through manifests."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: ModelwatchConfig,
        models_bucket: s3.IBucket,
        access_logs_bucket: s3.IBucket,
        layer: lambda_.ILayerVersion,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        network = MlflowNetwork(self, "Network", config=config)
        database = MlflowDatabase(self, "Database", config=config, network=network)
        server = MlflowServer(
            self,
            "Mlflow",
            config=config,
            network=network,
            database=database,
            access_logs_bucket=access_logs_bucket,
        )
        sync = MlflowSync(
            self,
            "Sync",
            config=config,
            network=network,
            layer=layer,
            models_bucket=models_bucket,
            tracking_uri=server.tracking_uri,
            credentials=server.sync_secret,
        )
        self.network = network
        self.database = database
        self.server = server
        self.sync = sync

        CfnOutput(
            self,
            "TrackingUri",
            value=server.tracking_uri,
            description="MLflow tracking URI: https://<registry.domain_name> with a certificate (internal "
            "load balancer), else the tasks' Cloud Map name over plain HTTP; reachable from inside the VPC, "
            "e.g. through an SSM port forward or a VPN (docs/registry.md)",
        )
        CfnOutput(
            self,
            "MlflowAdminSecretArn",
            value=server.admin_secret.secret_arn,
            description="Secret with the MLflow admin user name and password (basic auth)",
        )
        CfnOutput(
            self,
            "MlflowSyncSecretArn",
            value=server.sync_secret.secret_arn,
            description="Secret with the registry sync's MLflow user (least privilege, docs/registry.md)",
        )
        CfnOutput(self, "ArtifactBucketName", value=server.artifact_bucket.bucket_name)
        CfnOutput(
            self,
            "RegistrySyncFunctionName",
            value=sync.function.function_name,
            description="Invoke on demand: aws lambda invoke --function-name <name> /dev/stdout",
        )
        CfnOutput(self, "VpcId", value=network.vpc.vpc_id)
