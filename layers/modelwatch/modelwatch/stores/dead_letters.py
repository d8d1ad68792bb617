"""The capture's dead-letter queue: where records go when Firehose still refuses them after the retries."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any, Protocol

# SQS's message limit was 256 KiB until 2025 (1 MiB since); stay under the older one.
MAX_DLQ_MESSAGE_BYTES = 256 * 1024


class DeadLetter(Protocol):
    """Where records go when Firehose still refuses them after the retries."""

    def send(self, stream: str, records: Sequence[bytes], reason: str) -> None: ...


class SqsDeadLetter:
    """Dead-letter records to an SQS queue, in messages that fit SQS's size limit.

    A message is ``{"stream", "reason", "lines": [...]}``: records are split back into
    their JSON lines and packed by *encoded* size. A
    line too long for one message (a large rejected body) is sent in fragments,
    ``{"stream", "reason", "fragment": {"line_id", "index", "count", "text"}}``, so nothing is cut.
    """

    def __init__(
        self, sqs_client: Any, queue_url: str, max_message_bytes: int = MAX_DLQ_MESSAGE_BYTES
    ) -> None:
        self._sqs = sqs_client
        self._queue_url = queue_url
        self._budget = max_message_bytes - 1024  # room for the envelope

    def send(self, stream: str, records: Sequence[bytes], reason: str) -> None:
        chunk: list[str] = []
        size = 0
        for record in records:
            for line in record.decode().splitlines():
                cost = len(json.dumps(line).encode()) + 2
                if cost > self._budget:
                    self._send_fragments(stream, line, reason)
                    continue
                if chunk and size + cost > self._budget:
                    self._send({"stream": stream, "reason": reason, "lines": chunk})
                    chunk, size = [], 0
                chunk.append(line)
                size += cost
        if chunk:
            self._send({"stream": stream, "reason": reason, "lines": chunk})

    def _send_fragments(self, stream: str, line: str, reason: str) -> None:
        # JSON escaping at most sextuples a character (\uXXXX), so this step always fits.
        step = max(1, self._budget // 6)
        pieces = [line[i : i + step] for i in range(0, len(line), step)]
        line_id = uuid.uuid4().hex
        for index, piece in enumerate(pieces):
            self._send(
                {
                    "stream": stream,
                    "reason": reason,
                    "fragment": {"line_id": line_id, "index": index, "count": len(pieces), "text": piece},
                }
            )

    def _send(self, message: dict[str, Any]) -> None:
        self._sqs.send_message(QueueUrl=self._queue_url, MessageBody=json.dumps(message))
