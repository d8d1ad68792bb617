"""MLflow's backend store: PostgreSQL on RDS in isolated subnets, encrypted, credentials rotated.

The generated credentials live in Secrets Manager and are rotated every 30 days
(single-user rotation, its Lambda in the isolated subnets, reaching Secrets Manager through
the VPC's interface endpoint: there is no NAT gateway). MLflow tasks read them at
start: after a rotation, restart the service (``aws ecs update-service --force-new-deployment``),
as docs/registry.md says.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_rds as rds
from constructs import Construct

from infra import constants
from infra.config import ModelwatchConfig
from infra.constructs.mlflow_network import MlflowNetwork
from infra.nag import acknowledge


class MlflowDatabase(Construct):
    """The PostgreSQL instance, its secret and its rotation."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: ModelwatchConfig, network: MlflowNetwork
    ) -> None:
        super().__init__(scope, construct_id)
        registry = config.registry
        self.instance = rds.DatabaseInstance(
            self,
            "Postgres",
            engine=rds.DatabaseInstanceEngine.postgres(version=rds.PostgresEngineVersion.VER_16),
            instance_type=ec2.InstanceType(registry.db_instance_type),
            vpc=network.vpc,
            vpc_subnets=network.isolated_subnets,
            port=constants.MLFLOW_DATABASE_PORT,
            database_name=constants.MLFLOW_DATABASE_NAME,
            credentials=rds.Credentials.from_generated_secret(constants.MLFLOW_DATABASE_USER),
            storage_encrypted=True,
            allocated_storage=registry.db_storage_gb,
            storage_type=rds.StorageType.GP3,  # gp2's price with a 3,000 IOPS baseline (gp2: 100 at 20 GB)
            max_allocated_storage=registry.db_storage_gb * 5,
            multi_az=registry.db_multi_az,
            backup_retention=Duration.days(constants.MLFLOW_DB_BACKUP_DAYS),
            deletion_protection=True,
            removal_policy=RemovalPolicy.SNAPSHOT,
            cloudwatch_logs_exports=["postgresql"],
            auto_minor_version_upgrade=True,
            publicly_accessible=False,
        )
        assert self.instance.secret is not None
        self.secret = self.instance.secret
        self.instance.add_rotation_single_user(
            automatically_after=Duration.days(constants.MLFLOW_SECRET_ROTATION_DAYS),
            vpc_subnets=network.isolated_subnets,
            endpoint=network.secrets_endpoint,
        )
        if not registry.db_multi_az:
            acknowledge(
                self.instance,
                "AwsSolutions-RDS3",
                "Single-AZ by default to halve the database cost of a registry; set "
                "registry.db_multi_az in cdk.json for a standby in a second AZ.",
            )
        acknowledge(
            self.instance,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AWSLambdaBasicExecutionRole]",
            "The rotation function (AWS's serverless application) writes only its own logs.",
        )
        acknowledge(
            self.instance,
            "AwsSolutions-RDS6",
            "MLflow connects with a password (SQLAlchemy URL); the password is generated, kept in "
            "Secrets Manager and rotated. IAM database authentication would need a token refresher "
            "inside MLflow.",
        )
