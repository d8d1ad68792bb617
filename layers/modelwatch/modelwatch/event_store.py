"""Reading captured event objects back from S3 (JSON Lines, gzip or not)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

GZIP_MAGIC = b"\x1f\x8b"


def decode_event_object(body: bytes) -> list[dict[str, Any]]:
    """The JSON records of one delivered object (Firehose gzips in AWS; moto does not)."""
    if body[:2] == GZIP_MAGIC:
        body = gzip.decompress(body)
    return [json.loads(line) for line in body.splitlines() if line.strip()]


@dataclass(frozen=True)
class EventObject:
    key: str
    size: int
    etag: str = ""


def list_event_objects(s3_client: Any, bucket: str, prefix: str) -> Iterator[EventObject]:
    """Every object under ``prefix``, in key order."""
    paginator = s3_client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            yield EventObject(item["Key"], int(item["Size"]), str(item.get("ETag", "")))


def read_events(s3_client: Any, bucket: str, prefix: str) -> Iterator[dict[str, Any]]:
    """Every record of every object under ``prefix``."""
    for obj in list_event_objects(s3_client, bucket, prefix):
        body = s3_client.get_object(Bucket=bucket, Key=obj.key)["Body"].read()
        yield from decode_event_object(body)
