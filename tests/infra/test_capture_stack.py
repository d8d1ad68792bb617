"""The data/capture stack: secure buckets with lifecycle, a stream per kind partitioned by model, the DLQ."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from infra.assembly import Assembly

pytestmark = pytest.mark.infra

MODELS = [
    {"name": "fraud_detection", "flavor": "sklearn", "dedicated": True},
    {"name": "churn.v2", "flavor": "onnx", "dedicated": True},
]


@pytest.fixture(scope="module")
def assembly(assembly_factory: Callable[..., Assembly]) -> Assembly:
    return assembly_factory({"models": MODELS, "tags": {"team": "ml"}, "events_retention_days": 400})


@pytest.fixture(scope="module")
def template(assembly: Assembly) -> Template:
    return Template.from_stack(assembly.capture)


def _resources(template: Template, kind: str) -> dict[str, Any]:
    return template.find_resources(kind)


def _bucket_id(template: Template, construct_path_part: str) -> str:
    ids = [
        i for i in _resources(template, "AWS::S3::Bucket") if i.startswith(f"Storage{construct_path_part}")
    ]
    assert len(ids) == 1, ids
    return ids[0]


def test_every_bucket_is_encrypted_private_and_ssl_only(template: Template) -> None:
    buckets = _resources(template, "AWS::S3::Bucket")
    assert len(buckets) == 3
    for bucket in buckets.values():
        props = bucket["Properties"]
        assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
            "ServerSideEncryptionByDefault"
        ]["SSEAlgorithm"] in ("AES256", "aws:kms")
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
    policies = _resources(template, "AWS::S3::BucketPolicy")
    secured = {
        policy["Properties"]["Bucket"]["Ref"]
        for policy in policies.values()
        if any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            for s in policy["Properties"]["PolicyDocument"]["Statement"]
        )
    }
    assert secured == set(buckets)


def test_events_bucket_tiers_and_expires_events_labels_and_rejected(template: Template) -> None:
    rules = _resources(template, "AWS::S3::Bucket")[_bucket_id(template, "Events")]["Properties"][
        "LifecycleConfiguration"
    ]["Rules"]
    by_prefix = {rule.get("Prefix"): rule for rule in rules}

    assert by_prefix["events/"]["Transitions"] == [{"StorageClass": "STANDARD_IA", "TransitionInDays": 30}]
    assert by_prefix["events/"]["ExpirationInDays"] == 400
    for tiered in ("labels/", "profiles/"):  # labels and the profiles of events follow the events
        assert by_prefix[tiered]["Transitions"] == by_prefix["events/"]["Transitions"]
        assert by_prefix[tiered]["ExpirationInDays"] == 400
    assert by_prefix["rejected/"]["ExpirationInDays"] == 90
    # the capture replay's claims outlive the capture DLQ's messages (14 days), by a day
    assert by_prefix["state/capture_replay/"]["ExpirationInDays"] == 15
    assert by_prefix[None]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}


def test_models_bucket_is_versioned_and_logs_access(template: Template) -> None:
    props = _resources(template, "AWS::S3::Bucket")[_bucket_id(template, "Models")]["Properties"]

    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["LoggingConfiguration"]["DestinationBucketName"] == {
        "Ref": _bucket_id(template, "AccessLogs")
    }


def _streams(template: Template) -> dict[str, dict[str, Any]]:
    streams = _resources(template, "AWS::KinesisFirehose::DeliveryStream")
    return {
        s["Properties"]["ExtendedS3DestinationConfiguration"]["Prefix"]: s["Properties"]
        for s in streams.values()
    }


EVENTS_PREFIX = "events/model=!{partitionKeyFromQuery:model}/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/"
REJECTED_PREFIX = (
    "rejected/model=!{partitionKeyFromQuery:model}/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/"
)
LABELS_PREFIX = "labels/model=!{partitionKeyFromQuery:model}/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/"
KIND_OF_PREFIX = {EVENTS_PREFIX: "events", REJECTED_PREFIX: "rejected", LABELS_PREFIX: "labels"}


def test_one_stream_of_each_kind_for_every_model(template: Template) -> None:
    streams = _streams(template)

    assert set(streams) == set(KIND_OF_PREFIX)
    for prefix, kind in KIND_OF_PREFIX.items():
        destination = streams[prefix]["ExtendedS3DestinationConfiguration"]
        assert destination["ErrorOutputPrefix"] == (
            f"errors/{kind}/!{{firehose:error-output-type}}/dt=!{{timestamp:yyyy-MM-dd}}/"
        )


def _processors(destination: dict[str, Any]) -> dict[str, dict[str, str]]:
    processing = destination["ProcessingConfiguration"]
    assert processing["Enabled"] is True
    return {
        p["Type"]: {q["ParameterName"]: q["ParameterValue"] for q in p["Parameters"]}
        for p in processing["Processors"]
    }


@pytest.mark.parametrize("prefix", [EVENTS_PREFIX, REJECTED_PREFIX, LABELS_PREFIX])
def test_every_stream_partitions_each_json_line_by_its_model(template: Template, prefix: str) -> None:
    destination = _streams(template)[prefix]["ExtendedS3DestinationConfiguration"]

    assert destination["DynamicPartitioningConfiguration"]["Enabled"] is True
    processors = _processors(destination)
    # Serving packs a request's lines into one record: split it back into lines first, ...
    assert [p["Type"] for p in destination["ProcessingConfiguration"]["Processors"]] == [
        "RecordDeAggregation",
        "MetadataExtraction",
        "AppendDelimiterToRecord",
    ]
    assert processors["RecordDeAggregation"] == {"SubRecordType": "JSON"}
    # ... read each line's model with JQ, ...
    assert processors["MetadataExtraction"]["JsonParsingEngine"] == "JQ-1.6"
    # ... and keep lines as lines in S3 (a newline after each record).
    assert processors["AppendDelimiterToRecord"] == {}
    # Dynamic partitioning needs a buffer of 64 MiB at least.
    assert destination["BufferingHints"] == {"IntervalInSeconds": 60, "SizeInMBs": 64}


def test_events_and_labels_partition_on_the_model_and_rejections_of_unserved_names_share_one(
    template: Template,
) -> None:
    from modelwatch.contracts import layout

    streams = _streams(template)

    def query(prefix: str) -> str:
        return _processors(streams[prefix]["ExtendedS3DestinationConfiguration"])["MetadataExtraction"][
            "MetadataExtractionQuery"
        ]

    assert query(EVENTS_PREFIX) == query(LABELS_PREFIX) == '{"model":.model}'  # JQ for {model: .model}
    rejected = query(REJECTED_PREFIX)
    # The very text the layout's unit tests run through jq 1.6 against layout.partition_model.
    assert rejected == layout.partition_extraction_query("rejected")
    assert (
        rejected.startswith('{"model":(if ') and '"_unrouted"' in rejected and '"unknown_model"' in rejected
    )


def test_streams_compress_log_and_encrypt(template: Template) -> None:
    for props in _streams(template).values():
        destination = props["ExtendedS3DestinationConfiguration"]
        assert props["DeliveryStreamType"] == "DirectPut"
        assert props["DeliveryStreamEncryptionConfigurationInput"] == {"KeyType": "AWS_OWNED_CMK"}
        assert destination["CompressionFormat"] == "GZIP"
        assert destination["CloudWatchLoggingOptions"]["Enabled"] is True
        assert destination["BucketARN"] == {"Fn::GetAtt": [_bucket_id(template, "Events"), "Arn"]}


def test_the_capture_stack_does_not_grow_with_models() -> None:
    import aws_cdk as cdk

    from infra.assembly import cdk_json_context
    from infra.config import parse_config
    from infra.stacks.capture_stack import CaptureStack

    def resources(models: int) -> dict[str, int]:
        context = cdk_json_context()  # cdk.json's feature flags; the capture stack alone bundles nothing
        settings = {
            **context["modelwatch"],
            "models": [{"name": f"m{i}", "flavor": "sklearn", "dedicated": True} for i in range(models)],
        }
        app = cdk.App(context=context)
        config = parse_config(settings)
        stack = CaptureStack(app, "Capture", config=config)
        counts: dict[str, int] = {}
        for resource in Template.from_stack(stack).to_json()["Resources"].values():
            counts[resource["Type"]] = counts.get(resource["Type"], 0) + 1
        return counts

    one, hundred = resources(1), resources(100)

    assert one == hundred
    assert hundred["AWS::KinesisFirehose::DeliveryStream"] == 3


def test_capture_dlq_is_encrypted_ssl_only_and_keeps_14_days(template: Template) -> None:
    template.has_resource_properties(
        "AWS::SQS::Queue",
        {
            "QueueName": "modelwatch-capture-dlq",
            "SqsManagedSseEnabled": True,
            "MessageRetentionPeriod": 1209600,
        },
    )
    template.has_resource_properties(
        "AWS::SQS::QueuePolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
                        )
                    ]
                )
            }
        },
    )


def test_outputs_name_buckets_and_dlq(template: Template) -> None:
    assert {"EventsBucketName", "ModelsBucketName", "CaptureDlqUrl", "EventsStreamName"} <= set(
        template.find_outputs("*")
    )


def test_attributes_expose_the_three_streams(assembly: Assembly) -> None:
    capture = assembly.capture
    assert capture.capture_streams == [capture.events_stream, capture.rejected_stream, capture.labels_stream]


def test_resources_are_tagged(template: Template) -> None:
    for kind in ("AWS::S3::Bucket", "AWS::SQS::Queue", "AWS::KinesisFirehose::DeliveryStream"):
        for resource in _resources(template, kind).values():
            tags = {tag["Key"]: tag["Value"] for tag in resource["Properties"]["Tags"]}
            assert tags["project"] == "modelwatch"
            assert tags["team"] == "ml"


def _allowed_statements(template: Template) -> list[tuple[str, dict[str, Any]]]:
    """Every Allow statement of the stack's IAM policies, with the role(s) it is attached to."""
    found: list[tuple[str, dict[str, Any]]] = []
    for policy in _resources(template, "AWS::IAM::Policy").values():
        roles = json.dumps(policy["Properties"].get("Roles", []))
        found += [(roles, s) for s in policy["Properties"]["PolicyDocument"]["Statement"]]
    for logical_id, role in _resources(template, "AWS::IAM::Role").items():
        for inline in role["Properties"].get("Policies", []):
            found += [(logical_id, s) for s in inline["PolicyDocument"]["Statement"]]
    return [(owner, s) for owner, s in found if s["Effect"] == "Allow"]


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return action if isinstance(action, list) else [action]


