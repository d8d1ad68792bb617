"""Buckets of the data plane: captured events, models (manifests + artifacts), and their access logs."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra import constants
from infra.config import ModelwatchConfig
from infra.nag import acknowledge
from modelwatch.contracts import layout


def private_bucket(
    scope: Construct,
    construct_id: str,
    *,
    access_logs_bucket: s3.IBucket,
    access_logs_prefix: str,
    lifecycle_rules: list[s3.LifecycleRule] | None = None,
    versioned: bool = False,
    event_bridge_enabled: bool = False,
) -> s3.Bucket:
    """A data bucket as every modelwatch bucket is: SSE-S3, no public access, TLS only, access
    logged, incomplete multipart uploads aborted, retained when the stack is deleted."""
    return s3.Bucket(
        scope,
        construct_id,
        encryption=s3.BucketEncryption.S3_MANAGED,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        server_access_logs_bucket=access_logs_bucket,
        server_access_logs_prefix=access_logs_prefix,
        lifecycle_rules=[
            *(lifecycle_rules or []),
            s3.LifecycleRule(
                id="abort-incomplete-multipart-uploads",
                abort_incomplete_multipart_upload_after=Duration.days(
                    constants.ABORT_INCOMPLETE_UPLOADS_AFTER_DAYS
                ),
            ),
        ],
        removal_policy=RemovalPolicy.RETAIN,
        versioned=versioned,
        event_bridge_enabled=event_bridge_enabled,
    )


class Storage(Construct):
    """The events bucket, the models bucket and the server-access-logs bucket they log to."""

    def __init__(self, scope: Construct, construct_id: str, *, config: ModelwatchConfig) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        self.access_logs_bucket = self._build_access_logs_bucket()
        self.events_bucket = self._build_events_bucket()
        self.models_bucket = self._build_models_bucket()

    def _build_access_logs_bucket(self) -> s3.Bucket:
        bucket = s3.Bucket(
            self,
            "AccessLogs",
            # S3 server access logging delivers only to SSE-S3 buckets.
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-access-logs",
                    expiration=Duration.days(constants.ACCESS_LOGS_RETENTION_DAYS),
                    abort_incomplete_multipart_upload_after=Duration.days(
                        constants.ABORT_INCOMPLETE_UPLOADS_AFTER_DAYS
                    ),
                )
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(
            bucket,
            "AwsSolutions-S1",
            "This is the server-access-logs bucket; logging it to itself would loop.",
        )
        return bucket

    def _build_events_bucket(self) -> s3.Bucket:
        return private_bucket(
            self,
            "Events",
            access_logs_bucket=self.access_logs_bucket,
            access_logs_prefix="events-bucket/",
            # Object Created events go to EventBridge, where the monitoring stack's rule
            # starts the profile function (no cross-stack bucket notification).
            event_bridge_enabled=True,
            lifecycle_rules=[
                *(
                    s3.LifecycleRule(
                        id=f"{prefix.strip('/')}-tiering-and-expiry",
                        prefix=prefix,
                        transitions=[
                            s3.Transition(
                                storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                                transition_after=Duration.days(constants.EVENTS_INFREQUENT_ACCESS_AFTER_DAYS),
                            )
                        ],
                        expiration=Duration.days(self._config.events_retention_days),
                    )
                    # Captured events, their labels, and the per-object profiles made from them.
                    for prefix in (
                        layout.EVENTS_PREFIX,
                        layout.LABELS_PREFIX,
                        layout.PROFILES_PREFIX,
                    )
                ),
                s3.LifecycleRule(
                    id="rejected-expiry",
                    prefix=layout.REJECTED_PREFIX,
                    expiration=Duration.days(self._config.rejected_retention_days),
                ),
                # Athena's query results: read once by the query's caller, then only clutter.
                s3.LifecycleRule(
                    id="query-results-expiry",
                    prefix=layout.QUERY_RESULTS_PREFIX,
                    expiration=Duration.days(constants.QUERY_RESULTS_RETENTION_DAYS),
                ),
                # The capture replay's claims: kept until no message they could match can come back.
                s3.LifecycleRule(
                    id="capture-replay-claims-expiry",
                    prefix=layout.CAPTURE_REPLAY_PREFIX,
                    expiration=Duration.days(constants.CAPTURE_REPLAY_CLAIMS_RETENTION_DAYS),
                ),
            ],
        )

    def _build_models_bucket(self) -> s3.Bucket:
        return private_bucket(
            self,
            "Models",
            access_logs_bucket=self.access_logs_bucket,
            access_logs_prefix="models-bucket/",
            versioned=True,
            # Manifest writes go to EventBridge, where the serving stack's rule starts the
            # model-routes function (a route per model of a non-default flavour).
            event_bridge_enabled=True,
        )
