"""The capture dead-letter messages: the wire format serving has always written, parsed and reassembled."""

from __future__ import annotations

import json

import pytest

from modelwatch.contracts.dead_letters import (
    Fragment,
    FragmentMessage,
    InvalidDeadLetter,
    LinesMessage,
    decode_message,
    encode_message,
    fragment_set_id,
    join_fragments,
    line_event_id,
    missing_fragments,
    split_line,
)


def test_a_lines_message_is_the_bytes_serving_wrote_before_the_contract() -> None:
    lines = ['{"event_id": "e1", "note": "caf\u00e9"}', "b"]
    message = LinesMessage(stream="fraud-events", reason="Throttling: slow", lines=lines)

    assert encode_message(message) == json.dumps(
        {"stream": "fraud-events", "reason": "Throttling: slow", "lines": lines}
    )


def test_a_fragment_message_is_the_bytes_serving_wrote_before_the_contract() -> None:
    fragment = Fragment(line_id="ab12", index=1, count=3, text='"\u00e9')
    message = FragmentMessage(stream="rejected", reason="r", fragment=fragment)

    assert encode_message(message) == json.dumps(
        {
            "stream": "rejected",
            "reason": "r",
            "fragment": {"line_id": "ab12", "index": 1, "count": 3, "text": '"\u00e9'},
        }
    )


def test_both_kinds_decode_to_their_model() -> None:
    lines = decode_message('{"stream": "s", "reason": "r", "lines": ["a", "b"]}')
    fragment = decode_message(
        b'{"stream": "s", "reason": "r", "fragment": {"line_id": "x", "index": 0, "count": 2, "text": "t"}}'
    )

    assert lines == LinesMessage(stream="s", reason="r", lines=["a", "b"])
    assert isinstance(fragment, FragmentMessage) and fragment.fragment.count == 2


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "not JSON"),
        ('["a"]', "not a JSON object"),
        ('{"stream": "s", "reason": "r"}', "lines: Field required"),
        ('{"stream": "s", "reason": "r", "lines": ["a"], "extra": 1}', "extra"),
        ('{"stream": "", "reason": "r", "lines": []}', "stream"),
        ('{"stream": "s", "reason": "r", "lines": [1]}', "lines.0"),
        (
            '{"stream": "s", "reason": "r", '
            '"fragment": {"line_id": "x", "index": 2, "count": 2, "text": ""}}',
            "not below its count",
        ),
    ],
)
def test_what_is_not_a_dead_letter_is_refused_saying_why(body: str, message: str) -> None:
    with pytest.raises(InvalidDeadLetter, match=message):
        decode_message(body)


def test_a_line_split_into_fragments_joins_back_whatever_it_holds() -> None:
    line = '{"body": "' + ('\u00e9\\"\n' * 1000) + '"}'

    messages = split_line("rejected", "r", line, max_chars=700, line_id="L1")

    assert len(messages) == -(-len(line) // 700)
    assert {m.fragment.count for m in messages} == {len(messages)}
    assert all(decode_message(encode_message(m)) == m for m in messages)
    assert join_fragments(reversed([m.fragment for m in messages])) == line


def test_an_incomplete_set_says_what_it_lacks_and_does_not_join() -> None:
    fragments = [m.fragment for m in split_line("s", "r", "abcdefghij", max_chars=3, line_id="L")]
    partial = [fragments[0], fragments[2], fragments[0]]  # a copy of one fragment counts once

    assert missing_fragments(partial) == [1, 3]
    assert missing_fragments(fragments) == []
    with pytest.raises(InvalidDeadLetter, match="2 of 4 fragments missing"):
        join_fragments(partial)


@pytest.mark.parametrize(
    "fragments",
    [
        [
            Fragment(line_id="a", index=0, count=2, text="x"),
            Fragment(line_id="b", index=1, count=2, text="y"),
        ],
        [
            Fragment(line_id="a", index=0, count=2, text="x"),
            Fragment(line_id="a", index=1, count=3, text="y"),
        ],
        [
            Fragment(line_id="a", index=0, count=1, text="x"),
            Fragment(line_id="a", index=0, count=1, text="z"),
        ],
    ],
    ids=["two lines", "two counts", "two texts for one index"],
)
def test_inconsistent_fragments_are_refused(fragments: list[Fragment]) -> None:
    with pytest.raises(InvalidDeadLetter):
        join_fragments(fragments)


def test_a_line_is_known_by_its_event_id_or_else_by_its_digest() -> None:
    assert line_event_id('{"event_id": "9f2c0a", "model": "m"}') == "9f2c0a"
    digest = line_event_id('{"model": "m"}')
    assert digest.startswith("sha256-") and digest == line_event_id('{"model": "m"}')
    assert line_event_id("not json") != digest
    # an event id unfit for a key (a path, say) is not trusted as one
    assert line_event_id('{"event_id": "../state/x"}').startswith("sha256-")


def test_a_fragment_set_has_an_id_of_its_own_distinct_from_any_event_id() -> None:
    assert fragment_set_id("ab12cd") == "fragments-ab12cd"
    assert fragment_set_id("../x").startswith("fragments-sha256-")
    assert fragment_set_id("ab12cd") != line_event_id('{"event_id": "ab12cd"}')