def test_no_capture_role_may_delete_an_object(template: Template) -> None:
    statements = _allowed_statements(template)
    managed = {
        json.dumps(arn)
        for role in _resources(template, "AWS::IAM::Role").values()
        for arn in role["Properties"].get("ManagedPolicyArns", [])
    }

    assert statements
    for owner, statement in statements:
        for action in _actions(statement):
            for forbidden in ("s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutLifecycleConfiguration"):
                assert not fnmatch.fnmatchcase(forbidden, action), (owner, action)
    # The one managed policy (CDK's bucket-notifications handler) writes logs only.
    assert all("service-role/AWSLambdaBasicExecutionRole" in arn for arn in managed), managed


def _delivery_policies(template: Template) -> dict[str, list[dict[str, Any]]]:
    streams = _resources(template, "AWS::KinesisFirehose::DeliveryStream")
    roles = {
        s["Properties"]["ExtendedS3DestinationConfiguration"]["Prefix"]: s["Properties"][
            "ExtendedS3DestinationConfiguration"
        ]["RoleARN"]["Fn::GetAtt"][0]
        for s in streams.values()
    }
    policies = _resources(template, "AWS::IAM::Policy").values()
    return {
        prefix: [
            statement
            for policy in policies
            if {"Ref": role} in policy["Properties"]["Roles"]
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        ]
        for prefix, role in roles.items()
    }


