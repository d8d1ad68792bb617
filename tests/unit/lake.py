"""Captured records as files in the bucket's layout, for the embedded SQL engine (DuckDB), in unit tests.

``model_partitioned_labels`` lays labels out per model (``labels/model=<m>/dt=.../hour=...``),
the layout the SQL tables read. Until the layout partitions labels by model itself, the
fixture swaps ``layout.capture_prefix`` for one that does; once it does, the fixture changes
nothing.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from modelwatch.contracts import layout


def write_object(
    root: Path, key: str, records: Iterable[dict[str, Any] | str], compress: bool = True
) -> Path:
    """One delivered object at ``root/key``: JSON lines (a str is the line itself), gzip by default."""
    lines = "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records).encode()
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(lines) if compress else lines)
    return path


@pytest.fixture
def model_partitioned_labels(monkeypatch: pytest.MonkeyPatch) -> None:
    if "model=" in layout.capture_prefix("labels", "m"):
        return
    original = layout.capture_prefix

    def capture_prefix(kind: layout.CaptureKind, model: str | None = None) -> str:
        if kind == "events" or not model:
            return original(kind, model)
        return f"{original(kind)}model={model}/"

    monkeypatch.setattr(layout, "capture_prefix", capture_prefix)
    monkeypatch.setattr(layout, "partitioned_by_model", lambda kind: True)
