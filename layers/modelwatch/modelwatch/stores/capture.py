"""Capture of event records to Firehose, with retries and a dead-letter queue.

The request path makes one ``PutRecordBatch`` call per request: all of a
request's JSON Lines are packed into as few Firehose records as the 1,000 KiB
record limit allows (Firehose concatenates records, so lines stay lines in S3).
A capture failure never fails a prediction and is never silent: failed records
are retried with backoff, then sent to the dead-letter queue, and as a last
resort written to the log, which keeps them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from modelwatch.observability import logger
from modelwatch.stores.dead_letters import DeadLetter

# Firehose PutRecordBatch limits.
MAX_RECORD_BYTES = 1_000 * 1024
MAX_BATCH_RECORDS = 500
MAX_BATCH_BYTES = 4 * 1024 * 1024


def pack_lines(lines: Sequence[str], max_record_bytes: int = MAX_RECORD_BYTES) -> list[bytes]:
    """Pack JSON lines into newline-terminated records of at most ``max_record_bytes``.

    A single line longer than the limit becomes a record of its own; callers keep
    lines under the limit (rejected bodies are truncated for this reason).
    """
    records: list[bytes] = []
    current: list[bytes] = []
    size = 0
    for line in lines:
        encoded = line.encode() + b"\n"
        if current and size + len(encoded) > max_record_bytes:
            records.append(b"".join(current))
            current, size = [], 0
        current.append(encoded)
        size += len(encoded)
    if current:
        records.append(b"".join(current))
    return records


def _batches(records: Sequence[bytes]) -> list[list[bytes]]:
    batches: list[list[bytes]] = []
    current: list[bytes] = []
    size = 0
    for record in records:
        if current and (len(current) == MAX_BATCH_RECORDS or size + len(record) > MAX_BATCH_BYTES):
            batches.append(current)
            current, size = [], 0
        current.append(record)
        size += len(record)
    if current:
        batches.append(current)
    return batches


@dataclass
class CaptureOutcome:
    """What happened to one emit: records delivered, retried, dead-lettered, or logged only."""

    records: int = 0
    delivered: int = 0
    retried: int = 0
    dead_lettered: int = 0
    logged_only: int = 0
    calls: int = 0
    errors: list[str] = field(default_factory=list)
    out_of_time: bool = False  # the time budget ran out before Firehose took every record

    @property
    def failed(self) -> int:
        """Records that did not reach Firehose (dead-lettered or kept in the log)."""
        return self.dead_lettered + self.logged_only


class EventSink(Protocol):
    """Where serving sends event lines; one call per request."""

    def emit(self, stream: str, lines: Sequence[str], deadline: float | None = None) -> CaptureOutcome:
        """Deliver ``lines``; ``deadline`` (``time.monotonic()``) is when delivery attempts must stop,
        leaving time to dead-letter or log what was not delivered."""
        ...


class FirehoseSink:
    """Send event lines to Firehose; retry what fails; dead-letter what still fails.

    Every call must fit the caller's time budget (``deadline``, by when everything is done):
    a Firehose attempt starts only if it can end ``dead_letter_seconds`` before the deadline
    (``attempt_seconds``: the client's connect plus read timeout), and the dead-letter queue
    takes what it can send by the deadline; the rest is logged. So what Firehose did not take
    is dead-lettered or logged before the invocation ends, however slow or throttled it is.
    """

    def __init__(
        self,
        firehose_client: Any,
        dead_letter: DeadLetter | None = None,
        max_attempts: int = 3,
        backoff_seconds: float = 0.05,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        attempt_seconds: float = 0.0,
        dead_letter_seconds: float = 0.0,
    ) -> None:
        self._firehose = firehose_client
        self._dead_letter = dead_letter
        self._max_attempts = max_attempts
        self._backoff = backoff_seconds
        self._sleep = sleep
        self._clock = clock
        self._attempt_seconds = attempt_seconds
        self._dead_letter_seconds = dead_letter_seconds if dead_letter is not None else 0.0

    def emit(self, stream: str, lines: Sequence[str], deadline: float | None = None) -> CaptureOutcome:
        records = pack_lines(lines)
        outcome = CaptureOutcome(records=len(records))
        pending = records
        firehose_deadline = None if deadline is None else deadline - self._dead_letter_seconds
        for attempt in range(1, self._max_attempts + 1):
            wait = self._backoff * 2 ** (attempt - 2) if attempt > 1 else 0.0
            if not self._in_time(firehose_deadline, wait):
                outcome.out_of_time = True
                outcome.errors.append(f"capture time budget spent after {attempt - 1} attempt(s)")
                break
            if attempt > 1:
                outcome.retried += len(pending)
                self._sleep(wait)
            pending = self._put(stream, pending, outcome, firehose_deadline)
            if not pending:
                break
        outcome.delivered = len(records) - len(pending)
        if pending:
            self._give_up(stream, pending, outcome, deadline)
        return outcome

    def _in_time(self, deadline: float | None, wait: float = 0.0) -> bool:
        """Whether a call started after ``wait`` seconds can still end before ``deadline``."""
        return deadline is None or self._clock() + wait + self._attempt_seconds <= deadline

    def _put(
        self, stream: str, records: list[bytes], outcome: CaptureOutcome, deadline: float | None
    ) -> list[bytes]:
        """Put ``records``; return those Firehose did not accept (or that the budget left no time for)."""
        failed: list[bytes] = []
        for batch in _batches(records):
            if outcome.calls and not self._in_time(deadline):
                outcome.out_of_time = True
                failed.extend(batch)
                continue
            outcome.calls += 1
            try:
                response = self._firehose.put_record_batch(
                    DeliveryStreamName=stream, Records=[{"Data": record} for record in batch]
                )
            except (ClientError, BotoCoreError) as error:
                outcome.errors.append(f"{type(error).__name__}: {error}")
                failed.extend(batch)
                continue
            if response.get("FailedPutCount", 0):
                for record, result in zip(batch, response["RequestResponses"], strict=True):
                    if "ErrorCode" in result:
                        outcome.errors.append(f"{result['ErrorCode']}: {result.get('ErrorMessage', '')}")
                        failed.append(record)
        return failed

    def _give_up(
        self, stream: str, records: list[bytes], outcome: CaptureOutcome, deadline: float | None
    ) -> None:
        reason = outcome.errors[-1] if outcome.errors else "unknown error"
        logger.warning(
            "capture failed after retries",
            extra={"stream": stream, "records": len(records), "reason": reason},
        )
        unsent = [line for record in records for line in record.decode().splitlines()]
        if self._dead_letter is not None:
            try:
                unsent = self._dead_letter.send(stream, records, reason, deadline)
            except Exception as error:  # the queue itself failing must not lose the lines: log them
                outcome.errors.append(f"dead letter failed: {error}")
        if not unsent:
            outcome.dead_lettered = len(records)
            return
        # Last resort: the log keeps the lines (CloudWatch Logs in AWS).
        logger.error(
            "capture records kept in log only", extra={"stream": stream, "lines": unsent, "reason": reason}
        )
        kept = set(unsent)
        outcome.logged_only = sum(1 for r in records if any(line in kept for line in r.decode().splitlines()))
        outcome.dead_lettered = len(records) - outcome.logged_only


class MemorySink:
    """An in-memory sink: keeps every line it is given (tests, notebooks)."""

    def __init__(self) -> None:
        self.lines: dict[str, list[str]] = {}
        self.calls = 0

    def emit(self, stream: str, lines: Sequence[str], deadline: float | None = None) -> CaptureOutcome:
        self.calls += 1
        self.lines.setdefault(stream, []).extend(lines)
        return CaptureOutcome(records=len(lines), delivered=len(lines), calls=1)
