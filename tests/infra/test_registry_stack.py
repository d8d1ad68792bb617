"""The registry stack: VPC without NAT, PostgreSQL, MLflow on arm64 Fargate (Cloud Map or an ALB), the sync.

Also, over every stack of the app: no Docker image asset (``cdk deploy`` needs no Docker).
"""

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
NAMESPACE = "registry.modelwatch.internal"  # cdk.json's project


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


def _subnets(template: Template, kind: str) -> set[str]:
    return {
        logical_id
        for logical_id, subnet in template.find_resources("AWS::EC2::Subnet").items()
        if any(t["Key"] == "aws-cdk:subnet-type" and t["Value"] == kind for t in subnet["Properties"]["Tags"])
    }


def test_no_nat_gateway_a_free_s3_gateway_and_one_secrets_manager_endpoint_in_one_az(
    template: Template,
) -> None:
    template.resource_count_is("AWS::EC2::NatGateway", 0)
    template.resource_count_is("AWS::EC2::EIP", 0)
    assert _subnets(template, "Private") == set()  # reserved address space only
    template.has_resource_properties("AWS::EC2::VPCEndpoint", {"VpcEndpointType": "Gateway"})
    (endpoint,) = [
        e["Properties"]
        for e in template.find_resources("AWS::EC2::VPCEndpoint").values()
        if e["Properties"]["VpcEndpointType"] == "Interface"
    ]
    assert "secretsmanager" in json.dumps(endpoint["ServiceName"])
    assert endpoint["PrivateDnsEnabled"] is True
    assert [s["Ref"] for s in endpoint["SubnetIds"]] == sorted(_subnets(template, "Isolated"))[:1]
    template.resource_count_is("AWS::EC2::FlowLog", 1)


def test_the_functions_in_the_vpc_sit_in_isolated_subnets_and_rotation_uses_the_endpoint(
    template: Template,
) -> None:
    isolated = _subnets(template, "Isolated")
    sync = next(
        f["Properties"]
        for i, f in template.find_resources("AWS::Lambda::Function").items()
        if i.startswith("SyncFunction")
    )
    assert {s["Ref"] for s in sync["VpcConfig"]["SubnetIds"]} == isolated
    (rotation,) = template.find_resources("AWS::Serverless::Application").values()
    parameters = rotation["Properties"]["Parameters"]
    assert {s["Ref"] for s in _joined(parameters["vpcSubnetIds"])} == isolated
    assert "NetworkVpcSecretsManager" in json.dumps(parameters["endpoint"])


def _joined(value: Any) -> list[Any]:
    """The parts of an ``Fn::Join`` with ``,`` (how SAR parameters carry a list)."""
    return [p for p in value["Fn::Join"][1] if isinstance(p, dict)]


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


def _task_group(template: Template) -> dict[str, Any]:
    (group,) = [
        g["Properties"]
        for i, g in template.find_resources("AWS::EC2::SecurityGroup").items()
        if i.startswith("MlflowTaskSecurityGroup")
    ]
    return group


