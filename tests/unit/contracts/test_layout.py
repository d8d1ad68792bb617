"""The layout of both buckets, pinned: every key the platform reads or writes, and the partitions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from modelwatch.contracts import layout


def test_every_captured_kind_lands_under_one_prefix_per_model() -> None:
    assert layout.capture_prefix("events", "fraud") == "events/model=fraud/"
    assert layout.events_prefix("fraud") == "events/model=fraud/"
    assert layout.capture_prefix("rejected", "fraud") == "rejected/model=fraud/"
    assert layout.capture_prefix("labels", "fraud") == "labels/model=fraud/"
    assert layout.kind_prefix("rejected") == "rejected/" and layout.kind_prefix("labels") == "labels/"
    for kind in layout.CAPTURE_KINDS:
        assert layout.capture_prefix(kind, "m").startswith(layout.kind_prefix(kind))
        with pytest.raises(ValueError, match="per model"):
            layout.capture_prefix(kind, "")


def test_firehose_prefixes_partition_by_model_delivery_day_and_hour_and_errors_by_type() -> None:
    # One stream of each kind for every model: dynamic partitioning reads the model from each record.
    for kind in layout.CAPTURE_KINDS:
        assert layout.firehose_prefix(kind) == (
            f"{kind}/model=!{{partitionKeyFromQuery:model}}/dt=!{{timestamp:yyyy-MM-dd}}/hour=!{{timestamp:HH}}/"
        )
    assert layout.PARTITION_KEY == "model"
    assert layout.PARTITION_QUERIES["events"] == ".model" and layout.PARTITION_QUERIES["labels"] == ".model"
    assert set(layout.PARTITION_QUERIES) == set(layout.CAPTURE_KINDS)
    assert (
        layout.firehose_error_prefix("events")
        == "errors/events/!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/"
    )
    assert (
        layout.firehose_error_prefix("rejected")
        == "errors/rejected/!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/"
    )


@pytest.mark.parametrize("kind", ["events", "rejected", "labels"])
def test_an_evaluated_firehose_prefix_is_the_models_capture_prefix(kind: layout.CaptureKind) -> None:
    hour = datetime(2026, 11, 26, 7, tzinfo=UTC)
    evaluated = (
        layout.firehose_prefix(kind)
        .replace("!{partitionKeyFromQuery:model}", "churn.v2")
        .replace("!{timestamp:yyyy-MM-dd}", "2026-11-26")
        .replace("!{timestamp:HH}", "07")
    )

    assert evaluated == layout.capture_prefix(kind, "churn.v2") + layout.hour_partition(hour)
    assert layout.partitioned_key(kind, hour, "o-1", "churn.v2") == evaluated + "o-1"


def test_a_capture_partition_is_the_models_hour_below_the_kinds_prefix() -> None:
    hour = datetime(2026, 11, 26, 7, tzinfo=UTC)
    for kind in layout.CAPTURE_KINDS:
        key = layout.partitioned_key(kind, hour, "o", "churn.v2")
        assert (
            key == layout.kind_prefix(kind) + layout.capture_partition("churn.v2", "2026-11-26", "07") + "o"
        )
    template = layout.capture_partition("${model}", "${dt}", "${hour}")
    assert template == "model=${model}/dt=${dt}/hour=${hour}/"


@pytest.mark.parametrize(
    ("key", "hour"),
    [
        (
            "events/model=m/dt=2026-11-26/hour=07/stream-1-2026-11-26-07-59-00-abc.gz",
            datetime(2026, 11, 26, 7, tzinfo=UTC),
        ),
        ("events/model=m/2026/11/26/07/stream-1-2026-11-26-07-59-00-abc", None),  # moto's, never kept
        ("events/model=m/unpartitioned-object", None),
    ],
)
def test_delivery_hour_reads_the_firehose_layout(key: str, hour: datetime | None) -> None:
    assert layout.delivery_hour(key) == hour


def test_hourly_prefixes_cover_every_hour() -> None:
    start = datetime(2027, 1, 15, 7, 40, tzinfo=UTC)
    end = datetime(2027, 1, 15, 8, 5, tzinfo=UTC)

    prefixes = list(layout.hourly_prefixes("rejected/model=m/", start, end))

    assert prefixes == ["rejected/model=m/dt=2027-01-15/hour=07/", "rejected/model=m/dt=2027-01-15/hour=08/"]
    for prefix in prefixes:
        assert layout.delivery_hour(prefix + "object") is not None


def test_local_deliveries_are_re_laid_at_the_keys_firehose_uses() -> None:
    delivered = "local-delivery/events/2026/11/26/07/modelwatch-events-1-2026-11-26-07-59-00-abc"
    hour = datetime(2026, 11, 26, 7, tzinfo=UTC)

    assert layout.local_delivery_prefix("events") == "local-delivery/events/"
    assert delivered.startswith(layout.local_delivery_prefix("events"))
    assert layout.parse_local_delivery(delivered) == (
        "events",
        hour,
        "modelwatch-events-1-2026-11-26-07-59-00-abc",
    )
    assert layout.parse_local_delivery("local-delivery/labels/2026/11/26/07/o") == ("labels", hour, "o")
    for foreign in ("local-delivery/other/2026/11/26/07/o", "events/model=m/dt=2026-11-26/hour=07/o"):
        assert layout.parse_local_delivery(foreign) is None
    assert layout.partitioned_key("rejected", hour, "o", "m") == "rejected/model=m/dt=2026-11-26/hour=07/o"
    assert layout.partition_error_key("events", layout.PARTITIONING_FAILED, hour, "o") == (
        "errors/events/partitioning-failed/dt=2026-11-26/o"
    )
    # the error key is under the events stream's error prefix, as Firehose's would be
    static = layout.firehose_error_prefix("events").split("!{", 1)[0]
    assert layout.partition_error_key("events", "x", hour, "o").startswith(static)


def test_monitoring_keys_of_the_events_bucket() -> None:
    key = "events/model=fraud/dt=2026-11-26/hour=07/o1.gz"
    assert layout.profile_key(key) == "profiles/events/model=fraud/dt=2026-11-26/hour=07/o1.gz.json"
    assert layout.report_prefix("drift", "fraud", "2026-11-26T09:00Z") == (
        "reports/model=fraud/job=drift/window=2026-11-26T09:00Z/"
    )
    assert layout.result_key("drift", "fraud", "2026-11-26T09:00Z").endswith(
        "window=2026-11-26T09:00Z/result.json"
    )
    assert layout.report_page_key("quality", "fraud", "W", "3") == (
        "reports/model=fraud/job=quality/window=W/report-version=3.html"
    )
    assert layout.METRICS_EXPORT_STATE_KEY == "state/metrics_export/serving.json"
    assert layout.replay_claim_key("9f2c") == "state/capture_replay/claims/9f2c.json"
    assert layout.replay_claim_key("9f2c").startswith(layout.CAPTURE_REPLAY_PREFIX)


def test_keys_of_the_models_bucket() -> None:
    assert layout.manifest_key("fraud", "production") == "manifests/fraud/production.json"
    assert layout.manifest_key("fraud", "staging", prefix="/serving/") == "serving/fraud/staging.json"
    assert layout.model_file_key("fraud", "3", "onnx") == "models/fraud/3/model.onnx"
    assert layout.model_file_key("fraud", "3", "sklearn") == "models/fraud/3/model.joblib"
    assert layout.version_manifest_key("fraud", "3") == "models/fraud/3/manifest.json"
    assert layout.reference_profile_key("fraud", "3") == "models/fraud/3/reference_profile.json"
    assert layout.artifact_key("fraud", "3", "x.bin") == "models/fraud/3/x.bin"


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3://bucket/models/fraud/1/model.joblib", ("bucket", "models/fraud/1/model.joblib")),
        ("s3://b/k", ("b", "k")),
    ],
)
def test_split_s3_uri_round_trips_s3_uri(uri: str, expected: tuple[str, str]) -> None:
    assert layout.split_s3_uri(uri) == expected
    assert layout.s3_uri(*expected) == uri


@pytest.mark.parametrize("uri", ["https://b/k", "s3://bucket", "s3://bucket/", "/local/path"])
def test_split_s3_uri_rejects_what_is_not_an_object_uri(uri: str) -> None:
    with pytest.raises(ValueError, match="not an s3://bucket/key URI"):
        layout.split_s3_uri(uri)
