"""Firehose streams capturing prediction events, rejections and labels: one stream each, partitioned by model.

Each stream serves every model: Firehose's dynamic partitioning reads each record's model
(JQ ``layout.PARTITION_QUERIES[kind]``, after splitting a PutRecordBatch record back into
its JSON lines and appending a newline to each) and delivers it under
``<kind>/model=<m>/dt=/hour=/``, so adding a model adds no stream, role or log group, and a
job reads only its model's partitions. The rejected stream's query sends a rejection whose
model name was never found to be served (``unknown_model``, no such route, ...) to
``rejected/model=_unrouted/``: names a caller makes up cannot open partitions (500 active a
stream at most). A record it cannot partition (no ``model``, not JSON) goes to
``errors/<kind>/<error type>/``. Dynamic partitioning needs a buffer of 64 MiB at least; the
interval stays 60 s.

Each stream delivers with a role of its own that may do only what Firehose's S3
destination needs (AWS: "Grant Firehose access to an Amazon S3 destination"), on that
stream's prefixes: put, read back and abort multipart uploads of objects under its data
and error prefixes, and locate and list the bucket. It cannot delete an object. The
Firehose L2 would grant read/write (delete included) on the whole bucket; it is handed
the role without policy updates, so its grant is dropped.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, RemovalPolicy, Size
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra import constants
from infra.config import ModelwatchConfig
from infra.constructs.log_retention import retention_days
from infra.nag import acknowledge_wildcards, nag_resource
from modelwatch.contracts import layout


class CaptureStreams(Construct):
    """DirectPut streams writing GZIP JSON lines to the events bucket, partitioned by model and time."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: ModelwatchConfig, events_bucket: s3.IBucket
    ) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        self._events_bucket = events_bucket
        self.events_stream = self._build_partitioned_stream("Events", "events")
        self.rejected_stream = self._build_partitioned_stream("Rejected", "rejected")
        self.labels_stream = self._build_partitioned_stream("Labels", "labels")

    def _build_partitioned_stream(
        self, construct_id: str, kind: layout.CaptureKind
    ) -> firehose.DeliveryStream:
        return self._build_stream(
            construct_id,
            data_prefix=layout.firehose_prefix(kind),
            error_prefix=layout.firehose_error_prefix(kind),
            buffer_mib=constants.FIREHOSE_PARTITIONED_BUFFER_SIZE_MIB,
            processors=_partition_by_model(kind),
        )

    def _build_log_group(self, stream_id: str) -> logs.LogGroup:
        # One group per stream: the L2 destination names its log stream "S3Destination".
        return logs.LogGroup(
            self,
            f"{stream_id}DeliveryErrors",
            retention=retention_days(self._config.log_retention_days),
            removal_policy=RemovalPolicy.DESTROY,
        )

    def _build_role(
        self, stream_id: str, *, data_prefix: str, error_prefix: str, log_group: logs.ILogGroup
    ) -> iam.Role:
        bucket = self._events_bucket
        objects = [bucket.arn_for_objects(f"{_static_part(p)}*") for p in (data_prefix, error_prefix)]
        role = iam.Role(
            self,
            f"{stream_id}DeliveryRole",
            assumed_by=iam.ServicePrincipal("firehose.amazonaws.com"),
            description=f"Firehose {stream_id}: writes its prefixes of the events bucket; deletes nothing",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"], resources=objects
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
                resources=[bucket.bucket_arn],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[log_group.log_group_arn]
            )
        )
        acknowledge_wildcards(
            role,
            "Firehose writes objects under keys it names (model and time partitions and generated object "
            "names) below this stream's static data and error prefixes; the role cannot delete any of them.",
            resources=tuple(nag_resource(self, arn) for arn in objects),
        )
        return role

    def _build_stream(
        self,
        construct_id: str,
        *,
        data_prefix: str,
        error_prefix: str,
        buffer_mib: int,
        processors: Sequence[firehose.IDataProcessor],
    ) -> firehose.DeliveryStream:
        log_group = self._build_log_group(construct_id)
        role = self._build_role(
            construct_id, data_prefix=data_prefix, error_prefix=error_prefix, log_group=log_group
        )
        destination = firehose.S3Bucket(
            self._events_bucket,
            data_output_prefix=data_prefix,
            error_output_prefix=error_prefix,
            compression=firehose.Compression.GZIP,
            buffering_interval=Duration.seconds(constants.FIREHOSE_BUFFER_INTERVAL_S),
            buffering_size=Size.mebibytes(buffer_mib),
            logging_config=firehose.EnableLogging(log_group),
            # The L2 grants read/write on the bucket to its destination role: not to this one.
            role=role.without_policy_updates(),
            dynamic_partitioning=firehose.DynamicPartitioningProps(enabled=True),
            processors=list(processors),
        )
        stream = firehose.DeliveryStream(
            self,
            construct_id,
            destination=destination,
            encryption=firehose.StreamEncryption.aws_owned_key(),
        )
        stream.node.add_dependency(role)  # the policy exists before the stream first delivers
        return stream


def _partition_by_model(kind: layout.CaptureKind) -> list[firehose.IDataProcessor]:
    """Split each record into its JSON lines, read each line's partition model, keep lines as lines in S3.

    Serving packs a request's lines into as few records as the 1,000 KiB limit allows
    (``stores.capture.pack_lines``); partitioning applies to deaggregated records only, and
    deaggregated records are written back to back unless a delimiter is appended.
    """
    return [
        firehose.RecordDeAggregationProcessor.json(),
        firehose.MetadataExtractionProcessor.jq16({layout.PARTITION_KEY: layout.PARTITION_QUERIES[kind]}),
        firehose.AppendDelimiterToRecordProcessor(),
    ]


def _static_part(prefix: str) -> str:
    """A Firehose prefix up to its first expression (``!{...}``): what every key starts with."""
    return prefix.split("!{", 1)[0]