def test_mlflow_runs_on_arm64_fargate_found_by_its_cloud_map_name_without_a_load_balancer(
    template: Template,
) -> None:
    template.resource_count_is("AWS::ElasticLoadBalancingV2::LoadBalancer", 0)
    (namespace,) = template.find_resources("AWS::ServiceDiscovery::PrivateDnsNamespace").values()
    assert namespace["Properties"]["Name"] == NAMESPACE
    discovery = _one(template, "AWS::ServiceDiscovery::Service")
    assert discovery["Name"] == "mlflow"
    assert discovery["DnsConfig"]["DnsRecords"] == [{"TTL": 10, "Type": "A"}]
    service = _one(template, "AWS::ECS::Service")
    assert service["LaunchType"] == "FARGATE" and service["DesiredCount"] == 1
    assert service["ServiceRegistries"]
    network = service["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network["AssignPublicIp"] == "ENABLED"
    assert {s["Ref"] for s in network["Subnets"]} == _subnets(template, "Public")
    assert service["DeploymentConfiguration"]["DeploymentCircuitBreaker"] == {
        "Enable": True,
        "Rollback": True,
    }
    task = _one(template, "AWS::ECS::TaskDefinition")
    assert task["RuntimePlatform"] == {"CpuArchitecture": "ARM64", "OperatingSystemFamily": "LINUX"}
    assert (task["Cpu"], task["Memory"]) == ("256", "1024")
    (container,) = task["ContainerDefinitions"]
    assert "http://127.0.0.1:5000/health" in " ".join(container["HealthCheck"]["Command"])
    assert container["HealthCheck"]["StartPeriod"] == constants.MLFLOW_HEALTH_START_PERIOD_S
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


def test_the_public_task_admits_only_mlflow_from_the_vpc_and_sends_only_https_and_postgres(
    template: Template,
) -> None:
    group = _task_group(template)
    assert group["SecurityGroupIngress"] == [
        {
            "CidrIp": constants.MLFLOW_VPC_CIDR,
            "Description": "MLflow clients inside the VPC",
            "FromPort": 5000,
            "IpProtocol": "tcp",
            "ToPort": 5000,
        }
    ]
    assert [(r["CidrIp"], r["FromPort"], r["ToPort"]) for r in group["SecurityGroupEgress"]] == [
        ("0.0.0.0/0", 443, 443)
    ]
    (to_database,) = template.find_resources("AWS::EC2::SecurityGroupEgress").values()
    assert "DatabasePostgresSecurityGroup" in json.dumps(
        to_database["Properties"]["DestinationSecurityGroupId"]
    )
    for resource in template.find_resources("AWS::EC2::SecurityGroup").values():
        for rule in resource["Properties"].get("SecurityGroupIngress", []):
            assert rule.get("CidrIp") != "0.0.0.0/0"


def test_container_insights_is_off_by_default(template: Template) -> None:
    cluster = _one(template, "AWS::ECS::Cluster")
    assert cluster["ClusterSettings"] == [{"Name": "containerInsights", "Value": "disabled"}]


def test_task_uses_the_image_built_at_deploy_secrets_and_cloudwatch_logs(template: Template) -> None:
    task = _one(template, "AWS::ECS::TaskDefinition")
    (container,) = task["ContainerDefinitions"]
    image = json.dumps(container["Image"])
    assert "container-assets" not in image  # not CDK's Docker image asset
    repository = next(iter(template.find_resources("AWS::ECR::Repository")))
    (build,) = template.find_resources("Custom::CDKContainerImageBuild")
    assert repository in image and f'["{build}", "ImageTag"]' in image
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
    assert environment["MODELWATCH_MLFLOW_TRACKING_URI"].endswith(f"{NAMESPACE}:5000")
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


def test_no_stack_has_a_docker_image_asset(assembly: Assembly) -> None:
    outdir = Path(assembly.app.outdir)
    manifests = sorted(outdir.glob("*.assets.json"))

    assert len(manifests) >= 5
    for manifest in manifests:
        assert json.loads(manifest.read_text()).get("dockerImages", {}) == {}, manifest.name
    for artifact in json.loads((outdir / "manifest.json").read_text())["artifacts"].values():
        assert artifact["type"] != "cdk:asset-manifest" or "dockerImages" not in json.dumps(artifact)


def test_the_image_is_built_by_codebuild_on_arm_for_arm64_from_the_staged_dockerfile(
    assembly: Assembly, template: Template
) -> None:
    (project,) = template.find_resources("AWS::CodeBuild::Project").values()
    environment = project["Properties"]["Environment"]
    assert environment["Type"] == "ARM_CONTAINER" and environment["ComputeType"] == "BUILD_GENERAL1_SMALL"
    (build,) = template.find_resources("Custom::CDKContainerImageBuild").values()
    command = build["Properties"]["buildCommand"]
    assert f"--build-arg MLFLOW_VERSION={constants.MLFLOW_VERSION}" in command
    assert f"--platform {constants.MLFLOW_IMAGE_PLATFORM}" in command
    # the source is a plain zip asset of infra/docker/mlflow
    assert assembly.registry is not None
    outdir = Path(assembly.app.outdir)
    files = json.loads((outdir / f"{assembly.registry.artifact_id}.assets.json").read_text())["files"]
    source_hash = re.search(r"/(\w+)\.zip", json.dumps(build["Properties"]["sourceS3Url"]))
    assert source_hash is not None
    staged = outdir / files[source_hash.group(1)]["source"]["path"]
    assert sorted(p.name for p in staged.iterdir()) == sorted(
        p.name for p in constants.MLFLOW_DOCKER_DIR.iterdir()
    )
    (repository,) = template.find_resources("AWS::ECR::Repository").values()
    policy = json.loads(repository["Properties"]["LifecyclePolicy"]["LifecyclePolicyText"])
    assert policy["rules"][0]["selection"]["countNumber"] == constants.MLFLOW_IMAGES_KEPT


def test_the_build_and_its_handler_log_with_retention(template: Template) -> None:
    (project_id,) = template.find_resources("AWS::CodeBuild::Project")
    groups = template.find_resources("AWS::Logs::LogGroup")
    named = [
        g for g in groups.values() if "/aws/codebuild/" in json.dumps(g["Properties"].get("LogGroupName"))
    ]
    assert len(named) == 1 and project_id in json.dumps(named[0]["Properties"]["LogGroupName"])
    assert all(g["Properties"].get("RetentionInDays") for g in groups.values())
    (handler,) = [
        f["Properties"]
        for i, f in template.find_resources("AWS::Lambda::Function").items()
        if i.startswith("DeployTimeBuild")
    ]
    assert handler["LoggingConfig"]["LogGroup"]["Ref"] in groups


def test_the_pins_of_the_image_match_the_library(template: Template) -> None:
    dockerfile = (constants.MLFLOW_DOCKER_DIR / "Dockerfile").read_text()
    assert f"ARG MLFLOW_VERSION={constants.MLFLOW_VERSION}" in dockerfile
    assert "FROM public.ecr.aws/docker/library/python:3.11-slim" in dockerfile  # multi-arch
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


# -- the load balancer: HTTPS with a certificate; without one, Cloud Map over plain HTTP (with a warning) --

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


def test_with_a_certificate_the_internal_alb_in_isolated_subnets_is_the_tasks_only_client(
    https_template: Template,
) -> None:
    balancer = _one(https_template, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    assert balancer["Scheme"] == "internal"
    assert {s["Ref"] for s in balancer["Subnets"]} == _subnets(https_template, "Isolated")
    assert _one(https_template, "AWS::ElasticLoadBalancingV2::TargetGroup")["HealthCheckPath"] == "/health"
    assert "SecurityGroupIngress" not in _task_group(https_template)
    (ingress,) = [
        r["Properties"]
        for r in https_template.find_resources("AWS::EC2::SecurityGroupIngress").values()
        if "MlflowTaskSecurityGroup" in json.dumps(r["Properties"]["GroupId"])
    ]
    assert ingress["FromPort"] == 5000 and "MlflowServiceLBSecurityGroup" in json.dumps(ingress)
    service = _one(https_template, "AWS::ECS::Service")
    assert service["NetworkConfiguration"]["AwsvpcConfiguration"]["AssignPublicIp"] == "ENABLED"
    assert "ServiceRegistries" not in service
    https_template.resource_count_is("AWS::ServiceDiscovery::PrivateDnsNamespace", 0)


def test_without_a_certificate_it_stays_plain_http_and_the_synth_warns(
    assembly: Assembly, template: Template
) -> None:
    uri = f"http://{constants.MLFLOW_CLOUD_MAP_SERVICE}.{NAMESPACE}:5000"

    template.resource_count_is("AWS::ElasticLoadBalancingV2::Listener", 0)
    assert template.find_outputs("TrackingUri")["TrackingUri"]["Value"] == uri
    assert _sync_tracking_uri(template) == uri
    template.resource_count_is("AWS::Route53::HostedZone", 0)
    assert assembly.registry is not None
    (warning,) = Annotations.from_stack(assembly.registry).find_warning("*", Match.any_value())
    message = warning.entry.data
    assert "registry.certificate_arn is not set" in message and "unencrypted" in message


def test_container_insights_turns_on_by_config(assembly_factory: Callable[..., Assembly]) -> None:
    on = assembly_factory({"registry": {"container_insights": True}})
    assert on.registry is not None
    cluster = _one(Template.from_stack(on.registry), "AWS::ECS::Cluster")
    assert cluster["ClusterSettings"] == [{"Name": "containerInsights", "Value": "enabled"}]


def test_the_https_template_has_no_cfn_lint_errors(https_assembly: Assembly) -> None:
    assert https_assembly.registry is not None
    path = Path(https_assembly.app.outdir) / f"{https_assembly.registry.artifact_id}.template.json"
    assert [str(m) for m in lint_file(path) if m.rule.id.startswith("E")] == []


def test_each_project_has_its_own_cloud_map_namespace(assembly_factory: Callable[..., Assembly]) -> None:
    other = assembly_factory({"project": "acme"})
    assert other.registry is not None
    template = Template.from_stack(other.registry)

    (namespace,) = template.find_resources("AWS::ServiceDiscovery::PrivateDnsNamespace").values()
    assert namespace["Properties"]["Name"] == "registry.acme.internal"
    assert _sync_tracking_uri(template) == "http://mlflow.registry.acme.internal:5000"
