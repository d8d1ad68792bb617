"""The capture's dead-letter queue: records split back into lines, packed into messages that fit SQS."""

from __future__ import annotations

import json

from modelwatch.contracts.dead_letters import FragmentMessage, LinesMessage, decode_message, join_fragments
from modelwatch.stores.capture import pack_lines
from modelwatch.stores.dead_letters import MAX_DLQ_MESSAGE_BYTES, SqsDeadLetter
from tests.unit.fakes import FakeClock, FakeSqs, client_error
from tests.unit.stores.test_capture import event_line

SQS_MESSAGE_LIMIT = 256 * 1024


# --- SqsDeadLetter ------------------------------------------------------------------------------


def test_dead_letter_message_carries_stream_reason_and_lines() -> None:
    sqs = FakeSqs()
    SqsDeadLetter(sqs, "https://queue").send("fraud-events", [b"a\nb\n", b"c\n"], "Throttling: slow")
    assert len(sqs.messages) == 1
    assert sqs.messages[0]["QueueUrl"] == "https://queue"
    assert json.loads(sqs.messages[0]["MessageBody"]) == {
        "stream": "fraud-events",
        "reason": "Throttling: slow",
        "lines": ["a", "b", "c"],
    }


def test_dead_letter_chunks_records_in_order() -> None:
    # Given 3,000 records of 200 plain characters (600 KB in all)
    records = [(f"{i:05d}" + "z" * 194 + "\n").encode() for i in range(3000)]
    sqs = FakeSqs()
    # When dead-lettered
    SqsDeadLetter(sqs, "q").send("s", records, "r")
    # Then several messages, each within MAX_DLQ_MESSAGE_BYTES,
    # carry every line once, in order
    chunks = [json.loads(m["MessageBody"])["lines"] for m in sqs.messages]
    assert len(chunks) == 3
    assert all(len(m["MessageBody"].encode()) <= MAX_DLQ_MESSAGE_BYTES for m in sqs.messages)
    assert [r for chunk in chunks for r in chunk] == [r.decode().rstrip("\n") for r in records]


def test_dead_letter_messages_of_json_lines_fit_sqs() -> None:
    records = [(event_line(i) + "\n").encode() for i in range(3000)]
    sqs = FakeSqs()
    SqsDeadLetter(sqs, "q").send("s", records, "r")
    assert all(len(m["MessageBody"].encode()) <= SQS_MESSAGE_LIMIT for m in sqs.messages)


def test_dead_letter_of_a_full_firehose_record_fits_sqs() -> None:
    # Given what FirehoseSink hands the dead letter: records packed to the Firehose limit
    records = pack_lines([event_line(i) for i in range(5000)])
    assert len(records[0]) > 900 * 1024
    sqs = FakeSqs()
    # When dead-lettered
    SqsDeadLetter(sqs, "q").send("s", records, "r")
    # Then every message fits SQS
    assert all(len(m["MessageBody"].encode()) <= SQS_MESSAGE_LIMIT for m in sqs.messages)


def test_dead_letter_sends_a_line_too_long_for_one_message_in_fragments() -> None:
    # Given one line (a large rejected body) longer than an SQS message, with characters JSON escapes
    line = '{"body": "' + ('\u00e9\\"' * 200_000) + '"}'
    sqs = FakeSqs()
    # When dead-lettered
    SqsDeadLetter(sqs, "q").send("rejected", [line.encode() + b"\n"], "r")
    # Then it arrives in fragments that each fit SQS and reassemble to the line
    messages = [json.loads(m["MessageBody"]) for m in sqs.messages]
    assert len(messages) > 1
    assert all(len(m["MessageBody"].encode()) <= SQS_MESSAGE_LIMIT for m in sqs.messages)
    fragments = sorted((m["fragment"] for m in messages), key=lambda f: f["index"])
    assert {f["count"] for f in fragments} == {len(messages)}
    assert len({f["line_id"] for f in fragments}) == 1
    assert "".join(f["text"] for f in fragments) == line


