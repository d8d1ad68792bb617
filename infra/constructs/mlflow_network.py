"""The registry's VPC without a NAT gateway: public subnets for the MLflow tasks, isolated ones for the rest.

The MLflow tasks run in the public subnets with a public IPv4 address each and a security
group that admits only MLflow's port from inside the VPC (from the load balancer when there is
one): that is how they reach ECR, CloudWatch Logs and Secrets Manager, for $3.65 a month a task,
where interface endpoints for those four services would cost $7.30 a month each per AZ
(docs/cost.md). The database, the registry-sync function, the secret-rotation function and an
internal load balancer (when a certificate is configured) sit in the isolated subnets. The two
functions call one AWS API beyond S3, Secrets Manager, so the VPC has one Secrets Manager interface
endpoint, in one AZ (the functions in the other AZ cross over; if that AZ fails, the sync and the
rotation wait for it). S3 is reached through a free gateway endpoint. Flow logs go to CloudWatch
Logs.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra import constants
from infra.config import ModelwatchConfig
from infra.constructs.log_retention import retention_days


class MlflowNetwork(Construct):
    """The VPC of the registry, with flow logs, an S3 gateway endpoint and a Secrets Manager endpoint."""

    def __init__(self, scope: Construct, construct_id: str, *, config: ModelwatchConfig) -> None:
        super().__init__(scope, construct_id)
        flow_logs = logs.LogGroup(
            self,
            "FlowLogs",
            retention=retention_days(config.log_retention_days),
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(constants.MLFLOW_VPC_CIDR),
            max_azs=2,
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="public",
                    subnet_type=ec2.SubnetType.PUBLIC,
                    cidr_mask=24,
                    map_public_ip_on_launch=False,
                ),
                # The address space of the private subnets the NAT gateway served, kept reserved so
                # the isolated subnets (and the database in them) keep their CIDRs on an update.
                ec2.SubnetConfiguration(
                    name="private",
                    subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS,
                    cidr_mask=22,
                    reserved=True,
                ),
                ec2.SubnetConfiguration(
                    name="isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24
                ),
            ],
            flow_logs={
                "all": ec2.FlowLogOptions(
                    destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs),
                    traffic_type=ec2.FlowLogTrafficType.ALL,
                )
            },
        )
        self.vpc.add_gateway_endpoint("S3", service=ec2.GatewayVpcEndpointAwsService.S3)
        self.public_subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC)
        self.isolated_subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        self.secrets_endpoint = self.vpc.add_interface_endpoint(
            "SecretsManager",
            service=ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
            subnets=ec2.SubnetSelection(subnets=[self.vpc.isolated_subnets[0]]),
            private_dns_enabled=True,
            open=False,
        )
        self.secrets_endpoint.connections.allow_from(
            ec2.Peer.ipv4(constants.MLFLOW_VPC_CIDR), ec2.Port.tcp(443), "Secrets Manager API from the VPC"
        )
