"""Grafana provisioner: the CloudFormation custom resource that provisions Amazon Managed Grafana.

On Create and Update it takes a short-lived service-account token of the workspace, creates
the AMP data source (SigV4) if missing, upserts every dashboard bundled next to this handler
(``dashboards/*.json``), and deletes the service account. The resource's properties carry a
hash of the dashboards, so a changed dashboard makes CloudFormation update it (re-run). On
Delete nothing is removed (the workspace goes with the stack).
"""

from pathlib import Path
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from modelwatch.metrics.grafana import (
    GrafanaClient,
    amp_datasource,
    load_dashboards,
    provision,
    workspace_token,
    workspace_url,
)
from modelwatch.observability import logger
from modelwatch.stores import aws

DASHBOARDS_DIR = Path(__file__).resolve().parent / "dashboards"


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    props = event["ResourceProperties"]
    workspace_id = props["WorkspaceId"]
    physical_id = f"{workspace_id}-modelwatch-dashboards"
    if event["RequestType"] == "Delete":
        return {"PhysicalResourceId": event.get("PhysicalResourceId", physical_id)}
    dashboards = load_dashboards(DASHBOARDS_DIR)
    grafana_api = aws.client("grafana")
    with workspace_token(grafana_api, workspace_id, "modelwatch-provisioner") as token:
        client = GrafanaClient(workspace_url(props["WorkspaceEndpoint"]), token)
        result = provision(client, amp_datasource(props["PrometheusEndpoint"], props["Region"]), dashboards)
    return {
        "PhysicalResourceId": physical_id,
        "Data": {"Dashboards": ",".join(result.dashboards), "DataSource": result.datasource},
    }
