"""The capture's dead-letter queue: records split back into lines, packed into messages that fit SQS."""

from __future__ import annotations

import json

from modelwatch.stores.capture import pack_lines
from modelwatch.stores.dead_letters import MAX_DLQ_MESSAGE_BYTES, SqsDeadLetter
from tests.unit.fakes import FakeSqs
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
