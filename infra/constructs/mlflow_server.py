"""The MLflow tracking server: Fargate tasks behind an internal ALB, artifacts in S3, basic auth.

The container image is built at deploy time from ``infra/docker/mlflow`` (pinned MLflow);
synthesis only stages the directory. MLflow's basic-auth app refuses anonymous requests.
Three generated secrets reach the tasks as ECS secrets (never as plain environment or in
the template): the initial admin password (``MlflowAdminSecretArn``), the registry sync's
user (created at each start by the image's entrypoint, with least privilege) and the static
Flask secret key the auth app's CSRF protection needs, the same in every task and worker.
The load balancer is internal (reachable from the VPC only); ``/health`` is its health
check and the one unauthenticated path. With ``registry.certificate_arn`` (and
``registry.domain_name``, resolved by a private hosted zone in the VPC) it terminates TLS
on 443, port 80 only redirects there, and the tracking URI is ``https://<domain_name>``.
Without one it listens on plain HTTP and the synthesis warns: ACM cannot issue a
certificate for the load balancer's own name, so the default deployment has none.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Annotations, Duration, RemovalPolicy
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_ecs_patterns as ecs_patterns
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra import constants
from infra.config import ModelwatchConfig
from infra.constructs.log_retention import retention_days
from infra.constructs.mlflow_database import MlflowDatabase
from infra.constructs.mlflow_network import MlflowNetwork
from infra.constructs.storage import private_bucket
from infra.nag import acknowledge, acknowledge_wildcards, nag_resource


class MlflowServer(Construct):
    """Artifact bucket, admin secret, ECS cluster and the load-balanced Fargate service."""

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
            else f"http://{self.service.load_balancer.load_balancer_dns_name}"
        )
        self._build_autoscaling()

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

    def _build_service(self) -> ecs_patterns.ApplicationLoadBalancedFargateService:
        registry = self._config.registry
        cluster = ecs.Cluster(
            self,
            "Cluster",
            vpc=self._network.vpc,
            container_insights_v2=ecs.ContainerInsights.ENABLED,
        )
        log_group = logs.LogGroup(
            self,
            "Logs",
            retention=retention_days(self._config.log_retention_days),
            removal_policy=RemovalPolicy.DESTROY,
        )
        db = self._database
        service = ecs_patterns.ApplicationLoadBalancedFargateService(
            self,
            "Service",
            cluster=cluster,
            cpu=registry.task_cpu,
            memory_limit_mib=registry.task_memory_mb,
            desired_count=1,
            public_load_balancer=False,
            open_listener=False,
            **self._listener_options(),
            task_subnets=self._network.private_subnets,
            circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True),
            min_healthy_percent=100,
            health_check_grace_period=Duration.seconds(120),
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.X86_64,
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
            task_image_options=ecs_patterns.ApplicationLoadBalancedTaskImageOptions(
                image=ecs.ContainerImage.from_asset(
                    str(constants.MLFLOW_DOCKER_DIR),
                    build_args={"MLFLOW_VERSION": constants.MLFLOW_VERSION},
                ),
                container_name="mlflow",
                container_port=constants.MLFLOW_CONTAINER_PORT,
                task_role=self._task_role(),
                log_driver=ecs.LogDrivers.aws_logs(stream_prefix="mlflow", log_group=log_group),
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
                    "MLFLOW_AUTH_ADMIN_PASSWORD": ecs.Secret.from_secrets_manager(
                        self.admin_secret, "password"
                    ),
                    "MLFLOW_SYNC_USERNAME": ecs.Secret.from_secrets_manager(self.sync_secret, "username"),
                    "MLFLOW_SYNC_PASSWORD": ecs.Secret.from_secrets_manager(self.sync_secret, "password"),
                    "MLFLOW_FLASK_SERVER_SECRET_KEY": ecs.Secret.from_secrets_manager(self.flask_secret_key),
                },
            ),
        )
        service.target_group.configure_health_check(
            path=constants.MLFLOW_HEALTH_PATH,
            healthy_http_codes="200",
            interval=Duration.seconds(30),
            timeout=Duration.seconds(5),
        )
        ports = [constants.MLFLOW_LISTENER_PORT]
        if registry.https:
            ports.insert(0, constants.MLFLOW_HTTPS_LISTENER_PORT)
        for port in ports:
            service.load_balancer.connections.allow_from(
                ec2.Peer.ipv4(self._network.vpc.vpc_cidr_block),
                ec2.Port.tcp(port),
                "MLflow clients inside the VPC" + (" (redirected to HTTPS)" if port != ports[0] else ""),
            )
        db.instance.connections.allow_default_port_from(service.service, "MLflow tasks")
        self._acknowledge(service)
        return service

    def _listener_options(self) -> dict[str, Any]:
        """HTTPS on 443 with the configured certificate and name, HTTP redirected; else plain HTTP."""
        registry = self._config.registry
        if registry.certificate_arn is None or registry.domain_name is None:
            Annotations.of(self).add_warning_v2(
                "modelwatch:registry-plain-http",
                "registry.certificate_arn is not set: the MLflow load balancer listens on plain HTTP, so "
                "basic-auth credentials (the registry sync's and every user's) cross the VPC unencrypted. "
                "Set registry.certificate_arn and registry.domain_name in cdk.json (docs/registry.md).",
            )
            return {"listener_port": constants.MLFLOW_LISTENER_PORT}
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

    def _acknowledge(self, service: ecs_patterns.ApplicationLoadBalancedFargateService) -> None:
        acknowledge(
            service.load_balancer,
            "AwsSolutions-ELB2",
            "ALB access logs need the stack's region at synth (the stacks are environment-agnostic); "
            "requests are logged by MLflow itself in CloudWatch Logs.",
        )
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
        acknowledge(
            service.load_balancer,
            "AwsSolutions-EC23",
            "The internal load balancer accepts connections only from the VPC's CIDR, not from anywhere.",
        )

    def _build_autoscaling(self) -> None:
        scaling = self.service.service.auto_scale_task_count(
            min_capacity=1, max_capacity=self._config.registry.max_tasks
        )
        scaling.scale_on_cpu_utilization(
            "Cpu",
            target_utilization_percent=constants.MLFLOW_SCALE_CPU_PERCENT,
            scale_in_cooldown=Duration.minutes(5),
            scale_out_cooldown=Duration.minutes(1),
        )
