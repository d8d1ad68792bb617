"""A small self-contained HTML page for quality and performance results (tables, no scripts)."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2rem;color:#222}"
    "table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.3rem .6rem;"
    "text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}"
    ".bad{background:#fde2e2}.ok{background:#e6f4ea}"
)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if value is None:
        return "–"
    return html.escape(str(value))


def render_table_page(
    title: str, verdict: str, alert: bool, tables: Mapping[str, Sequence[Mapping[str, Any]]]
) -> str:
    """One page: a title, a verdict line, and one table per section (rows of dicts)."""
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>",
        f"<p class='{'bad' if alert else 'ok'}'><strong>{html.escape(verdict)}</strong></p>",
    ]
    for section, rows in tables.items():
        parts.append(f"<h2>{html.escape(section)}</h2>")
        if not rows:
            parts.append("<p>none</p>")
            continue
        columns = list(rows[0])
        parts.append("<table><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in columns) + "</tr>")
        for row in rows:
            flagged = bool(row.get("violation") or row.get("below_threshold"))
            parts.append(
                f"<tr class='{'bad' if flagged else ''}'>"
                + "".join(f"<td>{_cell(row.get(c))}</td>" for c in columns)
                + "</tr>"
            )
        parts.append("</table>")
    parts.append("</body></html>")
    return "".join(parts)
