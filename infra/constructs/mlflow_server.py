"""The MLflow tracking server: arm64 Fargate tasks, artifacts in S3, basic auth, found by name in the VPC.

The container image is built in AWS at deploy time, not on the deploying machine: synthesis
zips ``infra/docker/mlflow`` as a plain S3 asset and ``cdklabs.deploy-time-build`` runs a
CodeBuild project on an ARM host that builds it for ``linux/arm64`` (pinned MLflow) and pushes
it to this stack's ECR repository, tagged by the directory's hash; no Docker at ``cdk deploy``.
MLflow's basic-auth app refuses anonymous requests. Three generated secrets reach the tasks as
ECS secrets (never as plain environment or in the template): the initial admin password
(``MlflowAdminSecretArn``), the registry sync's user (created at each start by the image's
entrypoint, with least privilege) and the static Flask secret key the auth app's CSRF protection
needs, the same in every task and worker.

The tasks run in the VPC's public subnets with a public IPv4 address (their way to ECR, logs and
Secrets Manager without a NAT gateway, docs/cost.md); their security group admits MLflow's port
only from inside the VPC. Clients reach them one of two ways:

- without a certificate (the default), by the Cloud Map private DNS name
  ``mlflow.registry.<project>.internal`` on port 5000, plain HTTP inside the VPC, and the
  synthesis warns; no load balancer (it would be a third of the stack's idle cost);
- with ``registry.certificate_arn`` and ``registry.domain_name`` (resolved by a private hosted
  zone in the VPC), through an internal load balancer in the isolated subnets that terminates TLS
  on 443 (port 80 only redirects) and health-checks ``/health``; the tracking URI is
  ``https://<domain_name>``. ACM cannot issue a certificate for a name the stack makes up, so
  TLS needs a name of the user's.

``/health`` is the one unauthenticated path; the container's health check polls it either way.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Annotations, DefaultStackSynthesizer, Duration, RemovalPolicy, Stack
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_ecs_patterns as ecs_patterns
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_servicediscovery as servicediscovery
from cdklabs.deploy_time_build import ContainerImageBuild
from constructs import Construct

from infra import constants
from infra.config import ModelwatchConfig
from infra.constructs.log_retention import retention_days
from infra.constructs.mlflow_database import MlflowDatabase
from infra.constructs.mlflow_network import MlflowNetwork
from infra.constructs.storage import private_bucket
from infra.nag import acknowledge, acknowledge_wildcards, nag_resource


class MlflowServer(Construct):
    """Artifact bucket, secrets, the image built at deploy, the ECS cluster and the Fargate service."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: ModelwatchConfig,
        network: MlflowNetwork,
        database: MlflowDatabase,
        access_logs_bucket: s3.IBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        self._network = network
        self._database = database
        self.artifact_bucket = self._build_artifact_bucket(access_logs_bucket)
        self.admin_secret = self._build_admin_secret()
        self.sync_secret = self._build_sync_secret()
        self.flask_secret_key = self._build_flask_secret_key()
        self.service = self._build_service()
        registry = config.registry
        self.tracking_uri = (
            f"https://{registry.domain_name}"
            if registry.https
            else f"http://{self.cloud_map_name}:{constants.MLFLOW_CONTAINER_PORT}"
        )
        self._build_autoscaling()

    @property
    def cloud_map_namespace(self) -> str:
        """The private DNS namespace of the tasks when there is no load balancer (one per project)."""
        return constants.MLFLOW_CLOUD_MAP_NAMESPACE.format(project=self._config.project.strip("-"))

    @property
    def cloud_map_name(self) -> str:
        """The tasks' private DNS name when there is no load balancer."""
        return f"{constants.MLFLOW_CLOUD_MAP_SERVICE}.{self.cloud_map_namespace}"

    def _build_artifact_bucket(self, access_logs_bucket: s3.IBucket) -> s3.Bucket:
        return private_bucket(
            self,
            "Artifacts",
            access_logs_bucket=access_logs_bucket,
            access_logs_prefix="mlflow-artifacts-bucket/",
            versioned=True,
        )

    def _build_admin_secret(self) -> secretsmanager.Secret:
        secret = secretsmanager.Secret(
            self,
            "AdminSecret",
            description="MLflow basic-auth admin user (created by MLflow on first start)",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=f'{{"username": "{constants.MLFLOW_ADMIN_USER}"}}',
                generate_string_key="password",
                exclude_punctuation=True,
                password_length=32,
            ),
        )
        acknowledge(
            secret,
            "AwsSolutions-SMG4",
            "MLflow keeps its users' password hashes in its own database; the admin password is "
            "changed through MLflow's update-password API, then written here (docs/registry.md).",
        )
        return secret

    def _build_sync_secret(self) -> secretsmanager.Secret:
        secret = secretsmanager.Secret(
            self,
            "SyncSecret",
            description="MLflow basic-auth user of the registry sync (created and kept in line by the "
            "MLflow tasks at start, with the least privilege MLflow can express)",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=f'{{"username": "{constants.MLFLOW_SYNC_USER}"}}',
                generate_string_key="password",
                exclude_punctuation=True,
                password_length=32,
            ),
        )
        acknowledge(
            secret,
            "AwsSolutions-SMG4",
            "The MLflow tasks set the sync user's password from this secret when they start: to "
            "change it, put a new value and force a new deployment of the service (docs/registry.md).",
        )
        return secret

    def _build_flask_secret_key(self) -> secretsmanager.Secret:
        secret = secretsmanager.Secret(
            self,
            "FlaskSecretKey",
            description="MLflow server's static Flask secret key (CSRF protection of the basic-auth app)",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                exclude_punctuation=True, password_length=constants.MLFLOW_FLASK_SECRET_KEY_LENGTH
            ),
        )
        acknowledge(
            secret,
            "AwsSolutions-SMG4",
            "A signing key for CSRF tokens of the MLflow UI's forms, read by the tasks at start; it "
            "protects no stored data, so it is not rotated (a new value and a new deployment replace it).",
        )
        return secret

    def _task_role(self) -> iam.Role:
        role = iam.Role(
            self,
            "TaskRole",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description="MLflow tasks: read and write the artifact bucket, nothing else",
        )
        objects = self.artifact_bucket.arn_for_objects("*")
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], resources=[objects]
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(actions=["s3:ListBucket"], resources=[self.artifact_bucket.bucket_arn])
        )
        acknowledge_wildcards(
            role,
            "MLflow stores run and model artifacts under keys it chooses (<experiment>/<run>/...).",
            resources=(nag_resource(self, objects),),
        )
        return role

    def _build_image(self) -> ecs.ContainerImage:
        """The image, built by CodeBuild at deploy time (an ARM host, linux/arm64) and pushed to ECR."""
        repository = ecr.Repository(
            self,
            "Repository",
            image_scan_on_push=True,
            removal_policy=RemovalPolicy.DESTROY,
            empty_on_delete=True,
            lifecycle_rules=[
                ecr.LifecycleRule(
                    description="Keep the last images only (one per change of infra/docker/mlflow)",
                    max_image_count=constants.MLFLOW_IMAGES_KEPT,
                )
            ],
        )
        build = ContainerImageBuild(
            self,
            "Image",
            directory=str(constants.MLFLOW_DOCKER_DIR),
            build_args={"MLFLOW_VERSION": constants.MLFLOW_VERSION},
            platform=ecr_assets.Platform.custom(constants.MLFLOW_IMAGE_PLATFORM),
            repository=repository,
        )
        self.image_build = build
        self._harden_image_build(build)
        return build.to_ecs_docker_image_code()

    def _harden_image_build(self, build: ContainerImageBuild) -> None:
        """Give the build's CodeBuild project and handler function log groups with retention; nag them.

        Both are singletons the construct adds to the stack (ids with a hash); left alone their logs
        would go to log groups that never expire.
        """
        stack = Stack.of(self)
        children = {child.node.id: child for child in stack.node.children}
        (project,) = [c for i, c in children.items() if i.startswith("ContainerImageBuild")]
        (handler,) = [c for i, c in children.items() if i.startswith("DeployTimeBuildCustomResourceHandler")]
        assert isinstance(project, codebuild.Project) and isinstance(handler, lambda_.Function)
        retention = retention_days(self._config.log_retention_days)
        qualifier = (
            stack.node.try_get_context("@aws-cdk/core:bootstrapQualifier")
            or DefaultStackSynthesizer.DEFAULT_QUALIFIER
        )  # the CDK asset bucket the build reads its source from
        build_logs = logs.LogGroup(
            self,
            "ImageBuildLogs",
            log_group_name=f"/aws/codebuild/{project.project_name}",
            retention=retention,
            removal_policy=RemovalPolicy.DESTROY,
        )
        build.node.add_dependency(build_logs)  # CodeBuild would create it, without retention, on first build
        handler_logs = logs.LogGroup(
            self, "ImageBuildHandlerLogs", retention=retention, removal_policy=RemovalPolicy.DESTROY
        )
        function = handler.node.default_child
        assert isinstance(function, lambda_.CfnFunction)
        function.add_property_override(
            "LoggingConfig", {"LogGroup": handler_logs.log_group_name, "LogFormat": "JSON"}
        )
        acknowledge(
            project,
            "AwsSolutions-CB4",
            "The build has no artifacts: its only output is the image, pushed to ECR (encrypted at rest); "
            "its source is the CDK asset zip in the bootstrap bucket (encrypted at rest).",
        )
        acknowledge(
            project,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonElasticContainerRegistryPublicReadOnly]",
            "Read-only pulls of the Dockerfile's base image from ECR Public (authenticated: higher limits).",
        )
        acknowledge_wildcards(
            project,
            "CodeBuild's own grants to its project: its log streams, its report groups, the CDK asset "
            "bucket's objects (the zipped source; keys are content hashes), and ecr:GetAuthorizationToken, "
            "which has no resource-level permissions.",
            actions=("s3:GetBucket*", "s3:GetObject*", "s3:List*"),
            resources=(
                "*",
                f"arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws/codebuild/"
                f"{nag_resource(self, project.project_name)}:*",
                f"arn:<AWS::Partition>:codebuild:<AWS::Region>:<AWS::AccountId>:report-group/"
                f"{nag_resource(self, project.project_name)}-*",
                f"arn:<AWS::Partition>:s3:::cdk-{qualifier}-assets-<AWS::AccountId>-<AWS::Region>/*",
            ),
        )
        acknowledge(
            handler,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
            "The deploy-time build's handler (runs only at deploy) writes only its own logs.",
        )
        acknowledge(
            handler,
            "AwsSolutions-L1",
            "The runtime (Node.js 22) is set by cdklabs.deploy-time-build for its bundled handler; it runs "
            "only during a deployment and moves with the library's version.",
        )

    def _build_task_definition(self) -> ecs.FargateTaskDefinition:
        registry = self._config.registry
        log_group = logs.LogGroup(
            self,
            "Logs",
            retention=retention_days(self._config.log_retention_days),
            removal_policy=RemovalPolicy.DESTROY,
        )
        task = ecs.FargateTaskDefinition(
            self,
            "Task",
            cpu=registry.task_cpu,
            memory_limit_mib=registry.task_memory_mb,
            task_role=self._task_role(),
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.ARM64,
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
        )
        db = self._database
        task.add_container(
            "mlflow",
            container_name="mlflow",
            image=self._build_image(),
            port_mappings=[ecs.PortMapping(container_port=constants.MLFLOW_CONTAINER_PORT)],
            logging=ecs.LogDrivers.aws_logs(stream_prefix="mlflow", log_group=log_group),
            health_check=ecs.HealthCheck(
                command=[
                    "CMD",
                    "python",
                    "-c",
                    "import urllib.request; urllib.request.urlopen("
                    f"'http://127.0.0.1:{constants.MLFLOW_CONTAINER_PORT}{constants.MLFLOW_HEALTH_PATH}', "
                    "timeout=4)",
                ],
                interval=Duration.seconds(30),
                timeout=Duration.seconds(5),
                retries=3,
                start_period=Duration.seconds(constants.MLFLOW_HEALTH_START_PERIOD_S),
            ),
            environment={
                "DB_HOST": db.instance.db_instance_endpoint_address,
                "DB_PORT": db.instance.db_instance_endpoint_port,
                "DB_NAME": constants.MLFLOW_DATABASE_NAME,
                "ARTIFACTS_DESTINATION": f"s3://{self.artifact_bucket.bucket_name}/artifacts",
                "MLFLOW_AUTH_ADMIN_USERNAME": constants.MLFLOW_ADMIN_USER,
                "ALLOWED_HOSTS": "*",
                "MLFLOW_DISABLE_TELEMETRY": "true",
            },
            secrets={
                "DB_USERNAME": ecs.Secret.from_secrets_manager(db.secret, "username"),
                "DB_PASSWORD": ecs.Secret.from_secrets_manager(db.secret, "password"),
                "MLFLOW_AUTH_ADMIN_PASSWORD": ecs.Secret.from_secrets_manager(self.admin_secret, "password"),
                "MLFLOW_SYNC_USERNAME": ecs.Secret.from_secrets_manager(self.sync_secret, "username"),
                "MLFLOW_SYNC_PASSWORD": ecs.Secret.from_secrets_manager(self.sync_secret, "password"),
                "MLFLOW_FLASK_SERVER_SECRET_KEY": ecs.Secret.from_secrets_manager(self.flask_secret_key),
            },
        )
        return task

    def _build_security_group(self) -> ec2.SecurityGroup:
        """The tasks' group: no ingress yet (added per front door); egress HTTPS and the database only."""
        group = ec2.SecurityGroup(
            self,
            "TaskSecurityGroup",
            vpc=self._network.vpc,
            description="MLflow tasks: the MLflow port from inside the VPC only; out: HTTPS and PostgreSQL",
            allow_all_outbound=False,
        )
        group.add_egress_rule(
            ec2.Peer.any_ipv4(),
            ec2.Port.tcp(443),
            "ECR, CloudWatch Logs, Secrets Manager and S3 (AWS APIs over HTTPS)",
        )
        return group

    def _build_service(self) -> ecs.FargateService:
        registry = self._config.registry
        cluster = ecs.Cluster(
            self,
            "Cluster",
            vpc=self._network.vpc,
            container_insights_v2=(
                ecs.ContainerInsights.ENABLED
                if registry.container_insights
                else ecs.ContainerInsights.DISABLED
            ),
        )
        self.task_definition = self._build_task_definition()
        self.security_group = self._build_security_group()
        common: dict[str, Any] = {
            "cluster": cluster,
            "task_definition": self.task_definition,
            "desired_count": 1,
            "assign_public_ip": True,
            "security_groups": [self.security_group],
            "circuit_breaker": ecs.DeploymentCircuitBreaker(rollback=True),
            "min_healthy_percent": 100,
        }
        if registry.https:
            balanced = ecs_patterns.ApplicationLoadBalancedFargateService(
                self,
                "Service",
                public_load_balancer=False,
                open_listener=False,
                **self._listener_options(),
                task_subnets=self._network.public_subnets,
                health_check_grace_period=Duration.seconds(constants.MLFLOW_HEALTH_START_PERIOD_S),
                **common,
            )
            self._configure_load_balancer(balanced)
            self.load_balancer: ecs_patterns.ApplicationLoadBalancedFargateService | None = balanced
            service = balanced.service
        else:
            Annotations.of(self).add_warning_v2(
                "modelwatch:registry-plain-http",
                "registry.certificate_arn is not set: MLflow listens on plain HTTP at its Cloud Map name "
                f"{self.cloud_map_name}, so basic-auth credentials (the registry sync's and every user's) "
                "cross the VPC unencrypted. Set registry.certificate_arn and registry.domain_name in "
                "cdk.json for HTTPS through an internal load balancer (docs/registry.md).",
            )
            namespace = servicediscovery.PrivateDnsNamespace(
                self,
                "Namespace",
                name=self.cloud_map_namespace,
                vpc=self._network.vpc,
                description="modelwatch registry: MLflow's private DNS name inside the VPC",
            )
            service = ecs.FargateService(
                self,
                "Service",
                vpc_subnets=self._network.public_subnets,
                cloud_map_options=ecs.CloudMapOptions(
                    name=constants.MLFLOW_CLOUD_MAP_SERVICE,
                    cloud_map_namespace=namespace,
                    dns_record_type=servicediscovery.DnsRecordType.A,
                    dns_ttl=Duration.seconds(constants.MLFLOW_DNS_TTL_S),
                    container_port=constants.MLFLOW_CONTAINER_PORT,
                ),
                **common,
            )
            self.load_balancer = None
            self.security_group.add_ingress_rule(
                ec2.Peer.ipv4(constants.MLFLOW_VPC_CIDR),
                ec2.Port.tcp(constants.MLFLOW_CONTAINER_PORT),
                "MLflow clients inside the VPC",
            )
        self._database.instance.connections.allow_default_port_from(service, "MLflow tasks")
        self._acknowledge(service)
        if not registry.container_insights:
            acknowledge(
                cluster,
                "AwsSolutions-ECS4",
                "Container Insights is off by default to keep the registry's idle cost down (its metrics "
                "and performance logs are billed, docs/cost.md); registry.container_insights turns it on. "
                "The service's CPU and memory metrics (AWS/ECS) stay, free.",
            )
        return service

    def _configure_load_balancer(self, balanced: ecs_patterns.ApplicationLoadBalancedFargateService) -> None:
        balanced.target_group.configure_health_check(
            path=constants.MLFLOW_HEALTH_PATH,
            healthy_http_codes="200",
            interval=Duration.seconds(30),
            timeout=Duration.seconds(5),
        )
        ports = [constants.MLFLOW_HTTPS_LISTENER_PORT, constants.MLFLOW_LISTENER_PORT]
        for port in ports:
            balanced.load_balancer.connections.allow_from(
                ec2.Peer.ipv4(self._network.vpc.vpc_cidr_block),
                ec2.Port.tcp(port),
                "MLflow clients inside the VPC" + (" (redirected to HTTPS)" if port != ports[0] else ""),
            )
        acknowledge(
            balanced.load_balancer,
            "AwsSolutions-ELB2",
            "ALB access logs need the stack's region at synth (the stacks are environment-agnostic); "
            "requests are logged by MLflow itself in CloudWatch Logs.",
        )
        acknowledge(
            balanced.load_balancer,
            "AwsSolutions-EC23",
            "The internal load balancer accepts connections only from the VPC's CIDR, not from anywhere.",
        )

    def _listener_options(self) -> dict[str, Any]:
        """HTTPS on 443 with the configured certificate and name, HTTP redirected."""
        registry = self._config.registry
        assert registry.certificate_arn is not None and registry.domain_name is not None
        zone = route53.PrivateHostedZone(
            self,
            "Zone",
            zone_name=registry.domain_name,
            vpc=self._network.vpc,
            comment="MLflow tracking server: the name its TLS certificate covers, inside the registry VPC",
        )
        return {
            "listener_port": constants.MLFLOW_HTTPS_LISTENER_PORT,
            "protocol": elbv2.ApplicationProtocol.HTTPS,
            "certificate": acm.Certificate.from_certificate_arn(
                self, "Certificate", registry.certificate_arn
            ),
            "ssl_policy": elbv2.SslPolicy.RECOMMENDED_TLS,
            "redirect_http": True,
            "domain_name": registry.domain_name,
            "domain_zone": zone,
        }

    def _acknowledge(self, service: ecs.FargateService) -> None:
        acknowledge(
            service.task_definition,
            "AwsSolutions-ECS2",
            "Plain environment variables hold only non-secret settings (host, port, bucket); "
            "passwords come from Secrets Manager as ECS secrets.",
        )
        acknowledge(
            service.task_definition,
            "AwsSolutions-IAM5[Resource::*]",
            "The execution role's ecr:GetAuthorizationToken has no resource-level permissions.",
        )

    def _build_autoscaling(self) -> None:
        scaling = self.service.auto_scale_task_count(
            min_capacity=1, max_capacity=self._config.registry.max_tasks
        )
        scaling.scale_on_cpu_utilization(
            "Cpu",
            target_utilization_percent=constants.MLFLOW_SCALE_CPU_PERCENT,
            scale_in_cooldown=Duration.minutes(5),
            scale_out_cooldown=Duration.minutes(1),
        )
