"""The reconciliation: every answered request's events, found in S3, in the dead-letter queue or in the log.

Capture's promise is that nothing is lost: Firehose takes the events (S3), or after its retries
the dead-letter queue does, or as a last resort the API's log keeps the lines. So for each request
of the ledger the events its answer implies are looked for in that order, by request id:

- a prediction answered 200: one prediction event per instance, ``(request_id, index)``;
- a request answered with an error envelope (422, 404, 413, 503, ...): one rejected-request line;
- labels answered 202: one label event per label, ``(request_id of the prediction, index)``.

What is in none of the three is *lost*. A request that got no answer (status 0) was not accepted
and is only counted. An event found more often than it was sent is a *duplicate*: capture is
at-least-once (a put that timed out may still have been delivered, and was dead-lettered or logged
too). The profile may label the same prediction twice: each label sent is looked for.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelwatch.contracts import layout
from modelwatch.stores.events import EventStore
from modelwatch.stores.objects import ObjectStorage
from modelwatch_local.load.ledger import LedgerEntry

# What the API's log says when it keeps capture lines (modelwatch.stores.capture, serving.event_capture).
LOGGED_MESSAGES = ("capture records kept in log only", "capture sink raised; lines kept in log")

PredictionKey = tuple[str, int]


@dataclass
class Captured:
    """Event keys found in one place, with how often each was found."""

    predictions: Counter[PredictionKey] = field(default_factory=Counter)
    rejections: Counter[str] = field(default_factory=Counter)
    labels: Counter[PredictionKey] = field(default_factory=Counter)

    def add_line(self, record: dict[str, Any]) -> None:
        """Count one event line, whichever document it is (PredictionEvent, RejectedRequest, LabelEvent)."""
        request_id = record.get("request_id")
        if not isinstance(request_id, str):
            return
        if "reason" in record:
            self.rejections[request_id] += 1
        elif "label" in record:
            self.labels[(request_id, int(record.get("index", 0)))] += 1
        elif "prediction" in record:
            self.predictions[(request_id, int(record.get("index", 0)))] += 1

    def total(self) -> int:
        return sum(self.predictions.values()) + sum(self.rejections.values()) + sum(self.labels.values())


def read_bucket(
    events: EventStore, storage: ObjectStorage, models: Sequence[str], workers: int = 8
) -> Captured:
    """Every prediction event, rejected request and label in the events bucket, read in parallel."""
    keys: list[str] = []
    # Rejections and labels of every model (unrouted rejections too): what the load test sent.
    prefixes = [layout.capture_prefix("events", m) for m in models]
    prefixes += [layout.kind_prefix("rejected"), layout.kind_prefix("labels")]
    for prefix in prefixes:
        keys.extend(obj.key for obj in storage.list_objects(events.bucket, prefix))
    found = Captured()
    with ThreadPoolExecutor(workers) as pool:
        for records in pool.map(events.read, keys):
            for record in records:
                found.add_line(record)
    return found


def read_dead_letters(sqs: Any, queue_url: str) -> Captured:
    """Every line in the capture dead-letter queue, left in the queue (made visible again)."""
    found = Captured()
    fragments: dict[str, dict[int, str]] = {}
    counts: dict[str, int] = {}
    handles: list[str] = []
    while True:
        response = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=300, WaitTimeSeconds=0
        )
        messages = response.get("Messages", [])
        if not messages:
            break
        for message in messages:
            handles.append(message["ReceiptHandle"])
            body = json.loads(message["Body"])
            for line in body.get("lines", []):
                found.add_line(json.loads(line))
            if "fragment" in body:
                piece = body["fragment"]
                fragments.setdefault(piece["line_id"], {})[int(piece["index"])] = piece["text"]
                counts[piece["line_id"]] = int(piece["count"])
    for line_id, pieces in fragments.items():
        if len(pieces) == counts[line_id]:
            found.add_line(json.loads("".join(pieces[i] for i in range(len(pieces)))))
    for start in range(0, len(handles), 10):
        sqs.change_message_visibility_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                for i, handle in enumerate(handles[start : start + 10])
            ],
        )
    return found


def logged_lines(log: Path) -> Iterator[dict[str, Any]]:
    """The capture lines the API kept in its log (its JSON log records that carry ``lines``)."""
    if not log.exists():
        return
    with log.open(errors="replace") as handle:
        for text in handle:
            if not text.startswith("{") or not any(m in text for m in LOGGED_MESSAGES):
                continue
            try:
                record = json.loads(text)
            except ValueError:
                continue
            if record.get("message") in LOGGED_MESSAGES:
                for line in record.get("lines", []):
                    try:
                        yield json.loads(line)
                    except ValueError:
                        continue


def read_log(logs: Iterable[Path]) -> Captured:
    found = Captured()
    for log in logs:
        for record in logged_lines(log):
            found.add_line(record)
    return found


@dataclass
class Tally:
    """Where the expected events of one kind were found."""

    expected: int = 0
    captured: int = 0
    dead_lettered: int = 0
    logged: int = 0
    lost: int = 0
    duplicates: int = 0
    lost_examples: list[str] = field(default_factory=list)

    def place(self, key: Any, s3: Counter[Any], dlq: Counter[Any], log: Counter[Any], times: int = 1) -> None:
        """Look for ``times`` copies of ``key`` (a label may be sent twice for the same prediction)."""
        self.expected += times
        left = times
        for found, where in ((s3[key], "captured"), (dlq[key], "dead_lettered"), (log[key], "logged")):
            taken = min(left, found)
            setattr(self, where, getattr(self, where) + taken)
            left -= taken
        if left:
            self.lost += left
            if len(self.lost_examples) < 5:
                self.lost_examples.append(str(key))
        self.duplicates += max(0, s3[key] + dlq[key] + log[key] - times)

    def as_dict(self) -> dict[str, Any]:
        return {
            "expected": self.expected,
            "captured": self.captured,
            "dead_lettered": self.dead_lettered,
            "logged": self.logged,
            "lost": self.lost,
            "duplicates": self.duplicates,
            **({"lost_examples": self.lost_examples} if self.lost_examples else {}),
        }


def reconcile(entries: Sequence[LedgerEntry], s3: Captured, dlq: Captured, log: Captured) -> dict[str, Any]:
    """Where each answered request's events are; ``lost`` is what is in none of S3, the queue, the log."""
    predictions, rejections, labels = Tally(), Tally(), Tally()
    unanswered = 0
    internal_errors = 0
    sent_labels: Counter[PredictionKey] = Counter()
    for entry in entries:
        if entry.status == 0:
            unanswered += 1
        elif entry.status == 200 and entry.kind.startswith("predict"):
            for index in range(entry.instances):
                predictions.place((entry.request_id, index), s3.predictions, dlq.predictions, log.predictions)
        elif entry.status == 202 and entry.kind == "feedback":
            sent_labels.update(entry.labels)
        elif entry.status == 500:
            internal_errors += 1  # a defect's answer: not captured by design, counted apart
        elif entry.status >= 400:
            rejections.place(entry.request_id, s3.rejections, dlq.rejections, log.rejections)
    for key, times in sent_labels.items():
        labels.place(key, s3.labels, dlq.labels, log.labels, times)
    lost = predictions.lost + rejections.lost + labels.lost
    return {
        "lost": lost,
        "predictions": predictions.as_dict(),
        "rejections": rejections.as_dict(),
        "labels": labels.as_dict(),
        "unanswered_requests": unanswered,
        "internal_errors": internal_errors,
    }
