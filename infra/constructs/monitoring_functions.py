"""Monitoring functions: profile, the job dispatcher, the drift, quality, performance and rollout jobs.

No resource depends on the models: one schedule invokes the dispatcher, which lists the
serving manifests and puts one message per due (model, window) on the queue of each job;
each job's function consumes its queue (``ReportBatchItemFailures``), and a message that
keeps failing moves to the one monitoring dead-letter queue (a redrive policy: no queue
policy statement per model, rule or function).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from aws_cdk import Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import bundling, constants
from infra.config import ModelwatchConfig
from infra.constructs.python_function import build_python_function
from infra.constructs.query_tables import QueryTables
from infra.nag import acknowledge_wildcards, nag_resource
from modelwatch.contracts import layout


class MonitoringFunctions(Construct):
    """Functions that read captured events and write results under ``reports/`` of the events bucket.

    Each may read the events bucket's ``events/``, ``rejected/``, ``labels/`` and
    ``profiles/``, write ``profiles/`` and ``reports/``, read the models bucket's
    ``models/`` (version manifests and reference profiles), and put events on the
    platform bus. Failed invocations are retried, then sent to the monitoring DLQ; so are
    failed queue messages (the queue's redrive policy).
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
        query_tables: QueryTables | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        self._layer = layer
        self._events_bucket = events_bucket
        self._models_bucket = models_bucket
        self._bus = platform_bus
        self._dlq = dead_letter_queue
        self._extra_environment = dict(extra_environment or {})
        self._query_tables = query_tables
        self.profile_function = self._build_function("profile", constants.PROFILE_TIMEOUT_S)
        self.job_functions = {
            job: self._build_function(job, constants.MONITORING_TIMEOUT_S)
            for job in constants.MONITORING_JOBS
        }
        self.job_queues = {
            job: self._build_job_queue(job, function) for job, function in self.job_functions.items()
        }
        self._grant_rollout(self.job_functions[constants.ROLLOUT_JOB])
        self.dispatch_function = self._build_dispatcher()
        self._build_object_created_rule()
        self._build_dispatch_schedule()

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
            environment={**self._environment(), **self._query_environment(name)},
            retry_attempts=constants.MONITORING_RETRY_ATTEMPTS,
            on_failure=destinations.SqsDestination(self._dlq),
        )
        self._grant(function)
        if self._query_tables is not None and name in constants.QUERYING_JOBS:
            self._query_tables.grant_queries(function, function)
        return function

    def _query_environment(self, name: str) -> dict[str, str]:
        """The Athena settings, for the jobs that join in SQL only (the performance job)."""
        if self._query_tables is None or name not in constants.QUERYING_JOBS:
            return {}
        return self._query_tables.environment

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

    def _grant_rollout(self, function: lambda_.Function) -> None:
        """The rollout job also reads and writes the production manifests (it rolls back and advances
        a rollout there) and keeps each rollout's evidence under the events bucket's state."""
        models_arn = _bucket_arn(self, self._models_bucket)
        events_arn = _bucket_arn(self, self._events_bucket)
        manifests = f"{models_arn}/{layout.manifests_prefix()}*"
        # ManifestStore.write also refreshes the version's copy of the manifest.
        version_copies = f"{models_arn}/{layout.ARTIFACTS_PREFIX}/*/{layout.VERSION_MANIFEST_FILE}"
        evidence = f"{events_arn}/{layout.ROLLOUTS_STATE_PREFIX}*"
        function.add_to_role_policy(
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[manifests, evidence])
        )
        function.add_to_role_policy(
            iam.PolicyStatement(actions=["s3:PutObject"], resources=[manifests, version_copies, evidence])
        )
        acknowledge_wildcards(
            function,
            "The rollout job writes the rollout in a model's production manifest (rollback, canary step) "
            "and its evidence document per rollout: models and rollouts are data, their names are not "
            "known at deploy time.",
            resources=tuple(nag_resource(self, r) for r in (manifests, version_copies, evidence)),
        )

    def _build_object_created_rule(self) -> None:
        events.Rule(
            self,
            "EventsObjectCreated",
            description="Profile and count the quality of each events and rejected object Firehose delivers",
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=["Object Created"],
                detail={
                    "bucket": {"name": [self._events_bucket.bucket_name]},
                    "object": {
                        "key": [
                            {"prefix": prefix} for prefix in (layout.EVENTS_PREFIX, layout.REJECTED_PREFIX)
                        ]
                    },
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

    def _build_job_queue(self, job: str, function: lambda_.Function) -> sqs.Queue:
        queue = sqs.Queue(
            self,
            f"{job.title()}Queue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=Duration.seconds(constants.JOB_QUEUE_VISIBILITY_TIMEOUT_S),
            retention_period=Duration.days(constants.MONITORING_DLQ_RETENTION_DAYS),
            dead_letter_queue=sqs.DeadLetterQueue(
                max_receive_count=constants.JOB_QUEUE_MAX_RECEIVE_COUNT, queue=self._dlq
            ),
        )
        function.add_event_source(
            event_sources.SqsEventSource(
                queue,
                batch_size=constants.JOB_QUEUE_BATCH_SIZE,
                max_concurrency=constants.JOB_QUEUE_MAX_CONCURRENCY,
                report_batch_item_failures=True,
            )
        )
        return queue

    def _build_dispatcher(self) -> lambda_.Function:
        name = constants.JOB_DISPATCH_FUNCTION_NAME
        code_dir = constants.FUNCTIONS_DIR / name
        monitoring = self._config.monitoring
        environment = {
            "MODELWATCH_MODELS_BUCKET": self._models_bucket.bucket_name,
            "MODELWATCH_EVENTS_BUCKET": self._events_bucket.bucket_name,
            "MODELWATCH_SERVED_ALIAS": self._config.serving_alias,
            "MODELWATCH_JOB_QUEUE_URLS": json.dumps({job: q.queue_url for job, q in self.job_queues.items()}),
            "MODELWATCH_WINDOW_MINUTES": str(monitoring.window_minutes),
            "MODELWATCH_LABEL_LAG_MINUTES": str(monitoring.label_lag_minutes),
            "MODELWATCH_DISPATCH_EVERY_MINUTES": str(constants.JOB_DISPATCH_EVERY_MINUTES),
            "MODELWATCH_MAX_CATCH_UP_WINDOWS": str(constants.JOB_DISPATCH_MAX_CATCH_UP_WINDOWS),
        }
        function = build_python_function(
            self,
            "JobDispatch",
            config=self._config,
            spec=bundling.function_spec(f"monitoring-{name}", self._config.architecture, source_dir=code_dir),
            code_dir=code_dir,
            layer=self._layer,
            memory_mb=constants.JOB_DISPATCH_MEMORY_MB,
            timeout_s=constants.JOB_DISPATCH_TIMEOUT_S,
            description="modelwatch monitoring: dispatch",
            environment=environment,
            retry_attempts=constants.MONITORING_RETRY_ATTEMPTS,
            on_failure=destinations.SqsDestination(self._dlq),
        )
        models_arn = _bucket_arn(self, self._models_bucket)
        events_arn = _bucket_arn(self, self._events_bucket)
        manifests = f"{models_arn}/{layout.manifests_prefix()}*"
        state = f"{events_arn}/{layout.JOB_DISPATCH_STATE_KEY}"
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[models_arn],
                conditions={"StringLike": {"s3:prefix": [f"{layout.manifests_prefix()}*"]}},
            )
        )
        function.add_to_role_policy(
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[manifests, state])
        )
        function.add_to_role_policy(iam.PolicyStatement(actions=["s3:PutObject"], resources=[state]))
        for queue in self.job_queues.values():
            queue.grant_send_messages(function)
        acknowledge_wildcards(
            function,
            "Reads every serving manifest (models are data: their names are not known at deploy time).",
            resources=(nag_resource(self, manifests),),
        )
        return function

    def _build_dispatch_schedule(self) -> None:
        # The schedule lives on the default bus; the platform's own events on the platform bus.
        minutes = constants.JOB_DISPATCH_EVERY_MINUTES
        events.Rule(
            self,
            "ScheduleJobDispatch",
            description=f"Dispatch the due windows of every model's jobs, every {minutes} minutes",
            schedule=events.Schedule.rate(Duration.minutes(minutes)),
            targets=[
                targets.LambdaFunction(
                    self.dispatch_function,
                    event=events.RuleTargetInput.from_object({"time": events.EventField.time}),
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
