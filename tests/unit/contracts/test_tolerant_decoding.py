"""Decoding delivered objects tolerantly: unreadable lines are counted, readable ones kept."""

from __future__ import annotations

import gzip

import pytest

from modelwatch.contracts.events import decode_event_object, decode_event_object_tolerant


@pytest.mark.parametrize("compress", [False, True])
def test_a_clean_object_decodes_as_the_strict_decoder_does(compress: bool) -> None:
    body = b'{"a": 1}\n\n  \n{"b": [2]}\r\n'
    body = gzip.compress(body) if compress else body

    assert decode_event_object_tolerant(body) == (decode_event_object(body), 0)


@pytest.mark.parametrize("compress", [False, True])
def test_lines_that_are_not_json_objects_are_counted_and_the_rest_kept(compress: bool) -> None:
    body = b'{"a": 1}\n{"a": \nnot json\n[1, 2]\n"text"\n\xff\xfe\n{"a": 2}\n'
    body = gzip.compress(body) if compress else body

    records, unreadable = decode_event_object_tolerant(body)

    assert records == [{"a": 1}, {"a": 2}] and unreadable == 5


def test_a_body_that_cannot_be_decompressed_is_one_unreadable_line() -> None:
    truncated = gzip.compress(b'{"a": 1}\n' * 100)[:-12]
    garbage = b"\x1f\x8b" + b"\x00" * 30

    assert decode_event_object_tolerant(truncated) == ([], 1)
    assert decode_event_object_tolerant(garbage) == ([], 1)


def test_an_empty_object_has_nothing_unreadable() -> None:
    assert decode_event_object_tolerant(b"") == ([], 0)
