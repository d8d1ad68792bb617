"""Captured records as files in the bucket's layout, for the embedded SQL engine (DuckDB), in unit tests."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def write_object(
    root: Path, key: str, records: Iterable[dict[str, Any] | str], compress: bool = True
) -> Path:
    """One delivered object at ``root/key``: JSON lines (a str is the line itself), gzip by default."""
    lines = "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records).encode()
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(lines) if compress else lines)
    return path
