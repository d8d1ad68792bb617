"""Monitoring functions: profile (per delivered object) and the scheduled drift, quality, performance jobs."""

from __future__ import annotations

import json
from collections.abc import Mapping

from aws_cdk import Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import bundling, constants
from infra.config import ModelwatchConfig
from infra.constructs.python_function import build_python_function
from infra.nag import acknowledge_wildcards, nag_resource
from modelwatch.contracts import layout


class MonitoringFunctions(Construct):
    """Functions that read captured events and write results under ``reports/`` of the events bucket.

    Each may read the events bucket's ``events/``, ``rejected/``, ``labels/`` and
    ``profiles/``, write ``profiles/`` and ``reports/``, read the models bucket's
    ``models/`` (version manifests and reference profiles), and put events on the
    platform bus. Failed invocations are retried, then sent to the monitoring DLQ.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: ModelwatchConfig,
        layer: lambda_.ILayerVersion,
        events_bucket: s3.IBucket,
        models_bucket: s3.IBucket,
        platform_bus: events.IEventBus,
        dead_letter_queue: sqs.IQueue,
        extra_environment: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        self._layer = layer
        self._events_bucket = events_bucket
        self._models_bucket = models_bucket
        self._bus = platform_bus
        self._dlq = dead_letter_queue
        self._extra_environment = dict(extra_environment or {})
        self.profile_function = self._build_function("profile", constants.PROFILE_TIMEOUT_S)
        self.job_functions = {
            job: self._build_function(job, constants.MONITORING_TIMEOUT_S)
            for job in constants.MONITORING_JOBS
        }
        self._build_object_created_rule()
        self._build_schedules()

    def _environment(self) -> dict[str, str]:
        monitoring = self._config.monitoring
        environment = {
            "MODELWATCH_EVENTS_BUCKET": self._events_bucket.bucket_name,
            "MODELWATCH_MODELS_BUCKET": self._models_bucket.bucket_name,
            "MODELWATCH_EVENT_BUS_NAME": self._bus.event_bus_name,
            "MODELWATCH_WINDOW_MINUTES": str(monitoring.window_minutes),
            "MODELWATCH_LABEL_LAG_MINUTES": str(monitoring.label_lag_minutes),
            **self._extra_environment,
        }
        if monitoring.drift:
            environment["MODELWATCH_DRIFT_CONFIG"] = json.dumps(monitoring.drift)
        if monitoring.quality_thresholds:
            environment["MODELWATCH_QUALITY_THRESHOLDS"] = json.dumps(monitoring.quality_thresholds)
        if monitoring.performance_thresholds:
            environment["MODELWATCH_PERFORMANCE_THRESHOLDS"] = json.dumps(monitoring.performance_thresholds)
        return environment

    def _build_function(self, name: str, timeout_s: int) -> lambda_.Function:
        spec = bundling.function_spec(
            f"monitoring-{name}",
            self._config.architecture,
            constants.MONITORING_REQUIREMENTS,
            source_dir=constants.FUNCTIONS_DIR / name,
        )
        function = build_python_function(
            self,
            name.title(),
            config=self._config,
            spec=spec,
            code_dir=constants.FUNCTIONS_DIR / name,
            layer=self._layer,
            memory_mb=constants.MONITORING_MEMORY_MB,
            timeout_s=timeout_s,
            description=f"modelwatch monitoring: {name}",
            environment=self._environment(),
            retry_attempts=constants.MONITORING_RETRY_ATTEMPTS,
            on_failure=destinations.SqsDestination(self._dlq),
        )
        self._grant(function)
        return function

    def _grant(self, function: lambda_.Function) -> None:
        events_arn = _bucket_arn(self, self._events_bucket)
        readable = (
            layout.EVENTS_PREFIX,
            layout.REJECTED_PREFIX,
            layout.LABELS_PREFIX,
            layout.PROFILES_PREFIX,
            layout.REPORTS_PREFIX,
        )
        reads = [f"{events_arn}/{p}*" for p in readable]
        writes = [f"{events_arn}/{p}*" for p in (layout.PROFILES_PREFIX, layout.REPORTS_PREFIX)]
        models = [f"{_bucket_arn(self, self._models_bucket)}/{layout.ARTIFACTS_PREFIX}/*"]
        function.add_to_role_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=reads + models))
        function.add_to_role_policy(iam.PolicyStatement(actions=["s3:PutObject"], resources=writes))
        function.add_to_role_policy(iam.PolicyStatement(actions=["s3:ListBucket"], resources=[events_arn]))
        function.add_to_role_policy(
            iam.PolicyStatement(actions=["events:PutEvents"], resources=[self._bus.event_bus_arn])
        )
        acknowledge_wildcards(
            function,
            "Object-level access limited to the monitoring prefixes: read captured events, rejected "
            "requests, labels, profiles and reports; write profiles and reports; read version manifests "
            "and reference profiles. Keys are time-partitioned and not known at deploy time.",
            resources=tuple(nag_resource(self, r) for r in [*reads, *writes, *models]),
        )

    def _build_object_created_rule(self) -> None:
        events.Rule(
            self,
            "EventsObjectCreated",
            description="Profile each events object Firehose delivers",
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=["Object Created"],
                detail={
                    "bucket": {"name": [self._events_bucket.bucket_name]},
                    "object": {"key": [{"prefix": layout.EVENTS_PREFIX}]},
                },
            ),
            targets=[
                targets.LambdaFunction(
                    self.profile_function,
                    retry_attempts=constants.MONITORING_RETRY_ATTEMPTS,
                    dead_letter_queue=self._dlq,
                )
            ],
        )

    def _build_schedules(self) -> None:
        # Schedules live on the default bus; the platform's own events on the platform bus.
        for model in self._config.models:
            minutes = model.monitoring_window_minutes or self._config.monitoring.window_minutes
            for job, function in self.job_functions.items():
                events.Rule(
                    self,
                    f"Schedule{job.title()}{model.id_suffix}",
                    description=f"{job} job of model {model.name}, every {minutes} minutes",
                    schedule=events.Schedule.rate(Duration.minutes(minutes)),
                    targets=[
                        targets.LambdaFunction(
                            function,
                            event=events.RuleTargetInput.from_object(
                                {
                                    "model": model.name,
                                    "time": events.EventField.time,
                                    "window_minutes": minutes,
                                }
                            ),
                            retry_attempts=constants.MONITORING_RETRY_ATTEMPTS,
                            dead_letter_queue=self._dlq,
                        )
                    ],
                )


def _bucket_arn(scope: Construct, bucket: s3.IBucket) -> str:
    """The bucket's ARN, imported explicitly when it lives in another stack.

    Known at construction (unlike CDK's implicit import), so the cdk-nag
    acknowledgment can name the resource exactly; renders the same in the template.
    """
    producer = Stack.of(bucket)
    return bucket.bucket_arn if producer is Stack.of(scope) else producer.export_value(bucket.bucket_arn)
