"""The capture dead-letter queue read back: receive, delete, make visible again, and its depth.

``stores.dead_letters`` writes the queue (serving); this module is what reads it: the
replay (``modelwatch.jobs.capture_replay``) receives and deletes messages, and the metrics
export reads how many wait (:class:`QueueDepthSource`). :class:`SqsQueue` is the SQS
implementation; :class:`InMemoryQueue` keeps SQS's semantics that matter to the replay
(visibility timeouts, a receipt handle per receive, duplicate copies of one message) for
unit tests.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from modelwatch.observability import logger

MAX_RECEIVE = 10  # SQS returns at most 10 messages per ReceiveMessage, and takes 10 entries per batch
_QUEUE_MISSING = frozenset({"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"})


class QueueNotFound(LookupError):
    """The queue URL names no queue (wrong URL, region or account)."""


@dataclass(frozen=True)
class ReceivedMessage:
    """One receipt of one message: the same message received again has a new ``receipt_handle``."""

    message_id: str
    receipt_handle: str
    body: str
    receive_count: int = 1
    sent_at: float | None = None  # Unix time the message was sent


@dataclass(frozen=True)
class QueueDepth:
    """How many messages the queue holds: waiting to be received, and received but not deleted."""

    visible: int
    in_flight: int

    @property
    def total(self) -> int:
        return self.visible + self.in_flight


class QueueDepthSource(Protocol):
    """Where the metrics export reads the capture dead-letter queue's depth."""

    def depth(self) -> QueueDepth:
        """The queue's approximate depth now."""
        ...


class DeadLetterQueue(QueueDepthSource, Protocol):
    """The capture dead-letter queue as the replay uses it."""

    def receive(
        self, max_messages: int, visibility_timeout: int, wait_seconds: int = 1
    ) -> list[ReceivedMessage]:
        """Up to ``max_messages`` (at most 10), each hidden from others for ``visibility_timeout`` s."""
        ...

    def delete(self, message: ReceivedMessage) -> None:
        """Delete a received message (its latest receipt)."""
        ...

    def release(self, messages: Sequence[ReceivedMessage]) -> None:
        """Make received messages visible again now, for the next receive (best effort)."""
        ...


def _error_code(error: Exception) -> str:
    response: dict[str, Any] = getattr(error, "response", {}) or {}
    return str(response.get("Error", {}).get("Code", ""))


