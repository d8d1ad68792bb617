"""Decoding delivered event objects (JSON Lines, gzip or not)."""

from __future__ import annotations

import gzip

import pytest

from modelwatch.contracts.events import decode_event_object


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