def test_within_a_deadline_whole_deliveries_are_sent_and_the_rest_returned_in_order() -> None:
    # Given three messages' worth of lines, a clock, and calls that take 1 s each
    clock = FakeClock(start=0.0)
    sqs = FakeSqs()
    real_send = sqs.send_message

    def slow_send(QueueUrl: str, MessageBody: str) -> dict[str, str]:
        clock.advance(1.0)
        return real_send(QueueUrl=QueueUrl, MessageBody=MessageBody)

    sqs.send_message = slow_send  # type: ignore[method-assign]
    lines = ["a" * 600, "b" * 600, "c" * 600]
    dead_letter = SqsDeadLetter(sqs, "q", max_message_bytes=1024 + 700, call_seconds=1.0, clock=clock)
    # When they are sent with 2.5 s left
    unsent = dead_letter.send("s", [(line + "\n").encode() for line in lines], "r", deadline=2.5)
    # Then the first two messages went, and the third's lines come back for the log
    assert [json.loads(m["MessageBody"])["lines"] for m in sqs.messages] == [[lines[0]], [lines[1]]]
    assert unsent == [lines[2]]


def test_a_line_in_fragments_is_sent_whole_or_not_at_all() -> None:
    clock = FakeClock(start=0.0)
    sqs = FakeSqs()
    line = "z" * 2000  # four fragments of a 1,724-byte message budget
    dead_letter = SqsDeadLetter(sqs, "q", max_message_bytes=1024 + 700, call_seconds=1.0, clock=clock)

    unsent = dead_letter.send("rejected", [line.encode() + b"\n"], "r", deadline=3.0)

    assert sqs.messages == [] and unsent == [line]


def test_after_a_refused_message_the_rest_comes_back_unsent_without_more_calls() -> None:
    class FlakySqs(FakeSqs):
        def send_message(self, QueueUrl: str, MessageBody: str) -> dict[str, str]:
            if "refuse-me" in MessageBody:
                raise client_error("AWS.SimpleQueueService.NonExistentQueue", "SendMessage")
            return super().send_message(QueueUrl=QueueUrl, MessageBody=MessageBody)

    sqs = FlakySqs()
    dead_letter = SqsDeadLetter(sqs, "q", max_message_bytes=1024 + 700)

    unsent = dead_letter.send("s", [b"refuse-me" + b"x" * 600 + b"\n", b"fine\n"], "r")

    # The queue is failing: the lines go to the log at once instead of each waiting out a timeout.
    assert unsent == ["refuse-me" + "x" * 600, "fine"]
    assert sqs.messages == []


def test_every_message_sent_is_a_dead_letter_of_the_contract() -> None:
    # Given lines that fit one message and one line that needs fragments
    big = '{"event_id": "big", "body": "' + "x" * 600_000 + '"}'
    sqs = FakeSqs()
    # When dead-lettered
    SqsDeadLetter(sqs, "q").send("s", [b"a\nb\n", big.encode() + b"\n"], "r")
    # Then each body parses as a lines message or a fragment, and the fragments join back to the line
    messages = [decode_message(m["MessageBody"]) for m in sqs.messages]
    assert [m.lines for m in messages if isinstance(m, LinesMessage)] == [["a", "b"]]
    fragments = [m.fragment for m in messages if isinstance(m, FragmentMessage)]
    assert len(fragments) > 1 and join_fragments(fragments) == big


def test_a_plain_text_line_needs_few_fragments_an_escaped_one_more() -> None:
    # A 600 KB rejected body of plain text: 3 fragments (the worst-case sizing needed 15).
    plain = '{"body": "' + "x" * 600_000 + '"}'
    escaped = '{"body": "' + '\\"' * 300_000 + '"}'  # every character escaped once (2 bytes in JSON)
    sqs = FakeSqs()

    SqsDeadLetter(sqs, "q").send("rejected", [plain.encode() + b"\n"], "r")
    plain_messages = len(sqs.messages)
    SqsDeadLetter(sqs, "q").send("rejected", [escaped.encode() + b"\n"], "r")
    escaped_messages = len(sqs.messages) - plain_messages

    assert plain_messages == 3 and 3 <= escaped_messages <= 6
    assert all(len(m["MessageBody"].encode()) <= SQS_MESSAGE_LIMIT for m in sqs.messages)
    for first, count, line in ((0, plain_messages, plain), (plain_messages, escaped_messages, escaped)):
        fragments = [json.loads(m["MessageBody"])["fragment"] for m in sqs.messages[first : first + count]]
        assert "".join(f["text"] for f in fragments) == line
