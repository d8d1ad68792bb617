"""The Amazon Managed Grafana workspace and the custom resource that provisions its dashboards."""

from __future__ import annotations

import hashlib
from pathlib import Path

from aws_cdk import CustomResource, Stack
from aws_cdk import aws_grafana as grafana
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr
from constructs import Construct

from infra import constants
from infra.config import ModelwatchConfig
from infra.constructs.amp_functions import ObservabilityFunctions
from infra.constructs.log_retention import retention_days
from infra.nag import acknowledge, nag_resource


def dashboards_hash(directory: Path) -> str:
    """Return a hash of the dashboard files (names and bytes): a changed dashboard changes it."""
    digest = hashlib.sha256()
    for path in sorted(directory.glob("*.json")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


class GrafanaWorkspace(Construct):
    """A Grafana workspace with AMP and CloudWatch data sources, its dashboards provisioned as code.

    The workspace's role (customer managed) may query the AMP workspace and read CloudWatch. The
    provisioning custom resource re-runs whenever a dashboard file changes (their hash is one of
    its properties).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: ModelwatchConfig,
        functions: ObservabilityFunctions,
        amp_workspace_arn: str,
        amp_query_endpoint: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        self.role = self._build_role(amp_workspace_arn)
        self.workspace = self._build_workspace()
        self.provisioning = self._build_provisioning(functions, amp_query_endpoint)

    def _build_role(self, amp_workspace_arn: str) -> iam.Role:
        stack = Stack.of(self)
        workspaces = f"arn:{stack.partition}:grafana:{stack.region}:{stack.account}:/workspaces/*"
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal(
                "grafana.amazonaws.com",
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {"aws:SourceArn": workspaces},
                },
            ),
            description="Amazon Managed Grafana: query the modelwatch AMP workspace and read CloudWatch",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["aps:QueryMetrics", "aps:GetSeries", "aps:GetLabels", "aps:GetMetricMetadata"],
                resources=[amp_workspace_arn],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(actions=["aps:ListWorkspaces", "aps:DescribeWorkspace"], resources=["*"])
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "cloudwatch:DescribeAlarmsForMetric", "cloudwatch:DescribeAlarmHistory",
                    "cloudwatch:DescribeAlarms", "cloudwatch:ListMetrics", "cloudwatch:GetMetricData",
                    "cloudwatch:GetInsightRuleReport", "logs:DescribeLogGroups", "logs:GetLogGroupFields",
                    "logs:StartQuery", "logs:StopQuery", "logs:GetQueryResults", "logs:GetLogEvents",
                    "tag:GetResources", "ec2:DescribeRegions",
                ],
                resources=["*"],
            )
        )  # fmt: skip
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "Grafana's CloudWatch data source lists and reads metrics and log groups across the account; "
            "these read-only actions do not support resource-level permissions (same as AWS's managed "
            "AmazonGrafanaCloudWatchAccess policy). AMP querying is limited to the modelwatch workspace.",
        )
        return role

    def _build_workspace(self) -> grafana.CfnWorkspace:
        project = self._config.project
        return grafana.CfnWorkspace(
            self,
            "Workspace",
            name=f"{project}-dashboards",
            description="modelwatch dashboards (provisioned by CloudFormation)",
            account_access_type="CURRENT_ACCOUNT",
            authentication_providers=[self._config.observability.grafana.authentication],
            permission_type="CUSTOMER_MANAGED",
            role_arn=self.role.role_arn,
            data_sources=["PROMETHEUS", "CLOUDWATCH"],
            grafana_version=constants.GRAFANA_VERSION,
            plugin_admin_enabled=False,
        )

    def _build_provisioning(
        self, functions: ObservabilityFunctions, amp_query_endpoint: str
    ) -> CustomResource:
        stack = Stack.of(self)
        function = functions.function(
            self,
            "Provisioner",
            source=constants.GRAFANA_PROVISIONER_FUNCTION_DIR,
            extra_sources=((constants.DASHBOARDS_DIR, "dashboards"),),
            memory_mb=constants.GRAFANA_PROVISIONER_MEMORY_MB,
            timeout_s=constants.GRAFANA_PROVISIONER_TIMEOUT_S,
            description="modelwatch Grafana provisioner: AMP data source and dashboards (custom resource)",
            environment={},
        )
        workspace_arn = Stack.of(self).format_arn(
            service="grafana", resource="/workspaces", resource_name=self.workspace.attr_id
        )
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=[
                    "grafana:CreateWorkspaceServiceAccount",
                    "grafana:CreateWorkspaceServiceAccountToken",
                    "grafana:DeleteWorkspaceServiceAccount",
                ],
                resources=[workspace_arn],
            )
        )
        provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=function,
            log_group=logs.LogGroup(
                self, "ProviderLogs", retention=retention_days(self._config.log_retention_days)
            ),
        )
        acknowledge(
            provider,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
            "The custom resource framework's function only writes its own logs with this policy.",
        )
        acknowledge(
            provider,
            f"AwsSolutions-IAM5[Resource::{nag_resource(self, function.function_arn)}:*]",
            "The custom resource framework invokes the provisioner function's versions and aliases.",
        )
        acknowledge(
            provider,
            "AwsSolutions-L1",
            "The custom resource framework's function runtime is chosen by aws-cdk-lib.",
        )
        return CustomResource(
            self,
            "Dashboards",
            service_token=provider.service_token,
            resource_type="Custom::ModelwatchGrafanaDashboards",
            properties={
                "WorkspaceId": self.workspace.attr_id,
                "WorkspaceEndpoint": self.workspace.attr_endpoint,
                "PrometheusEndpoint": amp_query_endpoint,
                "Region": stack.region,
                "DashboardsHash": dashboards_hash(constants.DASHBOARDS_DIR),
            },
        )
