"""The capture dead-letter queue read back: SQS (moto, in-process) and its in-memory twin agree."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from modelwatch.stores.dead_letter_queue import DeadLetterQueue, InMemoryQueue, QueueNotFound, SqsQueue
from tests.unit.fakes import FakeClock


@pytest.fixture(params=["memory", "sqs"])
def queue(request: pytest.FixtureRequest) -> Iterator[tuple[DeadLetterQueue, Any]]:
    """A queue and a function that sends one message body to it."""
    if request.param == "memory":
        memory = InMemoryQueue(clock=FakeClock())
        yield memory, memory.send
        return
    import boto3
    from moto import mock_aws

    with mock_aws():
        client: Any = boto3.client("sqs", region_name="us-east-1")
        url = client.create_queue(QueueName="capture-dlq")["QueueUrl"]
        yield SqsQueue(client, url), lambda body: client.send_message(QueueUrl=url, MessageBody=body)


def test_received_messages_are_hidden_until_released_and_gone_once_deleted(
    queue: tuple[DeadLetterQueue, Any],
) -> None:
    dlq, send = queue
    for body in ("a", "b", "c"):
        send(body)

    received = dlq.receive(10, visibility_timeout=300, wait_seconds=0)

    assert sorted(m.body for m in received) == ["a", "b", "c"]
    assert all(m.receive_count == 1 and m.sent_at for m in received)
    assert dlq.depth().visible == 0 and dlq.depth().in_flight == 3
    assert dlq.receive(10, visibility_timeout=300, wait_seconds=0) == []
    dlq.delete(received[0])
    dlq.release(received[1:])
    assert dlq.depth().visible == 2 and dlq.depth().total == 2
    again = dlq.receive(10, visibility_timeout=300, wait_seconds=0)
    assert sorted(m.body for m in again) == sorted(m.body for m in received[1:])
    assert {m.receive_count for m in again} == {2}
    assert {m.receipt_handle for m in again}.isdisjoint(m.receipt_handle for m in received)


def test_a_missing_queue_is_named() -> None:
    import boto3
    from moto import mock_aws

    with mock_aws():
        client: Any = boto3.client("sqs", region_name="us-east-1")
        url = "https://sqs.us-east-1.amazonaws.com/123456789012/no-such-queue"
        with pytest.raises(QueueNotFound, match="no-such-queue"):
            SqsQueue(client, url).receive(10, 30, 0)
        with pytest.raises(QueueNotFound):
            SqsQueue(client, url).depth()


def test_in_memory_copies_expire_redeliver_and_only_the_latest_receipt_deletes() -> None:
    clock = FakeClock(start=0.0)
    queue = InMemoryQueue(clock=clock)
    queue.send("x", copies=2)

    first = queue.receive(10, visibility_timeout=60)
    clock.advance(61)
    redelivered = queue.receive(10, visibility_timeout=60)

    assert [m.body for m in first] == ["x", "x"] and len({m.message_id for m in first}) == 1
    assert len(redelivered) == 2
    queue.delete(first[0])  # stale: the copy was received again since
    assert len(queue.copies) == 2
    queue.delete(redelivered[0])
    assert queue.bodies() == ["x"] and queue.deleted == [first[0].message_id]
