"""The capture dead-letter queue's messages: what serving writes when Firehose refuses lines.

The replay reads them back (``modelwatch.jobs.capture_replay``).

A message body is one JSON object, of one of two kinds::

    {"stream": "<Firehose stream>", "reason": "<last error>", "lines": ["<JSON line>", ...]}
    {"stream": ..., "reason": ..., "fragment": {"line_id": "<hex>", "index": 0, "count": 3, "text": "..."}}

A line is the JSON line of a ``PredictionEvent``, ``RejectedRequest`` or ``LabelEvent``
(``contracts.events``), each with its ``event_id``; ``stream`` is the Firehose stream it was
meant for. A line too long for one message travels as ``count`` fragments of one
``line_id``; their texts joined in ``index`` order are the line (:func:`join_fragments`).

The body is ``json.dumps`` of the model's dump (ASCII, default separators): the bytes serving
wrote before this module existed, so queues filled by an older version replay unchanged.
No I/O.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

# An event id is a key part of the replay's claims: plain characters, bounded length.
_KEY_SAFE_ID: Final = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


class InvalidDeadLetter(ValueError):
    """A message body that is not a capture dead letter (not JSON, or not one of the two kinds)."""


class Fragment(BaseModel):
    """One piece of a line too long for one message."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    line_id: str = Field(min_length=1, description="Shared by every fragment of one line.")
    index: int = Field(ge=0, description="Position of this piece, from 0.")
    count: int = Field(ge=1, description="How many pieces the line was cut into.")
    text: str

    @model_validator(mode="after")
    def _index_within_count(self) -> Fragment:
        if self.index >= self.count:
            raise ValueError(f"fragment index {self.index} is not below its count {self.count}")
        return self


class LinesMessage(BaseModel):
    """Whole lines of one stream, in the order serving emitted them."""

    model_config = ConfigDict(extra="forbid")

    stream: str = Field(min_length=1)
    reason: str
    lines: list[str]


class FragmentMessage(BaseModel):
    """One fragment of one line of one stream."""

    model_config = ConfigDict(extra="forbid")

    stream: str = Field(min_length=1)
    reason: str
    fragment: Fragment


DeadLetterMessage = LinesMessage | FragmentMessage


def encode_message(message: DeadLetterMessage) -> str:
    """The message body: ``json.dumps`` of the fields in their declared order."""
    return json.dumps(message.model_dump())


def decode_message(body: str | bytes) -> DeadLetterMessage:
    """Parse a message body.

    Raises
    ------
    InvalidDeadLetter
        The body is not JSON, or is neither a lines message nor a fragment message.
    """
    try:
        document: Any = json.loads(body)
    except ValueError as error:
        raise InvalidDeadLetter(f"not JSON: {error}") from None
    if not isinstance(document, dict):
        raise InvalidDeadLetter("not a JSON object")
    kind: type[LinesMessage] | type[FragmentMessage] = (
        FragmentMessage if "fragment" in document else LinesMessage
    )
    try:
        return kind.model_validate(document)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ())) or "message"
        raise InvalidDeadLetter(f"not a dead letter: {where}: {first.get('msg', 'invalid')}") from None


def split_line(stream: str, reason: str, line: str, max_chars: int, line_id: str) -> list[FragmentMessage]:
    """Cut ``line`` into fragments of at most ``max_chars`` characters, all under ``line_id``."""
    if max_chars < 1:
        raise ValueError("max_chars must be at least 1")
    pieces = [line[i : i + max_chars] for i in range(0, len(line), max_chars)] or [""]
    return fragment_messages(stream, reason, pieces, line_id)


