"""The local stand-in for Firehose's dynamic partitioning: delivered objects re-laid as AWS lays them out.

moto's Firehose neither partitions nor evaluates ``!{...}`` prefix expressions: each put
becomes one object at ``<static prefix>YYYY/MM/DD/HH/<object name>``. So the local streams
deliver under ``layout.local_delivery_prefix(kind)``, and :meth:`LocalPartitioner.run`
moves every object found there to the keys Firehose would have given it in AWS:

- an object of every kind is split by each line's partition model (``layout.partition_model``,
  the rule the stream's JQ query states in AWS) into
  ``<kind>/model=<m>/dt=YYYY-MM-DD/hour=HH/<object name>`` (one object per model in it); a
  rejection naming no served model goes to ``rejected/model=_unrouted/...``;
- a line that cannot be partitioned (an event or label without a model, or not JSON) goes to
  ``errors/<kind>/partitioning-failed/dt=YYYY-MM-DD/<object name>``, so nothing is dropped.

Only once every piece is written is the delivered object deleted. The run is at least once
and idempotent by object name: the keys and bodies written depend only on the delivered
object, so a run stopped midway, or two runs at once (the ticker and a reader), write the
same objects again and delete the same source. The hour is moto's delivery hour, as
``!{timestamp:...}`` is Firehose's arrival time. This is the local harness only: the
library never partitions, AWS does.
"""

from __future__ import annotations

import gzip
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from modelwatch.contracts import layout
from modelwatch.contracts.events import GZIP_MAGIC


@dataclass
class PartitionReport:
    """What one run did: objects re-laid, lines by model, lines sent to the error prefix, keys written."""

    objects: int = 0
    lines: dict[str, int] = field(default_factory=dict)
    failed_lines: int = 0
    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # under the delivery prefix, not a delivery

    def add(self, other: PartitionReport) -> None:
        self.objects += other.objects
        for model, count in other.lines.items():
            self.lines[model] = self.lines.get(model, 0) + count
        self.failed_lines += other.failed_lines
        self.written.extend(other.written)
        self.skipped.extend(other.skipped)


class LocalPartitioner:
    """Re-lays what the local streams delivered in the events bucket (a boto3 S3 client on moto).

    Locally each request is an object of its own (moto does not buffer), so a run re-lays its
    objects ``workers`` at a time: three S3 calls each (get, put, delete).
    """

    def __init__(self, s3: Any, bucket: str, workers: int = 8) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._workers = workers

    def run(self) -> PartitionReport:
        """Partition every object delivered so far; return what was done."""
        paginator = self._s3.get_paginator("list_objects_v2")
        keys = [
            item["Key"]
            for page in paginator.paginate(Bucket=self._bucket, Prefix=layout.LOCAL_DELIVERY_PREFIX)
            for item in page.get("Contents", [])
        ]
        report = PartitionReport()
        if not keys:
            return report
        with ThreadPoolExecutor(min(self._workers, len(keys)), thread_name_prefix="partitioner") as pool:
            for done in pool.map(self.partition_object, keys):
                report.add(done)
        return report

    def partition_object(self, key: str, report: PartitionReport | None = None) -> PartitionReport:
        """Re-lay one delivered object, then delete it (a key that is not a delivery is left alone)."""
        report = report if report is not None else PartitionReport()
        parsed = layout.parse_local_delivery(key)
        if parsed is None:
            report.skipped.append(key)
            return report
        kind, hour, name = parsed
        try:
            body: bytes = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        except self._s3.exceptions.NoSuchKey:  # another run re-laid and deleted it meanwhile
            return report
        by_model, failed = _split_by_model(kind, body)
        pieces = {
            layout.partitioned_key(kind, hour, name, model): b"".join(lines)
            for model, lines in by_model.items()
        }
        if failed:
            error_key = layout.partition_error_key(kind, layout.PARTITIONING_FAILED, hour, name)
            pieces[error_key] = b"".join(failed)
        for model, lines in by_model.items():
            report.lines[model] = report.lines.get(model, 0) + len(lines)
        report.failed_lines += len(failed)
        for target, content in pieces.items():
            self._s3.put_object(Bucket=self._bucket, Key=target, Body=content)
            report.written.append(target)
        self._s3.delete_object(Bucket=self._bucket, Key=key)
        report.objects += 1
        return report


def _split_by_model(kind: layout.CaptureKind, body: bytes) -> tuple[dict[str, list[bytes]], list[bytes]]:
    """Each newline-terminated line of a delivered object, by its partition model; and the others."""
    if body[:2] == GZIP_MAGIC:
        body = gzip.decompress(body)
    by_model: dict[str, list[bytes]] = {}
    failed: list[bytes] = []
    for line in body.splitlines():
        if not line.strip():
            continue
        model = _model_of(kind, line)
        if model is None:
            failed.append(line + b"\n")
        else:
            by_model.setdefault(model, []).append(line + b"\n")
    return by_model, failed


def _model_of(kind: layout.CaptureKind, line: bytes) -> str | None:
    """The line's partition model as the stream's JQ query reads it, or None when it has none."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    try:
        return layout.partition_model(kind, record)
    except ValueError:
        return None
