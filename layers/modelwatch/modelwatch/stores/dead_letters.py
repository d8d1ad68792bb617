"""The capture's dead-letter queue: where records go when Firehose still refuses them after the retries.

The messages are ``modelwatch.contracts.dead_letters``'s two kinds; the replay
(``modelwatch.jobs.capture_replay``) reads them back through ``stores.dead_letter_queue``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from modelwatch.contracts.dead_letters import (
    DeadLetterMessage,
    LinesMessage,
    encode_message,
    split_line_to_fit,
)
from modelwatch.observability import logger

# SQS's message limit was 256 KiB until 2025 (1 MiB since); stay under the older one.
MAX_DLQ_MESSAGE_BYTES = 256 * 1024


class DeadLetter(Protocol):
    """Where records go when Firehose still refuses them after the retries."""

    def send(
        self, stream: str, records: Sequence[bytes], reason: str, deadline: float | None = None
    ) -> list[str]:
        """Send what fits before ``deadline`` (``time.monotonic()``); return the lines left unsent."""
        ...


@dataclass(frozen=True)
class _Delivery:
    """Messages that go together (one batch of lines, or every fragment of one line)."""

    messages: list[DeadLetterMessage]
    lines: list[str]


class SqsDeadLetter:
    """Dead-letter records to an SQS queue, in messages that fit SQS's size limit.

    A message is a ``LinesMessage`` (``{"stream", "reason", "lines": [...]}``): records are split
    back into their JSON lines and packed by *encoded* size. A line too long for one message (a
    large rejected body) is sent in fragments, one ``FragmentMessage`` each
    (``{"stream", "reason", "fragment": {"line_id", "index", "count", "text"}}``), so nothing is cut.
    Within a deadline, a batch (or a line's fragments) is sent only if it can be sent whole
    in time; what is left is returned, for the caller to log.

    Parameters
    ----------
    call_seconds
        The longest one ``send_message`` can take (the client's timeouts times its attempts).
    """

    def __init__(
        self,
        sqs_client: Any,
        queue_url: str,
        max_message_bytes: int = MAX_DLQ_MESSAGE_BYTES,
        call_seconds: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sqs = sqs_client
        self._queue_url = queue_url
        self._budget = max_message_bytes - 1024  # room for the envelope
        self._call_seconds = call_seconds
        self._clock = clock

    def send(
        self, stream: str, records: Sequence[bytes], reason: str, deadline: float | None = None
    ) -> list[str]:
        unsent: list[str] = []
        for delivery in self._deliveries(stream, records, reason):
            needed = self._call_seconds * len(delivery.messages)
            if unsent or (deadline is not None and self._clock() + needed > deadline):
                unsent.extend(delivery.lines)  # after one miss, keep the rest together, in order
                continue
            try:
                for message in delivery.messages:
                    self._sqs.send_message(QueueUrl=self._queue_url, MessageBody=encode_message(message))
            except (ClientError, BotoCoreError) as error:
                logger.warning(
                    "dead-letter queue refused a message", extra={"stream": stream, "error": str(error)}
                )
                unsent.extend(delivery.lines)
        return unsent

    def _deliveries(self, stream: str, records: Sequence[bytes], reason: str) -> Iterator[_Delivery]:
        chunk: list[str] = []
        size = 0
        for record in records:
            for line in record.decode().splitlines():
                cost = len(json.dumps(line).encode()) + 2
                if cost > self._budget:
                    yield self._fragments(stream, line, reason)
                    continue
                if chunk and size + cost > self._budget:
                    yield _Delivery([LinesMessage(stream=stream, reason=reason, lines=chunk)], chunk)
                    chunk, size = [], 0
                chunk.append(line)
                size += cost
        if chunk:
            yield _Delivery([LinesMessage(stream=stream, reason=reason, lines=chunk)], chunk)

    def _fragments(self, stream: str, line: str, reason: str) -> _Delivery:
        messages: list[DeadLetterMessage] = [
            *split_line_to_fit(stream, reason, line, max_text_bytes=self._budget, line_id=uuid.uuid4().hex)
        ]
        return _Delivery(messages, [line])
