"""The ledger of a load run: one JSON line per request the profile sent, and what it shows.

Latency is the client's (from sending the request to reading the whole answer); quantiles are
nearest-rank over every request of the run or of a stage.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class LedgerEntry:
    """One request: when it started (Unix time), how long it took, what it was and what came back."""

    t: float
    ms: float
    stage: int
    kind: str
    request_id: str
    status: int
    expected: int
    error: str = ""
    instances: int = 0
    version: str | None = None
    labels: tuple[tuple[str, int], ...] = field(default_factory=tuple)

    @property
    def end(self) -> float:
        return self.t + self.ms / 1000.0

    @property
    def as_expected(self) -> bool:
        return self.status == self.expected


def read_ledger(path: Path) -> list[LedgerEntry]:
    """Every entry of the ledger at ``path`` (none when it does not exist), by start time."""
    if not path.exists():
        return []
    entries = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        try:
            raw: dict[str, Any] = json.loads(line)
        except ValueError:  # a line being written while the run goes on
            continue
        raw["labels"] = tuple((str(rid), int(index)) for rid, index in raw.get("labels", []))
        entries.append(LedgerEntry(**raw))
    return sorted(entries, key=lambda e: e.t)


def quantile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank ``q`` quantile (0 < q <= 1) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def latency_summary(entries: Iterable[LedgerEntry]) -> dict[str, float | None]:
    """p50, p95, p99 and max of the answered requests' latency, in milliseconds."""
    values = [e.ms for e in entries if e.status]
    return {
        "p50": _round(quantile(values, 0.50)),
        "p95": _round(quantile(values, 0.95)),
        "p99": _round(quantile(values, 0.99)),
        "max": _round(max(values) if values else None),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def span_seconds(entries: Sequence[LedgerEntry]) -> float:
    """From the first request's start to the last answer."""
    if not entries:
        return 0.0
    return max(e.end for e in entries) - min(e.t for e in entries)


def summarize(entries: Sequence[LedgerEntry]) -> dict[str, Any]:
    """Requests, throughput, latency quantiles, statuses by kind, and the unexpected answers by status.

    A status is unexpected when it is not the one its kind must get (200 for predictions, 422 for
    schema violations, 202 for labels); status 0 is a request that got no answer (timeout, refused).
    """
    seconds = span_seconds(entries)
    kinds = sorted({e.kind for e in entries})
    return {
        "requests": len(entries),
        "seconds": round(seconds, 2),
        "requests_per_second": round(len(entries) / seconds, 2) if seconds > 0 else None,
        "latency_ms": latency_summary(entries),
        "by_kind": {
            kind: {
                "requests": sum(1 for e in entries if e.kind == kind),
                "latency_ms": latency_summary(e for e in entries if e.kind == kind),
                "statuses": _statuses(e for e in entries if e.kind == kind),
            }
            for kind in kinds
        },
        "statuses": _statuses(entries),
        "errors_by_status": _statuses(e for e in entries if not e.as_expected),
    }


def _statuses(entries: Iterable[LedgerEntry]) -> dict[str, int]:
    counts = Counter(str(e.status) for e in entries)
    return dict(sorted(counts.items()))
