"""Static snapshots of the dashboards: one offline HTML page per dashboard, drawn from embedded data.

Each page is the site's dashboard page with every panel's data (evaluated now, over the dashboard's
default time range, by the same code the site's API runs) embedded in it; one copy of
``plotly.min.js`` is written beside the pages, so they open from ``file://`` with no server and no
network.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from modelwatch_local.dashboard_site.evaluation import ALL, Prometheus, evaluate_dashboard, parse_range
from modelwatch_local.dashboard_site.page_model import load_dashboards
from modelwatch_local.dashboard_site.pages import PLOTLY_FILE, RANGES, plotly_js, render_dashboard
from modelwatch_local.paths import DASHBOARDS_DIR


def write_snapshots(
    prometheus_url: str,
    out_dir: Path,
    dashboards_dir: Path = DASHBOARDS_DIR,
    *,
    variables: Mapping[str, str] | None = None,
    time_from: str | None = None,
) -> list[Path]:
    """Write ``<out_dir>/<dashboard file stem>.html`` for every dashboard, and ``plotly.min.js`` beside them.

    Parameters
    ----------
    prometheus_url
        The Prometheus the panels are evaluated against (``http://127.0.0.1:9090``).
    out_dir
        Where the pages go (created if missing); pages of the same names are replaced.
    dashboards_dir
        The Grafana dashboards (``dashboards/``).
    variables
        Values of template variables (``{"model": "fraud_detection"}``; ``"All"`` selects all, ``a|b``
        several of a multi-value variable); the others take their default (all, or the first value).
    time_from
        The start of every page's range up to now (``now-15m``: a short run stays readable); by
        default each dashboard's own ``time``.

    Returns
    -------
    list of Path
        The pages written, in the order of the dashboards' titles.

    Raises
    ------
    DashboardError
        A dashboard cannot be drawn (named in the message); nothing is written then.
    """
    boards = load_dashboards(dashboards_dir)
    requested = {
        name: [ALL] if value == "All" else value.split("|") for name, value in (variables or {}).items()
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(plotly_js(), out_dir / PLOTLY_FILE)
    prometheus = Prometheus(prometheus_url)
    written = []
    try:
        for board in boards:
            now = time.time()
            start, end = (board.time_from, board.time_to) if time_from is None else (time_from, "now")
            span = parse_range(start, end, now=now)
            resolved, panels = evaluate_dashboard(board, prometheus, span, requested)
            label = dict(RANGES).get(start, f"{start} to {end}").lower()
            snapshot = {
                "taken_at": datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
                "range_label": label,
                "time_from": start,
                "range": {"start": span.start, "end": span.end, "step": span.step},
                "variables": [v.to_json() for v in resolved],
                "panels": panels,
            }
            page = out_dir / f"{Path(board.source).stem or board.uid}.html"
            page.write_text(render_dashboard(board, plotly_src=PLOTLY_FILE, snapshot=snapshot, home=""))
            written.append(page)
    finally:
        prometheus.close()
    return written