def split_line_to_fit(
    stream: str, reason: str, line: str, max_text_bytes: int, line_id: str
) -> list[FragmentMessage]:
    """Cut ``line`` into as few fragments as fit: each piece's JSON-encoded text at most ``max_text_bytes``.

    Pieces are sized from the line's own escaping (a body of plain text needs a sixth of the
    fragments the worst case, every character escaped as ``\\uXXXX``, would), then checked.
    """
    if max_text_bytes < 6:
        raise ValueError("max_text_bytes must hold at least one escaped character")
    ratio = max(1.0, _encoded_size(line) / max(1, len(line)))
    step = max(1, int(max_text_bytes / ratio * 0.9))
    pieces: list[str] = []
    start = 0
    while start < len(line):
        end = min(len(line), start + step)
        while end > start + 1 and _encoded_size(line[start:end]) > max_text_bytes:
            end = start + (end - start) * 3 // 4
        pieces.append(line[start:end])
        start = end
    return fragment_messages(stream, reason, pieces or [""], line_id)


def _encoded_size(text: str) -> int:
    """Bytes of ``text`` as a JSON string in a message body (``json.dumps``'s escaping)."""
    return len(json.dumps(text).encode())


def fragment_messages(stream: str, reason: str, pieces: list[str], line_id: str) -> list[FragmentMessage]:
    """The fragment messages of one line cut into ``pieces``, in order."""
    return [
        FragmentMessage(
            stream=stream,
            reason=reason,
            fragment=Fragment(line_id=line_id, index=index, count=len(pieces), text=piece),
        )
        for index, piece in enumerate(pieces)
    ]


def missing_fragments(fragments: Iterable[Fragment]) -> list[int]:
    """The indices a set of fragments of one line still lacks (empty when it is complete).

    Raises
    ------
    InvalidDeadLetter
        The fragments belong to different lines, disagree on their count, or two of one
        index differ in text.
    """
    parts = _by_index(fragments)
    if not parts:
        return []
    count = next(iter(parts.values())).count
    return [index for index in range(count) if index not in parts]


def join_fragments(fragments: Iterable[Fragment]) -> str:
    """The line a complete set of fragments is (copies of one fragment count once).

    Raises
    ------
    InvalidDeadLetter
        The set is empty or incomplete, or inconsistent (see :func:`missing_fragments`).
    """
    parts = _by_index(fragments)
    if not parts:
        raise InvalidDeadLetter("no fragments")
    count = next(iter(parts.values())).count
    missing = [index for index in range(count) if index not in parts]
    if missing:
        raise InvalidDeadLetter(f"incomplete line: {len(missing)} of {count} fragments missing")
    return "".join(parts[index].text for index in range(count))


def _by_index(fragments: Iterable[Fragment]) -> dict[int, Fragment]:
    parts: dict[int, Fragment] = {}
    for fragment in fragments:
        first = next(iter(parts.values()), fragment)
        if fragment.line_id != first.line_id:
            raise InvalidDeadLetter(f"fragments of lines {first.line_id} and {fragment.line_id} mixed")
        if fragment.count != first.count:
            raise InvalidDeadLetter(f"fragments of line {fragment.line_id} disagree on their count")
        seen = parts.setdefault(fragment.index, fragment)
        if seen.text != fragment.text:
            raise InvalidDeadLetter(f"two different fragments {fragment.index} of line {fragment.line_id}")
    return parts


def line_event_id(line: str) -> str:
    """What identifies a line's event: its ``event_id``, or a digest of the line if it has none.

    Every line serving captures has an ``event_id`` (a UUID's hex); one that is not JSON,
    has none, or has one unfit for a key is identified by the SHA-256 of its text, so the
    same line is still recognised when it comes back.
    """
    try:
        document: Any = json.loads(line)
    except ValueError:
        document = None
    event_id = document.get("event_id") if isinstance(document, dict) else None
    if isinstance(event_id, str) and _KEY_SAFE_ID.match(event_id):
        return event_id
    return "sha256-" + hashlib.sha256(line.encode()).hexdigest()


def fragment_set_id(line_id: str) -> str:
    """What identifies a fragmented line as a whole (the replay marks it replayed under this id).

    A stray copy of one fragment, received after its line was replayed, is recognised by it.
    """
    if _KEY_SAFE_ID.match(line_id) and len(line_id) <= 100:
        return f"fragments-{line_id}"
    return "fragments-sha256-" + hashlib.sha256(line_id.encode()).hexdigest()
