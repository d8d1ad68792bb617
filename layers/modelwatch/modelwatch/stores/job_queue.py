"""The job queues: one SQS queue per monitoring job, fed by the dispatcher, consumed by the job's function.

The dispatcher puts one message per due (model, window) on the queue of its job; the
job function's event source mapping delivers them in batches. Sending is batched (ten
messages a call, SQS's limit) and a message SQS refuses is an error, never dropped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

SQS_BATCH_LIMIT = 10


class JobQueueError(RuntimeError):
    """SQS did not take every message; names the job and the first refused entry."""


class JobQueues(Protocol):
    """Where the dispatcher puts job requests (SQS, or memory in unit tests)."""

    def send(self, job: str, bodies: Sequence[str]) -> None:
        """Put ``bodies`` on the queue of ``job``; raise :class:`JobQueueError` unless SQS took all."""
        ...


class SqsJobQueues:
    """:class:`JobQueues` over a boto3 SQS client and the URL of each job's queue."""

    def __init__(self, sqs_client: Any, queue_urls: Mapping[str, str]) -> None:
        self._sqs = sqs_client
        self._urls = dict(queue_urls)

    def send(self, job: str, bodies: Sequence[str]) -> None:
        url = self._urls.get(job)
        if url is None:
            raise JobQueueError(f"no queue for job {job!r} (queues: {', '.join(sorted(self._urls))})")
        for first in range(0, len(bodies), SQS_BATCH_LIMIT):
            chunk = bodies[first : first + SQS_BATCH_LIMIT]
            response = self._sqs.send_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(index), "MessageBody": body} for index, body in enumerate(chunk)],
            )
            failed = response.get("Failed") or []
            if failed:
                entry = failed[0]
                raise JobQueueError(
                    f"SQS refused {len(failed)} of {len(chunk)} {job} messages: "
                    f"{entry.get('Code', '')} {entry.get('Message', '')}".rstrip()
                )


class InMemoryJobQueues:
    """:class:`JobQueues` in memory: ``sent[job]`` holds every body put on that job's queue."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.sent: dict[str, list[str]] = {}
        self._fail_on = fail_on

    def send(self, job: str, bodies: Sequence[str]) -> None:
        if job == self._fail_on:
            raise JobQueueError(f"SQS refused {len(bodies)} of {len(bodies)} {job} messages: in-memory fault")
        self.sent.setdefault(job, []).extend(bodies)