class SqsQueue:
    """:class:`DeadLetterQueue` over a boto3 SQS client (AWS, or moto through ``AWS_ENDPOINT_URL``)."""

    def __init__(self, sqs_client: Any, queue_url: str) -> None:
        self._sqs = sqs_client
        self.queue_url = queue_url

    def _call(self, operation: str, **kwargs: Any) -> Any:
        from botocore.exceptions import ClientError

        try:
            return getattr(self._sqs, operation)(QueueUrl=self.queue_url, **kwargs)
        except ClientError as error:
            if _error_code(error) in _QUEUE_MISSING:
                raise QueueNotFound(f"no queue at {self.queue_url}") from None
            raise

    def receive(
        self, max_messages: int, visibility_timeout: int, wait_seconds: int = 1
    ) -> list[ReceivedMessage]:
        response = self._call(
            "receive_message",
            MaxNumberOfMessages=max(1, min(MAX_RECEIVE, max_messages)),
            VisibilityTimeout=visibility_timeout,
            WaitTimeSeconds=wait_seconds,
            MessageSystemAttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
        )
        received = []
        for message in response.get("Messages", []):
            attributes = message.get("Attributes", {})
            sent = attributes.get("SentTimestamp")
            received.append(
                ReceivedMessage(
                    message_id=str(message["MessageId"]),
                    receipt_handle=str(message["ReceiptHandle"]),
                    body=str(message.get("Body", "")),
                    receive_count=int(attributes.get("ApproximateReceiveCount", 1)),
                    sent_at=int(sent) / 1000 if sent else None,
                )
            )
        return received

    def delete(self, message: ReceivedMessage) -> None:
        self._call("delete_message", ReceiptHandle=message.receipt_handle)

    def release(self, messages: Sequence[ReceivedMessage]) -> None:
        for start in range(0, len(messages), MAX_RECEIVE):
            chunk = messages[start : start + MAX_RECEIVE]
            entries = [
                {"Id": str(i), "ReceiptHandle": m.receipt_handle, "VisibilityTimeout": 0}
                for i, m in enumerate(chunk)
            ]
            try:
                response = self._call("change_message_visibility_batch", Entries=entries)
            except Exception as error:  # they become visible anyway when their timeout ends
                logger.warning("messages not made visible again", extra={"error": str(error)})
                continue
            for failed in response.get("Failed", []):
                logger.info("message not made visible again", extra={"failure": failed})

    def depth(self) -> QueueDepth:
        attributes = self._call(
            "get_queue_attributes",
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return QueueDepth(
            visible=int(attributes.get("ApproximateNumberOfMessages", 0)),
            in_flight=int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
        )


@dataclass
class _Copy:
    message_id: str
    body: str
    sent_at: float
    visible_at: float = 0.0
    receipt_handle: str = ""
    receive_count: int = 0


class InMemoryQueue:
    """:class:`DeadLetterQueue` in memory, with SQS's at-least-once semantics (tests, notebooks).

    A received message is hidden until its visibility timeout ends, then received again with
    a new receipt handle; only its latest receipt deletes it (an older one is ignored, as
    SQS may). ``send(body, copies=2)`` stores duplicate copies of one message, as SQS
    occasionally does. ``clock`` is the queue's time in seconds (advance it to expire timeouts).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.copies: list[_Copy] = []
        self.deleted: list[str] = []
        self.receives = 0
        self._lock = threading.RLock()
        self._ids = itertools.count()

    def send(self, body: str, copies: int = 1) -> str:
        """Add a message (``copies`` identical copies of it); return its message id."""
        with self._lock:
            message_id = f"m-{next(self._ids):06d}"
            now = self.clock()
            self.copies.extend(_Copy(message_id, body, sent_at=now) for _ in range(copies))
            return message_id

    def receive(
        self, max_messages: int, visibility_timeout: int, wait_seconds: int = 1
    ) -> list[ReceivedMessage]:
        with self._lock:
            self.receives += 1
            now = self.clock()
            received: list[ReceivedMessage] = []
            for copy in self.copies:
                if len(received) >= min(MAX_RECEIVE, max_messages):
                    break
                if copy.visible_at > now:
                    continue
                copy.visible_at = now + visibility_timeout
                copy.receipt_handle = uuid.uuid4().hex
                copy.receive_count += 1
                received.append(
                    ReceivedMessage(
                        copy.message_id, copy.receipt_handle, copy.body, copy.receive_count, copy.sent_at
                    )
                )
            return received

    def delete(self, message: ReceivedMessage) -> None:
        with self._lock:
            for copy in self.copies:
                if copy.receipt_handle == message.receipt_handle:
                    self.copies.remove(copy)
                    self.deleted.append(copy.message_id)
                    return

    def release(self, messages: Sequence[ReceivedMessage]) -> None:
        with self._lock:
            handles = {m.receipt_handle for m in messages}
            now = self.clock()
            for copy in self.copies:
                if copy.receipt_handle in handles:
                    copy.visible_at = now

    def depth(self) -> QueueDepth:
        with self._lock:
            now = self.clock()
            visible = sum(1 for copy in self.copies if copy.visible_at <= now)
            return QueueDepth(visible=visible, in_flight=len(self.copies) - visible)

    def bodies(self) -> list[str]:
        """The body of every copy still in the queue (not a receive)."""
        with self._lock:
            return [copy.body for copy in self.copies]
