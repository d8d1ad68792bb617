"""Faults FIS has no action for: Firehose refusing capture, S3 refusing manifest reads, by an IAM deny.

An SSM Automation document attaches a deny policy to the predict functions' roles, holds it for
the experiment's duration, and detaches it; the detach step also runs when the automation fails or
is cancelled (FIS cancels it when a stop condition fires), so the deny never outlives the
experiment. FIS starts it with ``aws:ssm:start-automation-execution``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import Aws, Stack
from aws_cdk import aws_fis as fis
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from infra import constants
from infra.config import ModelwatchConfig
from infra.nag import acknowledge_wildcards
from modelwatch.contracts import layout

_SCRIPT = """
import boto3


def attach(events, context):
    iam = boto3.client("iam")
    for name in events["RoleNames"]:
        iam.attach_role_policy(RoleName=name, PolicyArn=events["PolicyArn"])
    return {"attached": events["RoleNames"]}


def detach(events, context):
    iam = boto3.client("iam")
    detached = []
    for name in events["RoleNames"]:
        try:
            iam.detach_role_policy(RoleName=name, PolicyArn=events["PolicyArn"])
            detached.append(name)
        except iam.exceptions.NoSuchEntityException:
            pass
    return {"detached": detached}
"""


def deny_document_content() -> dict[str, Any]:
    """The Automation document: attach the deny, hold it, detach it (also on failure or cancel)."""
    payload = {"RoleNames": "{{ RoleNames }}", "PolicyArn": "{{ PolicyArn }}"}
    rollback = {"onFailure": "step:DetachDeny", "onCancel": "step:DetachDeny"}
    return {
        "schemaVersion": "0.3",
        "description": "modelwatch chaos: attach a deny policy to IAM roles for a while, then detach it.",
        "assumeRole": "{{ AutomationAssumeRole }}",
        "parameters": {
            "AutomationAssumeRole": {"type": "String", "description": "The role this automation runs as."},
            "RoleNames": {"type": "StringList", "description": "The roles that get the deny."},
            "PolicyArn": {"type": "String", "description": "The deny policy."},
            "Duration": {"type": "String", "default": "PT5M", "description": "How long (ISO 8601)."},
        },
        "mainSteps": [
            {
                "name": "AttachDeny",
                "action": "aws:executeScript",
                **rollback,
                "inputs": {
                    "Runtime": "python3.11",
                    "Handler": "attach",
                    "Script": _SCRIPT,
                    "InputPayload": payload,
                },
            },
            {"name": "Hold", "action": "aws:sleep", **rollback, "inputs": {"Duration": "{{ Duration }}"}},
            {
                "name": "DetachDeny",
                "action": "aws:executeScript",
                "inputs": {
                    "Runtime": "python3.11",
                    "Handler": "detach",
                    "Script": _SCRIPT,
                    "InputPayload": payload,
                },
                "isEnd": True,
            },
        ],
    }


class ChaosIamDenyFaults(Construct):
    """The document, the deny policies, the automation's and FIS's roles, and two templates."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: ModelwatchConfig,
        roles: Sequence[iam.IRole],
        capture_streams: Sequence[firehose.IDeliveryStream],
        models_bucket: s3.IBucket,
        stop_alarm_arns: Sequence[str],
    ) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        self._roles = list(roles)
        self._stop_alarm_arns = list(stop_alarm_arns)
        self.document = ssm.CfnDocument(
            self,
            "DenyDocument",
            document_type="Automation",
            content=deny_document_content(),
            update_method="NewVersion",
        )
        self.deny_capture = iam.ManagedPolicy(
            self,
            "DenyCapture",
            description="modelwatch chaos: Firehose refuses the predict functions' capture (as if throttled)",
            statements=[
                iam.PolicyStatement(
                    effect=iam.Effect.DENY,
                    actions=["firehose:PutRecord", "firehose:PutRecordBatch"],
                    resources=[s.delivery_stream_arn for s in capture_streams],
                )
            ],
        )
        self.deny_manifests = iam.ManagedPolicy(
            self,
            "DenyManifestReads",
            description="modelwatch chaos: S3 refuses the predict functions' manifest reads (throttled)",
            statements=[
                iam.PolicyStatement(
                    effect=iam.Effect.DENY,
                    actions=["s3:GetObject"],
                    resources=[models_bucket.arn_for_objects(f"{layout.MANIFESTS_PREFIX}/*")],
                )
            ],
        )
        self.automation_role = self._build_automation_role()
        self.role = self._build_fis_role()
        self.templates: dict[str, fis.CfnExperimentTemplate] = {
            "capture-denied": self._build_template(
                "CaptureDenied",
                self.deny_capture,
                "Firehose refuses every capture call of the predict functions: requests are answered, their "
                "events go to the capture dead-letter queue, none is kept in the log only.",
            ),
            "manifest-reads-denied": self._build_template(
                "ManifestReadsDenied",
                self.deny_manifests,
                "S3 refuses the predict functions' manifest reads: the loaded versions keep serving with no "
                "5xx, and a version published meanwhile is served once reads succeed.",
            ),
        }

    @property
    def document_arn(self) -> str:
        return f"arn:{Aws.PARTITION}:ssm:{Aws.REGION}:{Aws.ACCOUNT_ID}:document/{self.document.ref}"

    def _build_automation_role(self) -> iam.Role:
        role = iam.Role(
            self,
            "AutomationRole",
            assumed_by=iam.ServicePrincipal("ssm.amazonaws.com"),
            description="SSM Automation of modelwatch chaos: attaches and detaches its deny policies only",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["iam:AttachRolePolicy", "iam:DetachRolePolicy"],
                resources=[r.role_arn for r in self._roles],
                conditions={
                    "ArnEquals": {
                        "iam:PolicyARN": [
                            self.deny_capture.managed_policy_arn,
                            self.deny_manifests.managed_policy_arn,
                        ]
                    }
                },
            )
        )
        return role

    def _build_fis_role(self) -> iam.Role:
        role = iam.Role(
            self,
            "FisRole",
            assumed_by=iam.ServicePrincipal(
                "fis.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}
            ),
            description="AWS FIS: starts and stops modelwatch's deny automation",
        )
        ssm_arn = f"arn:{Aws.PARTITION}:ssm:{Aws.REGION}:{Aws.ACCOUNT_ID}"
        definition = f"{ssm_arn}:automation-definition/{self.document.ref}:*"
        executions = f"{ssm_arn}:automation-execution/*"
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["ssm:StartAutomationExecution"], resources=[self.document_arn, definition]
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["ssm:GetAutomationExecution", "ssm:StopAutomationExecution"], resources=[executions]
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(actions=["iam:PassRole"], resources=[self.automation_role.role_arn])
        )
        stack = Stack.of(self)
        acknowledge_wildcards(
            role,
            "Automation executions are named by SSM when FIS starts them; every version of this one "
            "document may be started.",
            resources=(
                f"arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:automation-definition/<{stack.get_logical_id(self.document)}>:*",
                "arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:automation-execution/*",
            ),
        )
        return role

    def _build_template(
        self, construct_id: str, policy: iam.ManagedPolicy, description: str
    ) -> fis.CfnExperimentTemplate:
        chaos = self._config.chaos
        max_minutes = chaos.duration_minutes + constants.FIS_AUTOMATION_MARGIN_MINUTES
        parameters = Stack.of(self).to_json_string(
            {
                "AutomationAssumeRole": self.automation_role.role_arn,
                "RoleNames": [r.role_name for r in self._roles],
                "PolicyArn": policy.managed_policy_arn,
                "Duration": f"PT{chaos.duration_minutes}M",
            }
        )
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
            targets={},
            actions={
                "Deny": fis.CfnExperimentTemplate.ExperimentTemplateActionProperty(
                    action_id="aws:ssm:start-automation-execution",
                    parameters={
                        "documentArn": self.document_arn,
                        "documentParameters": parameters,
                        "maxDuration": f"PT{max_minutes}M",
                    },
                )
            },
            tags={"Name": f"{self._config.project}-{construct_id}"},
        )
