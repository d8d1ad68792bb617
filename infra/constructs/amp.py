"""The Amazon Managed Service for Prometheus workspace: rule groups and alert manager as code."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Fn, Stack
from aws_cdk import aws_aps as aps
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra import constants


def rule_files(rules_dir: Path = constants.RULES_DIR) -> list[Path]:
    """Return the rule files deployed as rule groups namespaces (one namespace per file)."""
    return sorted(rules_dir.glob("*.yml"))


class AmpWorkspace(Construct):
    """An AMP workspace whose rules come from ``dashboards/rules/*.yml`` and alerts go to ``topic``.

    The alert manager definition (``dashboards/alertmanager.yml``) gets the topic's ARN and the
    region through ``Fn::Sub``.
    """

    def __init__(self, scope: Construct, construct_id: str, *, project: str, topic: sns.ITopic) -> None:
        super().__init__(scope, construct_id)
        self.workspace = self._build_workspace(project, topic)
        self.rule_namespaces = self._build_rule_namespaces()

    def _build_workspace(self, project: str, topic: sns.ITopic) -> aps.CfnWorkspace:
        definition = Fn.sub(constants.ALERTMANAGER_FILE.read_text(), {"SNS_TOPIC_ARN": topic.topic_arn})
        return aps.CfnWorkspace(
            self,
            "Workspace",
            alias=f"{project}-metrics",
            alert_manager_definition=definition,
        )

    def _build_rule_namespaces(self) -> list[aps.CfnRuleGroupsNamespace]:
        return [
            aps.CfnRuleGroupsNamespace(
                self,
                f"Rules{path.stem.title().replace('_', '').replace('-', '')}",
                name=f"modelwatch-{path.stem}",
                workspace=self.workspace.attr_arn,
                data=path.read_text(),
            )
            for path in rule_files()
        ]

    @property
    def workspace_arn(self) -> str:
        return self.workspace.attr_arn

    @property
    def query_endpoint(self) -> str:
        """The workspace's Prometheus endpoint (``https://aps-workspaces.<region>...workspaces/<id>/``)."""
        return self.workspace.attr_prometheus_endpoint

    @property
    def remote_write_url(self) -> str:
        return f"{self.workspace.attr_prometheus_endpoint}api/v1/remote_write"

    @property
    def region(self) -> str:
        return Stack.of(self).region
