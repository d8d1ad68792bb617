"""Reading captured event objects back (JSON Lines, gzip or not)."""

from __future__ import annotations

import gzip
from typing import Any

import pytest

from modelwatch.event_store import decode_event_object, list_event_objects, read_events

BUCKET = "events-bucket"


def test_plain_object_decodes() -> None:
    assert decode_event_object(b'{"a": 1}\n{"a": 2}\n') == [{"a": 1}, {"a": 2}]


def test_gzip_object_decodes() -> None:
    assert decode_event_object(gzip.compress(b'{"a": 1}\n{"b": [2]}')) == [{"a": 1}, {"b": [2]}]


def test_blank_lines_are_skipped() -> None:
    body = b'\n{"a": 1}\n\n   \n\t\r\n{"a": 2}\r\n\n'
    assert decode_event_object(body) == [{"a": 1}, {"a": 2}]
    assert decode_event_object(gzip.compress(body)) == [{"a": 1}, {"a": 2}]


def test_empty_object() -> None:
    assert decode_event_object(b"") == []


def test_corrupt_line_is_an_error_not_silently_dropped() -> None:
    with pytest.raises(ValueError):
        decode_event_object(b'{"a": 1}\n{"a": \n')


def test_read_events_across_objects_in_key_order(s3: Any) -> None:
    # Given two delivered objects under a prefix (one gzipped, as Firehose writes in AWS) and one outside
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="events/model=fraud/dt=2026-01-01/hour=01/b", Body=b'{"i": 3}\n')
    s3.put_object(
        Bucket=BUCKET,
        Key="events/model=fraud/dt=2026-01-01/hour=00/a",
        Body=gzip.compress(b'{"i": 1}\n{"i": 2}\n'),
    )
    s3.put_object(Bucket=BUCKET, Key="rejected/dt=2026-01-01/hour=00/c", Body=b'{"i": 99}\n')
    # When events of the model are listed and read
    objects = list(list_event_objects(s3, BUCKET, "events/model=fraud/"))
    events = list(read_events(s3, BUCKET, "events/model=fraud/"))
    # Then only that prefix is read, object by object in key order
    assert [o.key.rsplit("/", 1)[1] for o in objects] == ["a", "b"]
    assert (objects[1].key, objects[1].size) == ("events/model=fraud/dt=2026-01-01/hour=01/b", 9)
    assert objects[1].etag.strip('"') and objects[1].etag != objects[0].etag  # for stale-profile checks
    assert events == [{"i": 1}, {"i": 2}, {"i": 3}]


def test_read_events_of_an_empty_prefix(s3: Any) -> None:
    s3.create_bucket(Bucket=BUCKET)
    assert list(read_events(s3, BUCKET, "events/")) == []
