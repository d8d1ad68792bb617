"""The local dashboard site's HTML: the list of dashboards, a dashboard page, and its offline snapshot.

A dashboard page is its grid of panels laid out from Grafana's ``gridPos`` (24 columns, 30 px rows),
the page model as JSON, and the site's script, which draws each panel with Plotly.js. A snapshot is
the same page with the panels' data embedded, so it draws from a ``file://`` URL with no server.
"""

from __future__ import annotations

import html
import importlib.util
import json
from importlib import resources
from pathlib import Path
from typing import Any, Final

from modelwatch_local.dashboard_site.page_model import Dashboard, Panel

PLOTLY_FILE: Final = "plotly.min.js"
RANGES: Final = (("now-15m", "Last 15 minutes"), ("now-1h", "Last 1 hour"), ("now-6h", "Last 6 hours"),
                 ("now-24h", "Last 24 hours"))  # fmt: skip
REFRESHES: Final = (("", "Off"), ("10s", "10s"), ("30s", "30s"), ("1m", "1m"), ("5m", "5m"))
FOOTER: Final = (
    "Rendered from <code>{source}</code> against Prometheus. Charts drawn by "
    '<a href="https://github.com/plotly/plotly.js">plotly.js</a> (MIT licence, the copy shipped in the '
    "<code>plotly</code> Python package). The local modelwatch dashboard site, a stand-in for Grafana."
)


def plotly_js() -> Path:
    """The ``plotly.min.js`` bundled in the ``plotly`` Python package (MIT licence)."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("the plotly package (it ships plotly.js) is not installed")
    return Path(spec.origin).parent / "package_data" / PLOTLY_FILE


def _static(name: str) -> str:
    return (resources.files("modelwatch_local.dashboard_site") / "static" / name).read_text()


def _page(title: str, body: str, scripts: str = "") -> str:
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{_static('site.css')}</style></head>\n<body>{body}{scripts}</body></html>\n"
    )


def render_index(dashboards: list[Dashboard], prometheus_url: str) -> str:
    """The site's home page: every dashboard, with its description and tags."""
    items = "".join(
        f'<li><a href="/d/{html.escape(b.uid)}">{html.escape(b.title)}</a>'
        + "".join(f'<span class="tag">{html.escape(t)}</span>' for t in b.tags)
        + f'<span class="description">{html.escape(b.description)}</span></li>'
        for b in dashboards
    )
    body = (
        '<header><h1>modelwatch dashboards</h1><span class="spacer"></span>'
        f'<span class="snapshot-note">Prometheus {html.escape(prometheus_url)}</span></header>'
        f'<ul class="boards">{items}</ul>'
        f"<footer>{FOOTER.format(source='dashboards/*.json')}</footer>"
    )
    return _page("modelwatch dashboards", body)


def _panel_html(panel: Panel) -> str:
    grid = panel.grid_pos
    style = f"grid-column: {grid.x + 1} / span {grid.w}; grid-row: {grid.y + 1} / span {grid.h}"
    title = html.escape(panel.title)
    if panel.type == "row":
        return f'<div class="row-heading" style="{style}" data-panel-id="{panel.id}">{title}</div>'
    return (
        f'<section class="panel" id="panel-{panel.id}" data-panel-id="{panel.id}" data-type="{panel.type}" '
        f'data-state="loading" data-points="0" style="{style}">'
        f'<h2 title="{html.escape(panel.description or panel.title)}">{title}</h2>'
        '<div class="body"><div class="message">Loading…</div></div></section>'
    )


def _options(choices: tuple[tuple[str, str], ...]) -> str:
    return "".join(f'<option value="{html.escape(v)}">{html.escape(label)}</option>' for v, label in choices)


def render_dashboard(
    dashboard: Dashboard,
    *,
    plotly_src: str = f"/static/{PLOTLY_FILE}",
    snapshot: dict[str, Any] | None = None,
    home: str = "/",
) -> str:
    """A dashboard's page; with ``snapshot`` (variables, range and panel data), one that draws offline.

    Parameters
    ----------
    dashboard
        The page model.
    plotly_src
        Where the page loads Plotly.js from (the site's copy, or a file beside a snapshot).
    snapshot
        ``{"variables": [...], "range": {...}, "panels": [...], "taken_at": "..."}``: the data embedded
        in a static page; ``None`` for a live page that asks the site's API.
    home
        The link back to the list of dashboards (empty for none).
    """
    model = json.dumps({"dashboard": dashboard.to_json(), "snapshot": snapshot}).replace("</", "<\\/")
    note = ""
    if snapshot is not None:
        note = (
            f'<span class="snapshot-note">snapshot taken {html.escape(snapshot["taken_at"])}, '
            f"{html.escape(snapshot['range_label'])}</span>"
        )
    back = f'<a href="{html.escape(home)}">Dashboards</a> / ' if home else ""
    header = (
        f"<header><h1>{back}{html.escape(dashboard.title)}</h1>"
        '<div id="variables" class="control"></div><span class="spacer"></span>'
        f"{note}"
        '<label class="control"><span>Time range</span>'
        f'<select id="range">{_options(RANGES)}</select></label>'
        '<label class="control"><span>Refresh</span>'
        f'<select id="refresh">{_options(REFRESHES)}</select></label>'
        '<button id="reload" type="button" title="Run the queries again">Refresh now</button></header>'
    )
    grid = "".join(_panel_html(p) for p in dashboard.panels)
    footer = FOOTER.format(source=html.escape(f"dashboards/{dashboard.source or dashboard.uid}"))
    body = f'{header}<main class="grid">{grid}</main><footer>{footer}</footer>'
    scripts = (
        f'<script id="page-model" type="application/json">{model}</script>'
        f'<script src="{html.escape(plotly_src)}"></script>'
        f"<script>{_static('site.js')}</script>"
    )
    return _page(dashboard.title, body, scripts)
