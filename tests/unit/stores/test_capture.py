"""Capture to Firehose: record packing, batching, retries, dead letter, last-resort log."""

from __future__ import annotations

import itertools
import json
import logging

import pytest
from botocore.exceptions import EndpointConnectionError

from modelwatch.stores.capture import (
    MAX_BATCH_BYTES,
    MAX_BATCH_RECORDS,
    MAX_RECORD_BYTES,
    FirehoseSink,
    MemorySink,
    _batches,
    pack_lines,
)
from tests.unit.fakes import FakeClock, FakeFirehose, RecordingDeadLetter, client_error

SQS_MESSAGE_LIMIT = 256 * 1024


def event_line(index: int, padding: int = 0) -> str:
    """A JSON line shaped like a prediction event (many quotes, like the real ones)."""
    return json.dumps(
        {
            "event_id": f"{index:032x}",
            "request_id": "r" * 32,
            "index": index,
            "model": "fraud",
            "version": "1",
            "features": {"amount": 1.5, "hour": 3, "channel": "pos" + "x" * padding},
            "prediction": 0.25,
            "latency_ms": 1.234,
        },
        separators=(",", ":"),
    )


def lines_of(records: list[bytes]) -> list[str]:
    return b"".join(records).decode().splitlines()


def kept_in_log(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The JSON lines the last-resort error log line carries."""
    kept = [r for r in caplog.records if r.getMessage() == "capture records kept in log only"]
    assert len(kept) == 1
    assert kept[0].levelno == logging.ERROR
    lines: list[str] = kept[0].lines  # type: ignore[attr-defined]
    return lines


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


# --- pack_lines and batching -------------------------------------------------------------------


def test_pack_lines_keeps_every_line_whole_and_in_order() -> None:
    lines = [event_line(i, padding=i % 50) for i in range(300)]
    records = pack_lines(lines, max_record_bytes=4096)
    assert len(records) > 1
    assert all(record.endswith(b"\n") for record in records)
    # Lines are never split across records: each record is whole lines.
    for record in records:
        for line in record.decode().splitlines():
            json.loads(line)
    assert lines_of(records) == lines


def test_pack_lines_respects_the_record_limit_and_fills_records() -> None:
    lines = [event_line(i) for i in range(200)]
    limit = 2000
    records = pack_lines(lines, max_record_bytes=limit)
    assert all(len(record) <= limit for record in records)
    # Greedy packing: no record could have taken the next record's first line.
    for record, following in itertools.pairwise(records):
        first_line_of_next = following.split(b"\n", 1)[0] + b"\n"
        assert len(record) + len(first_line_of_next) > limit


def test_pack_lines_default_limit_is_firehose_record_limit() -> None:
    line = "x" * 100_000
    records = pack_lines([line] * 25)
    assert [len(r) for r in records] == [1_000_010, 1_000_010, 500_005]
    assert all(len(r) <= MAX_RECORD_BYTES for r in records)


def test_oversized_line_becomes_its_own_record() -> None:
    records = pack_lines(["a", "b" * 50, "c"], max_record_bytes=10)
    assert records == [b"a\n", b"b" * 50 + b"\n", b"c\n"]


def test_pack_lines_counts_bytes_not_characters() -> None:
    records = pack_lines(["é" * 4, "é" * 4], max_record_bytes=12)
    assert records == ["é".encode() * 4 + b"\n", "é".encode() * 4 + b"\n"]


def test_pack_no_lines() -> None:
    assert pack_lines([]) == []


def test_batches_at_most_500_records() -> None:
    records = [b"x\n"] * 1_201
    assert [len(batch) for batch in _batches(records)] == [MAX_BATCH_RECORDS, MAX_BATCH_RECORDS, 201]


def test_batches_at_most_4_mib() -> None:
    records = [b"x" * MAX_RECORD_BYTES] * 10  # 4 of them fit in 4 MiB, 5 do not
    batches = _batches(records)
    assert [len(batch) for batch in batches] == [4, 4, 2]
    assert all(sum(map(len, batch)) <= MAX_BATCH_BYTES for batch in batches)


# --- FirehoseSink -------------------------------------------------------------------------------


def test_one_call_for_a_normal_request() -> None:
    # Given a healthy Firehose and a request of 1,000 instances
    firehose = FakeFirehose()
    sleeps = Sleeps()
    lines = [event_line(i) for i in range(1000)]
    # When the lines are emitted
    outcome = FirehoseSink(firehose, sleep=sleeps).emit("fraud-events", lines)
    # Then one PutRecordBatch carries them all, and nothing is retried
    assert len(firehose.calls) == 1
    stream, data = firehose.calls[0]
    assert stream == "fraud-events"
    assert lines_of(data) == lines
    assert (outcome.records, outcome.delivered, outcome.calls, outcome.retried, outcome.failed) == (
        len(data),
        len(data),
        1,
        0,
        0,
    )
    assert sleeps.delays == []


def test_partial_failure_retries_only_failed_records() -> None:
    # Given 3 lines too big to share a record, and a Firehose refusing the 2nd record once
    lines = ["a" * 600_000, "b" * 600_000, "c" * 600_000]
    records = pack_lines(lines)
    assert len(records) == 3
    firehose = FakeFirehose(script=[{1}])
    sleeps = Sleeps()
    # When emitted
    outcome = FirehoseSink(firehose, backoff_seconds=0.5, sleep=sleeps).emit("s", lines)
    # Then the retry carries only the refused record, after one backoff
    assert [data for _, data in firehose.calls] == [records, [records[1]]]
    assert sleeps.delays == [0.5]
    assert (outcome.records, outcome.delivered, outcome.retried, outcome.failed) == (3, 3, 1, 0)
    assert outcome.errors == ["ServiceUnavailableException: slow down"]


def test_exceptions_are_retried_with_exponential_backoff() -> None:
    firehose = FakeFirehose(
        script=[
            client_error("ServiceUnavailableException"),
            EndpointConnectionError(endpoint_url="https://firehose"),
        ]
    )
    sleeps = Sleeps()
    outcome = FirehoseSink(firehose, max_attempts=5, backoff_seconds=0.1, sleep=sleeps).emit("s", ["x"])
    assert len(firehose.calls) == 3
    assert sleeps.delays == [0.1, 0.2]
    assert (outcome.delivered, outcome.retried, outcome.calls, outcome.failed) == (1, 2, 3, 0)
    assert len(outcome.errors) == 2


def test_after_max_attempts_records_go_to_the_dead_letter() -> None:
    # Given a Firehose that always fails
    error = client_error("ServiceUnavailableException")
    firehose = FakeFirehose(script=[error] * 10)
    dead_letter = RecordingDeadLetter()
    sleeps = Sleeps()
    sink = FirehoseSink(firehose, dead_letter, max_attempts=4, backoff_seconds=0.05, sleep=sleeps)
    # When a request's lines are emitted
    outcome = sink.emit("fraud-events", ["l1", "l2"])
    # Then after 4 attempts (3 backoffs, doubling) the records are dead-lettered with the last reason
    assert len(firehose.calls) == 4
    assert sleeps.delays == [0.05, 0.1, 0.2]
    assert dead_letter.sent == [("fraud-events", [b"l1\nl2\n"], outcome.errors[-1])]
    assert "ServiceUnavailableException" in outcome.errors[-1]
    assert (outcome.delivered, outcome.dead_lettered, outcome.logged_only, outcome.failed) == (0, 1, 0, 1)


def test_records_kept_in_log_when_dead_letter_fails(caplog: pytest.LogCaptureFixture) -> None:
    firehose = FakeFirehose(script=[client_error("InternalFailure")] * 3)
    dead_letter = RecordingDeadLetter(
        error=client_error("AWS.SimpleQueueService.NonExistentQueue", "SendMessage")
    )
    with caplog.at_level(logging.ERROR):
        outcome = FirehoseSink(firehose, dead_letter, sleep=Sleeps()).emit("s", ["precious-line"])
    assert (outcome.dead_lettered, outcome.logged_only, outcome.failed) == (0, 1, 1)
    assert any(error.startswith("dead letter failed") for error in outcome.errors)
    assert kept_in_log(caplog) == ["precious-line"]


def test_records_kept_in_log_without_dead_letter(caplog: pytest.LogCaptureFixture) -> None:
    firehose = FakeFirehose(script=[{0}] * 3)
    with caplog.at_level(logging.ERROR):
        outcome = FirehoseSink(firehose, None, max_attempts=3, sleep=Sleeps()).emit("s", ["only-in-log"])
    assert len(firehose.calls) == 3
    assert (outcome.delivered, outcome.logged_only) == (0, 1)
    assert kept_in_log(caplog) == ["only-in-log"]


def test_large_request_spans_batches_and_retries_only_the_failed_batch() -> None:
    # 9 records of exactly 1,000 KiB go 4 per call; the 2nd call raises once and only it is retried.
    lines = ["y" * (MAX_RECORD_BYTES - 1)] * 9
    firehose = FakeFirehose(script=[None, client_error("Throttling")])
    outcome = FirehoseSink(firehose, sleep=Sleeps()).emit("s", lines)
    assert [len(data) for _, data in firehose.calls] == [4, 4, 1, 4]
    assert (outcome.records, outcome.delivered, outcome.retried) == (9, 9, 4)


def test_memory_sink_keeps_lines_per_stream() -> None:
    sink = MemorySink()
    sink.emit("a", ["1", "2"])
    outcome = sink.emit("b", ["3"])
    assert sink.lines == {"a": ["1", "2"], "b": ["3"]}
    assert (sink.calls, outcome.delivered) == (2, 1)


# --- the time budget -----------------------------------------------------------------------------


class SlowFirehose(FakeFirehose):
    """Each call takes ``seconds`` on ``clock`` (a hung or throttled endpoint), then answers its script."""

    def __init__(self, clock: FakeClock, seconds: float, script: list[Exception | set[int] | None]) -> None:
        super().__init__(script)
        self._clock = clock
        self._seconds = seconds

    def put_record_batch(self, DeliveryStreamName: str, Records: list[dict[str, bytes]]) -> dict[str, object]:
        self._clock.advance(self._seconds)
        return super().put_record_batch(DeliveryStreamName, Records)


def test_attempts_stop_in_time_for_the_dead_letter_however_slow_firehose_is() -> None:
    # Given a Firehose that takes its whole 3 s timeout and then fails, every time
    clock = FakeClock(start=0.0)
    firehose = SlowFirehose(clock, 3.0, [client_error("ThrottlingException")] * 10)
    dead_letter = RecordingDeadLetter()
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.advance(seconds)

    sink = FirehoseSink(
        firehose,
        dead_letter,
        max_attempts=10,
        sleep=sleep,
        clock=clock,
        attempt_seconds=3.0,
        dead_letter_seconds=3.0,
    )
    # When a request with 10 s left emits its lines
    outcome = sink.emit("fraud-events", ["l1"], deadline=10.0)
    # Then only the attempts that end 3 s before the deadline were made, and the lines were dead-lettered
    assert len(firehose.calls) == 2 and clock.now == 6.05
    assert outcome.out_of_time and "capture time budget spent after 2 attempt(s)" in outcome.errors
    assert dead_letter.sent == [("fraud-events", [b"l1\n"], outcome.errors[-1])]
    assert dead_letter.deadlines == [10.0]
    assert (outcome.delivered, outcome.dead_lettered, outcome.logged_only) == (0, 1, 0)


def test_with_no_time_for_one_attempt_the_lines_go_straight_to_the_dead_letter() -> None:
    clock = FakeClock(start=100.0)
    firehose = FakeFirehose()
    dead_letter = RecordingDeadLetter()
    sink = FirehoseSink(firehose, dead_letter, clock=clock, attempt_seconds=2.5, dead_letter_seconds=3.0)

    outcome = sink.emit("s", ["l1", "l2"], deadline=104.0)

    assert firehose.calls == [] and outcome.out_of_time and outcome.dead_lettered == 1


def test_lines_the_dead_letter_could_not_send_in_time_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    firehose = FakeFirehose(script=[client_error("ServiceUnavailableException")] * 3)
    dead_letter = RecordingDeadLetter(unsent=["l2"])
    with caplog.at_level(logging.ERROR):
        outcome = FirehoseSink(firehose, dead_letter, sleep=Sleeps()).emit("s", ["l1", "l2"], deadline=None)

    assert kept_in_log(caplog) == ["l2"]
    assert (outcome.dead_lettered, outcome.logged_only, outcome.failed) == (0, 1, 1)


def test_without_a_deadline_the_attempts_are_not_bounded_by_time() -> None:
    clock = FakeClock(start=0.0)
    firehose = SlowFirehose(clock, 60.0, [client_error("Throttling")] * 2)
    outcome = FirehoseSink(firehose, sleep=Sleeps(), clock=clock, attempt_seconds=60.0).emit("s", ["x"])

    assert len(firehose.calls) == 3 and outcome.delivered == 1 and not outcome.out_of_time
