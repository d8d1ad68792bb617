"""A minimal protobuf reader for WriteRequest, independent of the encoder under test."""

from __future__ import annotations

import struct
from typing import Any


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return result, pos


def fields(data: bytes) -> list[tuple[int, Any]]:
    """Return ``(field number, value)`` pairs: bytes for LEN, float for I64, int for VARINT."""
    pos, found = 0, []
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 2:
            length, pos = _varint(data, pos)
            found.append((number, data[pos : pos + length]))
            pos += length
        elif wire == 1:
            found.append((number, struct.unpack("<d", data[pos : pos + 8])[0]))
            pos += 8
        elif wire == 0:
            value, pos = _varint(data, pos)
            found.append((number, value - (1 << 64) if value >= 1 << 63 else value))
        else:
            raise ValueError(f"unexpected wire type {wire}")
    return found


def decode_write_request(data: bytes) -> list[dict[str, Any]]:
    """Return ``[{"labels": {...}, "samples": [(value, ts_ms), ...]}]``."""
    series = []
    for number, ts_bytes in fields(data):
        assert number == 1
        labels: dict[str, str] = {}
        samples = []
        for ts_number, value in fields(ts_bytes):
            if ts_number == 1:
                pair = dict(fields(value))
                labels[pair[1].decode()] = pair[2].decode()
            elif ts_number == 2:
                sample = dict(fields(value))
                samples.append((sample.get(1, 0.0), sample.get(2, 0)))
        series.append({"labels": labels, "samples": samples})
    return series