def test_each_stream_delivers_with_its_own_role_limited_to_what_firehose_needs(template: Template) -> None:
    events = _bucket_id(template, "Events")
    by_stream = _delivery_policies(template)

    assert len(by_stream) == 3
    assert len({json.dumps(s, sort_keys=True) for s in by_stream.values()}) == 3  # one role each
    for prefix, statements in by_stream.items():
        actions = {a for s in statements for a in _actions(s)}
        assert actions == {
            "s3:PutObject",
            "s3:GetObject",
            "s3:AbortMultipartUpload",
            "s3:GetBucketLocation",
            "s3:ListBucket",
            "s3:ListBucketMultipartUploads",
            "logs:CreateLogStream",
            "logs:PutLogEvents",
        }, prefix
        (objects,) = [s for s in statements if "s3:PutObject" in _actions(s)]
        assert sorted(_actions(objects)) == ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"]
        keys = sorted(part["Fn::Join"][1][1] for part in objects["Resource"])
        assert all(part["Fn::Join"][1][0] == {"Fn::GetAtt": [events, "Arn"]} for part in objects["Resource"])
        static = prefix.split("!{", 1)[0]
        assert f"/{static}*" in keys, (prefix, keys)
        (errors,) = [k for k in keys if k != f"/{static}*"]
        assert errors.startswith("/errors/") and errors.endswith("/*") and "!{" not in errors
        (bucket,) = [s for s in statements if "s3:ListBucket" in _actions(s)]
        assert bucket["Resource"] == {"Fn::GetAtt": [events, "Arn"]}


def test_delivery_role_prefixes_come_from_the_layout(template: Template) -> None:
    from modelwatch.contracts import layout

    by_stream = _delivery_policies(template)
    for kind in layout.CAPTURE_KINDS:
        statements = by_stream[layout.firehose_prefix(kind)]
        (objects,) = [s for s in statements if "s3:PutObject" in _actions(s)]
        keys = {part["Fn::Join"][1][1].lstrip("/") for part in objects["Resource"]}

        # Every model's records of its kind and only them: <kind>/model=*, and the stream's errors.
        assert keys == {f"{kind}/model=*", f"errors/{kind}/*"}
