"""docs/querying.md: its tables are contracts.tables; every example runs (DuckDB) and parses (Trino)."""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlglot

from modelwatch.contracts import layout, tables
from modelwatch.stores.sql import DuckDBEngine, Query

DOC = Path(__file__).resolve().parents[2] / "docs" / "querying.md"
BEGIN, END = "<!-- tables: generated from modelwatch.contracts.tables -->", "<!-- tables: end -->"
DAY = datetime(2026, 11, 30, tzinfo=UTC)
_ROOT = {"events": layout.EVENTS_PREFIX, "rejected": layout.REJECTED_PREFIX, "labels": layout.LABELS_PREFIX}


def render_tables() -> str:
    """The doc's table section, as contracts.tables defines it."""
    parts = []
    for table in tables.TABLES.values():
        parts.append(f"### `{table.name}`\n\n{table.comment}\n")
        parts.append("| column | type | meaning |\n| --- | --- | --- |")
        parts.extend(f"| `{c.name}` | {c.type} | {c.comment} |" for c in table.columns)
        parts.extend(
            f"| `{key}` | string (partition) | {meaning} |"
            for key, meaning in zip(
                tables.PARTITION_KEYS,
                ("The model (projection: injected, name it in every query).", "Delivery day, YYYY-MM-DD.",
                 "Delivery hour, 00 to 23."),
                strict=True,
            )
        )  # fmt: skip
        parts.append("")
    return "\n".join(parts).rstrip("\n")


def test_the_documented_tables_are_the_contracts_tables() -> None:
    text = DOC.read_text()
    section = text.split(BEGIN, 1)[1].split(END, 1)[0].strip("\n")

    assert section == render_tables(), "regenerate docs/querying.md's tables from render_tables()"


def _write(
    root: Path, kind: layout.CaptureKind, model: str, hour: datetime, records: list[dict[str, Any]]
) -> None:
    # The model-partitioned layout of every kind: <kind>/model=<m>/dt=YYYY-MM-DD/hour=HH/<object>.
    path = root / f"{_ROOT[kind]}model={model}/{layout.hour_partition(hour)}{kind}-{hour:%H}.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in records).encode()))


def _generate(root: Path) -> None:
    """Two days of a fraud model (two versions) and one other model, with rejections and late labels."""
    counter = 0
    for day in (DAY - timedelta(days=1), DAY):
        for hour in (9, 10):
            at = day + timedelta(hours=hour)
            for model in ("fraud", "churn"):
                events, rejected, labels = [], [], []
                for i in range(40):
                    counter += 1
                    request = f"{model}-{at:%d%H}-{i}"
                    score = ((i * 37) % 100) / 100
                    events.append(
                        {
                            "schema_version": 1,
                            "event_id": f"e{counter}",
                            "request_id": request,
                            "index": 0,
                            "model": model,
                            "version": "2" if i % 4 == 0 else "1",
                            "timestamp": at.isoformat(),
                            "features": {
                                "amount": float(i),
                                "merchant_category": ["travel", "groceries"][i % 2],
                            },
                            "prediction": score,
                            "latency_ms": 5.0 + i,
                        }
                    )
                    if i % 3 == 0:
                        labels.append(
                            {
                                "schema_version": 1,
                                "event_id": f"l{counter}",
                                "request_id": request,
                                "index": 0,
                                "model": model,
                                "label": score > 0.5 if i % 6 else score <= 0.5,
                                "timestamp": (at + timedelta(hours=1)).isoformat(),
                            }
                        )
                    if i % 10 == 0:
                        rejected.append(
                            {
                                "schema_version": 1,
                                "event_id": f"r{counter}",
                                "request_id": f"bad-{request}",
                                "model": model,
                                "version": "1",
                                "timestamp": at.isoformat(),
                                "reason": ["schema_violation", "invalid_json"][i % 20 // 10],
                                "status_code": 422,
                                "errors": [{"loc": ["amount"], "msg": "missing"}],
                                "body": "{}",
                                "body_truncated": False,
                            }
                        )
                _write(root, "events", model, at, events)
                _write(root, "labels", model, at, labels)
                _write(root, "rejected", model, at, rejected)
    yesterday = layout.hour_partition(DAY - timedelta(days=1) + timedelta(hours=9))
    (root / f"{_ROOT['events']}model=fraud/{yesterday}corrupt").write_text("not json\n")  # a row of nulls


def _examples() -> list[tuple[str, str]]:
    """``(title, sql)`` of every ```sql block under an ``### Example`` heading."""
    found = re.findall(r"^### Example: (.+?)\n.*?```sql\n(.+?)```", DOC.read_text(), flags=re.M | re.S)
    return [(title.strip(), sql.strip()) for title, sql in found]


def _check_high_scores(rows: list[dict[str, Any]]) -> None:
    assert rows and all(r["score"] > 0.9 and r["merchant_category"] == "travel" for r in rows)


def _check_rejections(rows: list[dict[str, Any]]) -> None:
    assert {r["reason"] for r in rows} == {"schema_violation", "invalid_json"}
    assert sum(r["requests"] for r in rows) == 2 * 2 * 4  # fraud only: 2 days x 2 hours x 4


def _check_labels(rows: list[dict[str, Any]]) -> None:
    assert [r["dt"] for r in rows] == ["2026-11-29", "2026-11-30"]
    assert all(r["labels"] == 2 * 14 for r in rows)  # 14 labels an hour, 2 hours a day


def _check_latency(rows: list[dict[str, Any]]) -> None:
    assert {(r["hour"], r["version"]) for r in rows} == {("09", "1"), ("09", "2"), ("10", "1"), ("10", "2")}
    assert all(5.0 <= r["p99_latency_ms"] <= 45.0 for r in rows)
    assert sum(r["predictions"] for r in rows) == 80


def _check_accuracy(rows: list[dict[str, Any]]) -> None:
    assert {r["version"] for r in rows} == {"1", "2"}
    assert sum(r["labelled"] for r in rows) == 28 and all(0 <= r["accuracy"] <= 1 for r in rows)


CHECKS: dict[str, Callable[[list[dict[str, Any]]], None]] = {
    "high-scoring travel predictions yesterday": _check_high_scores,
    "rejected requests by reason per hour": _check_rejections,
    "labels that arrived per day": _check_labels,
    "p99 latency per version per hour": _check_latency,
    "accuracy per version from the labels that arrived": _check_accuracy,
}


def test_the_doc_has_an_example_for_every_check() -> None:
    assert [title for title, _ in _examples()] == list(CHECKS)


@pytest.mark.parametrize(("title", "sql"), _examples(), ids=[title for title, _ in _examples()])
def test_every_example_parses_in_athenas_dialect_and_runs_on_the_embedded_engine(
    title: str, sql: str, tmp_path: Path
) -> None:
    sqlglot.parse_one(sql, read="trino")  # raises on a query Athena's dialect cannot read
    assert re.search(r"\bmodel\s*=\s*'", sql), "every example names its model (injected projection)"
    assert re.search(r"\bdt\b", sql), "every example names its days"
    _generate(tmp_path)

    result = DuckDBEngine(tmp_path).run(Query(sql=sql, description=title))

    CHECKS[title](result.rows)
