"""The registry stack: VPC, PostgreSQL, MLflow on Fargate behind an internal ALB, the sync function."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Annotations, Match, Template
from cfnlint.api import lint_file
from packaging.requirements import Requirement

from infra import bundling, constants
from infra.assembly import Assembly
from infra.constructs.mlflow_sync import sync_bundle_spec

pytestmark = pytest.mark.infra


@pytest.fixture(scope="module")
def assembly(assembly_factory: Callable[..., Assembly]) -> Assembly:
    return assembly_factory({"registry": {"max_tasks": 4, "served_aliases": ["production"]}})


@pytest.fixture(scope="module")
def template(assembly: Assembly) -> Template:
    assert assembly.registry is not None
    return Template.from_stack(assembly.registry)


def _one(template: Template, kind: str) -> dict[str, Any]:
    found = template.find_resources(kind)
    assert len(found) == 1, list(found)
    props: dict[str, Any] = next(iter(found.values()))["Properties"]
    return props


def test_database_is_encrypted_private_isolated_and_rotated(template: Template) -> None:
    db = _one(template, "AWS::RDS::DBInstance")
    assert db["Engine"] == "postgres"
    assert db["StorageEncrypted"] is True
    assert db["PubliclyAccessible"] is False
    assert db["DeletionProtection"] is True
    assert db["BackupRetentionPeriod"] == 7
    assert db["Port"] == "5433"
    subnet_group = _one(template, "AWS::RDS::DBSubnetGroup")
    isolated = {
        logical_id
        for logical_id, subnet in template.find_resources("AWS::EC2::Subnet").items()
        if any(
            t["Key"] == "aws-cdk:subnet-type" and t["Value"] == "Isolated"
            for t in subnet["Properties"]["Tags"]
        )
    }
    assert {ref["Ref"] for ref in subnet_group["SubnetIds"]} == isolated
    rotation = _one(template, "AWS::SecretsManager::RotationSchedule")
    assert rotation["RotationRules"] == {"ScheduleExpression": "rate(30 days)"}


def test_one_nat_gateway_and_an_s3_gateway_endpoint(template: Template) -> None:
    template.resource_count_is("AWS::EC2::NatGateway", 1)
    template.has_resource_properties("AWS::EC2::VPCEndpoint", {"VpcEndpointType": "Gateway"})
    template.resource_count_is("AWS::EC2::FlowLog", 1)


def test_artifact_bucket_is_encrypted_private_and_tls_only(template: Template) -> None:
    bucket = _one(template, "AWS::S3::Bucket")
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
        "ServerSideEncryptionByDefault"
    ] == {"SSEAlgorithm": "AES256"}
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    policy = _one(template, "AWS::S3::BucketPolicy")
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in policy["PolicyDocument"]["Statement"]
    )


def test_mlflow_runs_on_fargate_behind_an_internal_alb_with_health_checks(template: Template) -> None:
    assert _one(template, "AWS::ElasticLoadBalancingV2::LoadBalancer")["Scheme"] == "internal"
    target_group = _one(template, "AWS::ElasticLoadBalancingV2::TargetGroup")
    assert target_group["HealthCheckPath"] == "/health"
    service = _one(template, "AWS::ECS::Service")
    assert service["LoadBalancers"][0]["ContainerPort"] == 5000
    assert service["LaunchType"] == "FARGATE" and service["DesiredCount"] == 1
    assert service["NetworkConfiguration"]["AwsvpcConfiguration"]["AssignPublicIp"] == "DISABLED"
    assert service["DeploymentConfiguration"]["DeploymentCircuitBreaker"] == {
        "Enable": True,
        "Rollback": True,
    }
    target = _one(template, "AWS::ApplicationAutoScaling::ScalableTarget")
    assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 4)
    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {
            "TargetTrackingScalingPolicyConfiguration": Match.object_like(
                {
                    "TargetValue": 60,
                    "PredefinedMetricSpecification": {
                        "PredefinedMetricType": "ECSServiceAverageCPUUtilization"
                    },
                }
            )
        },
    )
    ingress = template.find_resources("AWS::EC2::SecurityGroup")
    for group in ingress.values():
        for rule in group["Properties"].get("SecurityGroupIngress", []):
            assert rule.get("CidrIp") != "0.0.0.0/0"


def test_task_uses_the_image_built_at_deploy_secrets_and_cloudwatch_logs(template: Template) -> None:
    task = _one(template, "AWS::ECS::TaskDefinition")
    (container,) = task["ContainerDefinitions"]
    assert "container-assets" in json.dumps(container["Image"])
    assert {s["Name"] for s in container["Secrets"]} == {
        "DB_USERNAME",
        "DB_PASSWORD",
        "MLFLOW_AUTH_ADMIN_PASSWORD",
        "MLFLOW_SYNC_USERNAME",
        "MLFLOW_SYNC_PASSWORD",
        "MLFLOW_FLASK_SERVER_SECRET_KEY",
    }
    environment = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert environment["DB_NAME"] == "mlflow"
    assert not {n for n in environment if "PASSWORD" in n or "SECRET" in n}
    assert container["LogConfiguration"]["LogDriver"] == "awslogs"
    assert task["RequiresCompatibilities"] == ["FARGATE"]


def _secret_ids(template: Template) -> dict[str, dict[str, Any]]:
    return {
        logical_id: secret["Properties"]
        for logical_id, secret in template.find_resources("AWS::SecretsManager::Secret").items()
    }


def test_the_flask_secret_key_is_generated_in_secrets_manager_and_injected_as_a_secret(
    template: Template,
) -> None:
    ((key_id, key),) = [
        (i, p) for i, p in _secret_ids(template).items() if i.startswith("MlflowFlaskSecretKey")
    ]
    assert key["GenerateSecretString"] == {"ExcludePunctuation": True, "PasswordLength": 64}
    (container,) = _one(template, "AWS::ECS::TaskDefinition")["ContainerDefinitions"]
    (injected,) = [s for s in container["Secrets"] if s["Name"] == "MLFLOW_FLASK_SERVER_SECRET_KEY"]
    assert injected["ValueFrom"] == {"Ref": key_id}  # the whole secret string
    assert "MLFLOW_FLASK_SERVER_SECRET_KEY" not in json.dumps(container["Environment"])


def test_the_sync_has_its_own_mlflow_user_not_the_admin(template: Template) -> None:
    secrets = _secret_ids(template)
    ((sync_id, sync),) = [(i, p) for i, p in secrets.items() if i.startswith("MlflowSyncSecret")]
    ((admin_id, _),) = [(i, p) for i, p in secrets.items() if i.startswith("MlflowAdminSecret")]
    assert json.loads(sync["GenerateSecretString"]["SecretStringTemplate"]) == {"username": "modelwatch-sync"}
    (container,) = _one(template, "AWS::ECS::TaskDefinition")["ContainerDefinitions"]
    by_name = {s["Name"]: json.dumps(s["ValueFrom"]) for s in container["Secrets"]}
    assert sync_id in by_name["MLFLOW_SYNC_USERNAME"] and ":username::" in by_name["MLFLOW_SYNC_USERNAME"]
    assert sync_id in by_name["MLFLOW_SYNC_PASSWORD"] and ":password::" in by_name["MLFLOW_SYNC_PASSWORD"]
    (function,) = [
        f["Properties"]
        for i, f in template.find_resources("AWS::Lambda::Function").items()
        if i.startswith("SyncFunction")
    ]
    assert function["Environment"]["Variables"]["MODELWATCH_MLFLOW_CREDENTIALS_SECRET"] == {"Ref": sync_id}
    role_id = function["Role"]["Fn::GetAtt"][0]
    reads = [
        s["Resource"]
        for p in template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if "secretsmanager:GetSecretValue" in _list(s["Action"])
    ]
    assert reads == [{"Ref": sync_id}]
    assert admin_id not in json.dumps(function)


def test_task_role_may_only_use_the_artifact_bucket(template: Template) -> None:
    task = _one(template, "AWS::ECS::TaskDefinition")
    role_id = task["TaskRoleArn"]["Fn::GetAtt"][0]
    policies = [
        p["Properties"]
        for p in template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
    ]
    actions = {a for p in policies for s in p["PolicyDocument"]["Statement"] for a in _list(s["Action"])}
    assert actions == {"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_sync_function_runs_in_the_vpc_every_minute_with_least_privilege(template: Template) -> None:
    functions = {
        logical_id: f["Properties"]
        for logical_id, f in template.find_resources("AWS::Lambda::Function").items()
        if logical_id.startswith("SyncFunction")
    }
    ((function_id, function),) = functions.items()
    assert function["VpcConfig"]["SubnetIds"]
    environment = function["Environment"]["Variables"]
    assert environment["MODELWATCH_SERVED_ALIASES"] == "production"
    assert "Fn::GetAtt" in json.dumps(environment["MODELWATCH_MLFLOW_TRACKING_URI"])
    assert function["ReservedConcurrentExecutions"] == 1
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "ScheduleExpression": "rate(1 minute)",
            "Targets": [Match.object_like({"Arn": {"Fn::GetAtt": [function_id, "Arn"]}})],
        },
    )
    role_id = function["Role"]["Fn::GetAtt"][0]
    statements = [
        s
        for p in template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    writes = [s for s in statements if "s3:PutObject" in _list(s["Action"])]
    assert len(writes) == 1
    resources = json.dumps(writes[0]["Resource"])
    assert "/manifests/*" in resources and "/models/*" in resources
    assert not any("s3:DeleteObject" in _list(s["Action"]) for s in statements)


def test_outputs_say_how_to_reach_mlflow(template: Template) -> None:
    outputs = template.find_outputs("*")
    assert {
        "TrackingUri",
        "MlflowAdminSecretArn",
        "MlflowSyncSecretArn",
        "ArtifactBucketName",
        "RegistrySyncFunctionName",
    } <= set(outputs)
    assert "VPC" in outputs["TrackingUri"]["Description"]


def test_registry_template_has_no_cfn_lint_errors(assembly: Assembly) -> None:
    assert assembly.registry is not None
    path = Path(assembly.app.outdir) / f"{assembly.registry.artifact_id}.template.json"
    errors = [str(m) for m in lint_file(path) if m.rule.id.startswith("E")]
    assert errors == []


def test_image_asset_is_staged_not_built_and_pins_mlflow(assembly: Assembly) -> None:
    assert assembly.registry is not None
    outdir = Path(assembly.app.outdir)
    assets = json.loads((outdir / f"{assembly.registry.artifact_id}.assets.json").read_text())
    (image,) = assets["dockerImages"].values()
    assert image["source"]["dockerBuildArgs"] == {"MLFLOW_VERSION": constants.MLFLOW_VERSION}
    assert (outdir / image["source"]["directory"] / "Dockerfile").is_file()
    dockerfile = (constants.MLFLOW_DOCKER_DIR / "Dockerfile").read_text()
    assert f"ARG MLFLOW_VERSION={constants.MLFLOW_VERSION}" in dockerfile
    pyproject = tomllib.loads((constants.LIBRARY_PROJECT_DIR / "pyproject.toml").read_text())
    assert pyproject["project"]["optional-dependencies"]["registry"] == [
        f"mlflow=={constants.MLFLOW_VERSION}"
    ]


def test_sync_bundle_is_small_and_has_no_mlflow(assembly: Assembly) -> None:
    spec = sync_bundle_spec(assembly.config.architecture)
    size, total = bundling.bundle_report(spec)
    print(f"bundle registry_sync: {size / constants.MIB:.1f} MB, with layer {total / constants.MIB:.1f} MB")
    assert total < constants.LAMBDA_UNZIPPED_LIMIT_BYTES
    assert spec.layer is not None
    site = bundling.build_bundle(spec.layer) / "python"
    assert not any(re.match(r"mlflow", p.name) for p in site.iterdir())
    assert (site / "modelwatch" / "registry" / "rest.py").is_file()


def test_registry_can_be_disabled(assembly_factory: Callable[..., Assembly]) -> None:
    assert assembly_factory({"registry": {"enabled": False}}).registry is None


def _dockerfile_requirements() -> list[Requirement]:
    """The requirements the image's ``pip install`` names, with the build argument's default put in."""
    dockerfile = (constants.MLFLOW_DOCKER_DIR / "Dockerfile").read_text()
    arguments = dict(re.findall(r"^ARG (\w+)=(\S+)$", dockerfile, re.MULTILINE))
    (install,) = re.findall(r"pip install ((?:\"[^\"]+\"\s*)+)", dockerfile)
    specs = re.findall(r'"([^"]+)"', install)
    return [Requirement(re.sub(r"\$\{(\w+)\}", lambda m: arguments[m.group(1)], spec)) for spec in specs]


def test_the_images_pins_and_requirements_txt_agree() -> None:
    image = _dockerfile_requirements()
    lines = (constants.REPO_ROOT / "requirements.txt").read_text().splitlines()
    listed = {
        (r := Requirement(line.split("#", 1)[0].strip())).name: r
        for line in lines
        if line.split("#", 1)[0].strip() and not line.startswith("-")
    }

    assert [r.name for r in image] == ["mlflow", "psycopg2-binary", "boto3"]
    for requirement in image:
        assert requirement.name in listed, f"{requirement} is not in requirements.txt"
        assert str(listed[requirement.name]) == str(requirement), (listed[requirement.name], requirement)
    (mlflow,) = [r for r in image if r.name == "mlflow"]
    assert mlflow.extras == {"auth"}  # Flask-WTF: the basic-auth app does not start without it
    assert str(mlflow.specifier) == f"=={constants.MLFLOW_VERSION}"
    assert all(str(r.specifier).startswith("==") for r in image if r.name != "boto3")


def test_the_image_ships_both_entrypoint_files() -> None:
    dockerfile = (constants.MLFLOW_DOCKER_DIR / "Dockerfile").read_text()
    (copy,) = [line for line in dockerfile.splitlines() if line.startswith("COPY ")]
    shipped = copy.split()[1:-1]
    destination = copy.split()[-1]

    assert sorted(shipped) == sorted(
        p.name for p in constants.MLFLOW_DOCKER_DIR.iterdir() if p.name != "Dockerfile"
    )
    assert f'ENTRYPOINT ["{destination}entrypoint.sh"]' in dockerfile


# -- the load balancer: HTTPS with a certificate, plain HTTP (with a warning) without ----------------

CERTIFICATE_ARN = "arn:aws:acm:eu-west-1:123456789012:certificate/12345678-1234-1234-1234-123456789012"
DOMAIN = "mlflow.internal.example.com"


@pytest.fixture(scope="module")
def https_assembly(assembly_factory: Callable[..., Assembly]) -> Assembly:
    return assembly_factory({"registry": {"certificate_arn": CERTIFICATE_ARN, "domain_name": DOMAIN}})


@pytest.fixture(scope="module")
def https_template(https_assembly: Assembly) -> Template:
    assert https_assembly.registry is not None
    return Template.from_stack(https_assembly.registry)


def _listeners(template: Template) -> dict[int, dict[str, Any]]:
    return {
        listener["Properties"]["Port"]: listener["Properties"]
        for listener in template.find_resources("AWS::ElasticLoadBalancingV2::Listener").values()
    }


def _ingress_ports(template: Template) -> set[int]:
    (group,) = [
        g["Properties"]
        for i, g in template.find_resources("AWS::EC2::SecurityGroup").items()
        if i.startswith("MlflowServiceLBSecurityGroup")
    ]
    rules = group["SecurityGroupIngress"]
    assert all(r["CidrIp"] == {"Fn::GetAtt": [r["CidrIp"]["Fn::GetAtt"][0], "CidrBlock"]} for r in rules)
    return {r["FromPort"] for r in rules}


def _sync_tracking_uri(template: Template) -> Any:
    (function,) = [
        f["Properties"]
        for i, f in template.find_resources("AWS::Lambda::Function").items()
        if i.startswith("SyncFunction")
    ]
    return function["Environment"]["Variables"]["MODELWATCH_MLFLOW_TRACKING_URI"]


def test_with_a_certificate_the_alb_speaks_tls_on_443_and_http_only_redirects(
    https_template: Template,
) -> None:
    listeners = _listeners(https_template)

    assert set(listeners) == {443, 80}
    secure = listeners[443]
    assert secure["Protocol"] == "HTTPS"
    assert secure["Certificates"] == [{"CertificateArn": CERTIFICATE_ARN}]
    assert secure["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"  # TLS 1.2 and 1.3 only
    assert [a["Type"] for a in secure["DefaultActions"]] == ["forward"]
    plain = listeners[80]
    assert plain["DefaultActions"] == [
        {"Type": "redirect", "RedirectConfig": {"Port": "443", "Protocol": "HTTPS", "StatusCode": "HTTP_301"}}
    ]
    assert _ingress_ports(https_template) == {443, 80}


def test_with_a_certificate_the_tracking_uri_and_the_sync_use_https_by_its_name(
    https_assembly: Assembly, https_template: Template
) -> None:
    assert https_template.find_outputs("TrackingUri")["TrackingUri"]["Value"] == f"https://{DOMAIN}"
    assert _sync_tracking_uri(https_template) == f"https://{DOMAIN}"
    (zone,) = https_template.find_resources("AWS::Route53::HostedZone").values()
    assert zone["Properties"]["Name"] == f"{DOMAIN}."
    assert zone["Properties"]["VPCs"][0]["VPCId"]["Ref"].startswith("NetworkVpc")  # private, in the VPC
    (record,) = https_template.find_resources("AWS::Route53::RecordSet").values()
    assert (record["Properties"]["Name"], record["Properties"]["Type"]) == (f"{DOMAIN}.", "A")
    assert "MlflowServiceLB" in json.dumps(record["Properties"]["AliasTarget"])
    assert https_assembly.registry is not None
    assert not Annotations.from_stack(https_assembly.registry).find_warning("*", Match.any_value())


def test_without_a_certificate_it_stays_plain_http_and_the_synth_warns(
    assembly: Assembly, template: Template
) -> None:
    listeners = _listeners(template)

    assert set(listeners) == {80}
    assert listeners[80]["Protocol"] == "HTTP" and "Certificates" not in listeners[80]
    assert _ingress_ports(template) == {80}
    assert "http://" in json.dumps(template.find_outputs("TrackingUri")["TrackingUri"]["Value"])
    assert "http://" in json.dumps(_sync_tracking_uri(template))
    template.resource_count_is("AWS::Route53::HostedZone", 0)
    assert assembly.registry is not None
    (warning,) = Annotations.from_stack(assembly.registry).find_warning("*", Match.any_value())
    message = warning.entry.data
    assert "registry.certificate_arn is not set" in message and "unencrypted" in message


def test_the_https_template_has_no_cfn_lint_errors(https_assembly: Assembly) -> None:
    assert https_assembly.registry is not None
    path = Path(https_assembly.app.outdir) / f"{https_assembly.registry.artifact_id}.template.json"
    assert [str(m) for m in lint_file(path) if m.rule.id.startswith("E")] == []
