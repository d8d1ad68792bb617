"""``modelwatch capture replay`` against moto in-process: the report, the exit codes, one-line errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

import modelwatch.jobs.capture_replay  # noqa: F401  (imported before sockets are disabled: X-Ray opens one)
from modelwatch.cli import main
from modelwatch.cli.capture import EXIT_REPLAY_INCOMPLETE
from modelwatch.cli.errors import EXIT_USAGE
from modelwatch.contracts.dead_letters import LinesMessage, encode_message
from modelwatch.contracts.events import decode_event_object
from tests.unit.cli.test_cli import assert_one_error_line

BUCKET = "events-bucket"
STREAM = "modelwatch-events-fraud"


@dataclass
class Aws:
    sqs: Any
    s3: Any
    queue_url: str

    def dead_letter(self, stream: str, lines: list[str]) -> None:
        body = encode_message(LinesMessage(stream=stream, reason="ServiceUnavailableException", lines=lines))
        self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=body)

    def delivered(self) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        for item in self.s3.list_objects_v2(Bucket=BUCKET, Prefix="events/").get("Contents", []):
            records += decode_event_object(self.s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read())
        return records

    def depth(self) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"])


@pytest.fixture
def aws() -> Iterator[Aws]:
    import boto3
    from moto import mock_aws

    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        boto3.client("firehose").create_delivery_stream(
            DeliveryStreamName=STREAM,
            ExtendedS3DestinationConfiguration={
                "RoleARN": "arn:aws:iam::123456789012:role/firehose",
                "BucketARN": f"arn:aws:s3:::{BUCKET}",
                "Prefix": "events/model=fraud/",
            },
        )
        sqs = boto3.client("sqs")
        yield Aws(sqs=sqs, s3=s3, queue_url=sqs.create_queue(QueueName="capture-dlq")["QueueUrl"])


def _line(i: int) -> str:
    return json.dumps({"event_id": f"e{i}", "model": "fraud", "prediction": 0.1})


def test_replay_puts_the_events_back_once_and_reports_them_as_json(
    aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    aws.dead_letter(STREAM, [_line(0), _line(1)])
    args = ["capture", "replay", "--queue-url", aws.queue_url, "--events-bucket", BUCKET, "--json"]

    first = main(args)
    report = json.loads(capsys.readouterr().out)
    aws.dead_letter(STREAM, [_line(1)])  # the same event dead-lettered twice
    second = main(args)
    again = json.loads(capsys.readouterr().out)

    assert first == 0 and second == 0
    assert report["replayed"] == {STREAM: 2} and report["deleted"] == 1 and report["messages"] == 1
    assert again["duplicates"] == 1 and again["replayed"] == {}
    assert sorted(r["event_id"] for r in aws.delivered()) == ["e0", "e1"]
    assert aws.depth() == 0


def test_a_dry_run_prints_a_summary_and_leaves_the_queue_as_it_was(
    aws: Aws, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    aws.dead_letter(STREAM, [_line(0), _line(1), _line(2)])
    monkeypatch.setenv("MODELWATCH_EVENTS_BUCKET", BUCKET)

    code = main(["capture", "replay", "--queue-url", aws.queue_url, "--dry-run"])

    out = capsys.readouterr().out
    assert code == 0
    assert "(dry run)" in out and f"lines would replay        3 ({STREAM} 3)" in out
    assert aws.delivered() == [] and aws.depth() == 1  # visible again at once


def test_lines_firehose_refuses_stay_in_the_queue_and_the_exit_code_says_so(
    aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    aws.dead_letter("no-such-stream", [_line(0)])

    code = main(["capture", "replay", "--queue-url", aws.queue_url, "--events-bucket", BUCKET, "--json"])

    report = json.loads(capsys.readouterr().out)
    assert code == EXIT_REPLAY_INCOMPLETE
    assert report["failures"] == 1 and "ResourceNotFoundException" in report["errors"][0]
    assert aws.depth() == 1


def test_lines_dead_lettered_to_a_removed_per_model_stream_are_replayed_into_the_one_stream(
    aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given dead letters of an earlier deployment, naming its per-model events stream (gone since)
    aws.dead_letter("ModelwatchCapture-StreamsEventsfraud-1X2Y", [_line(0), _line(1)])
    args = ["capture", "replay", "--queue-url", aws.queue_url, "--events-bucket", BUCKET, "--json"]

    # When they are replayed with the old stream mapped to the one events stream
    code = main([*args, "--stream-map", f"ModelwatchCapture-StreamsEventsfraud-1X2Y={STREAM}"])

    # Then they are in it, and the queue is empty
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["replayed"] == {STREAM: 2}
    assert sorted(r["event_id"] for r in aws.delivered()) == ["e0", "e1"]
    assert aws.depth() == 0


@pytest.mark.parametrize(
    ("argv", "fragments"),
    [
        (["capture", "replay"], ["--queue-url"]),
        (["capture", "replay", "--queue-url", "capture-dlq", "--events-bucket", BUCKET], ["queue's URL"]),
        (["capture", "replay", "--queue-url", "https://sqs.x/1/q"], ["no events bucket", "EventsBucketName"]),
        (
            ["capture", "replay", "--queue-url", "https://sqs.x/1/q", "--max-messages", "0"],
            ["--max-messages", "at least 1"],
        ),
        (
            ["capture", "replay", "--queue-url", "https://sqs.x/1/q", "--stream-map", "old-stream"],
            ["--stream-map", "OLD=NEW"],
        ),
        (["capture"], ["capture"]),
    ],
)
def test_user_errors_are_one_line_and_exit_2(
    argv: list[str], fragments: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        code = main(argv)
        raise SystemExit(code)

    assert exited.value.code == EXIT_USAGE
    assert_one_error_line(capsys, *fragments)


def test_a_queue_that_does_not_exist_is_one_line(aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    missing = aws.queue_url.replace("capture-dlq", "no-such-queue")

    code = main(["capture", "replay", "--queue-url", missing, "--events-bucket", BUCKET])

    assert code == EXIT_USAGE
    assert_one_error_line(capsys, "no queue at", "no-such-queue")


def test_a_bucket_that_does_not_exist_is_one_line(aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    aws.dead_letter(STREAM, [_line(0)])

    code = main(["capture", "replay", "--queue-url", aws.queue_url, "--events-bucket", "no-such-bucket"])

    assert code == EXIT_USAGE
    assert_one_error_line(capsys, "NoSuchBucket")
    assert aws.delivered() == [] and aws.depth() == 1  # nothing was read
