"""A JobWorld whose captured records are also files for the embedded SQL engine (performance joins)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from modelwatch.contracts import layout
from modelwatch.jobs.context import JobContext
from modelwatch.stores.sql import DuckDBEngine, Query, QueryResult
from tests.unit.jobs.conftest import EVENTS_BUCKET, JobWorld
from tests.unit.lake import write_object


class CountingEngine(DuckDBEngine):
    """DuckDB over the world's files, keeping the queries it ran."""

    def __init__(self, root: Path, bytes_limit: int | None = None) -> None:
        super().__init__(root, bytes_limit)
        self.queries: list[Query] = []

    def run(self, query: Query) -> QueryResult:
        self.queries.append(query)
        return super().run(query)


@dataclass
class LakeWorld(JobWorld):
    """Delivered objects land in the in-memory bucket (for listing) and, as files, under ``root``."""

    root: Path = field(default_factory=Path)
    engine: CountingEngine | None = None

    @property
    def context(self) -> JobContext:
        context = super().context
        context.sql = self.engine
        return context

    def deliver(
        self, kind: layout.CaptureKind, records: list[dict[str, Any]], at: datetime | None = None
    ) -> str:
        key = super().deliver(kind, records, at)
        write_object(self.root, key, records)
        return key

    def deliver_as(
        self, model: str, kind: layout.CaptureKind, records: list[dict[str, Any]], at: datetime
    ) -> str:
        """Deliver another model's records (under its own partition)."""
        key = layout.partitioned_key(kind, at, f"other-{len(records)}-{at:%H%M%S}", model)
        self.storage.put(EVENTS_BUCKET, key, "".join(json.dumps(r) + "\n" for r in records).encode())
        write_object(self.root, key, records)
        return key
