"""The local dashboard site: an ASGI app on 127.0.0.1 that serves the dashboards and evaluates their panels.

``/`` lists the dashboards, ``/d/<uid>`` draws one, ``/static/plotly.min.js`` is the Plotly.js the
pages load, and a small JSON API evaluates, server-side against Prometheus, a dashboard's variables
(``/api/dashboards/<uid>/variables``) and one panel (``/api/dashboards/<uid>/panels/<id>``) for the
time range (``from``, ``to``) and the variables (``var-<name>``, repeated for several values) of the
page's URL, as Grafana's URLs carry them. The dashboards are read from ``dashboards/*.json`` at start.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse

from modelwatch_local.dashboard_site.evaluation import (
    Prometheus,
    RangeError,
    TimeRange,
    evaluate_panel,
    parse_range,
    query_values,
    resolve_variables,
)
from modelwatch_local.dashboard_site.page_model import Dashboard, load_dashboards
from modelwatch_local.dashboard_site.pages import plotly_js, render_dashboard, render_index
from modelwatch_local.paths import DASHBOARDS_DIR
from modelwatch_local.processes import HOST

DEFAULT_PORT = 3000


def create_app(prometheus_url: str, dashboards_dir: Path = DASHBOARDS_DIR) -> FastAPI:
    """The site's ASGI app: the dashboards in ``dashboards_dir``, evaluated against ``prometheus_url``.

    Raises
    ------
    DashboardError
        A dashboard cannot be drawn (named in the message): the site does not start half-working.
    """
    boards = {board.uid: board for board in load_dashboards(dashboards_dir)}
    prometheus = Prometheus(prometheus_url)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        prometheus.close()

    app = FastAPI(
        title="modelwatch dashboards", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan
    )

    def board_of(uid: str) -> Dashboard:
        if uid not in boards:
            raise HTTPException(404, f"no dashboard {uid!r} (there are {', '.join(sorted(boards))})")
        return boards[uid]

    def range_of(request: Request, board: Dashboard) -> TimeRange:
        try:
            return parse_range(
                request.query_params.get("from") or board.time_from,
                request.query_params.get("to") or board.time_to,
            )
        except RangeError as error:
            raise HTTPException(400, str(error)) from None

    def requested(request: Request) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for key, value in request.query_params.multi_items():
            if key.startswith("var-"):
                found.setdefault(key.removeprefix("var-"), []).append(value)
        return found

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        return render_index(sorted(boards.values(), key=lambda b: b.title), prometheus.url)

    @app.get("/d/{uid}", response_class=HTMLResponse)
    def dashboard(uid: str) -> str:
        return render_dashboard(board_of(uid))

    @app.get("/d/{uid}/{slug}", include_in_schema=False)
    def dashboard_with_slug(uid: str, slug: str, request: Request) -> RedirectResponse:
        query = f"?{request.url.query}" if request.url.query else ""
        return RedirectResponse(f"/d/{uid}{query}")

    @app.get("/static/plotly.min.js")
    def plotly() -> FileResponse:
        return FileResponse(
            plotly_js(), media_type="text/javascript", headers={"cache-control": "max-age=86400"}
        )

    @app.get("/api/dashboards")
    def dashboards() -> list[dict[str, Any]]:
        return [board.to_json() for board in boards.values()]

    @app.get("/api/dashboards/{uid}/variables")
    def variables(uid: str, request: Request) -> dict[str, Any]:
        board = board_of(uid)
        span = range_of(request, board)
        resolved = resolve_variables(board, requested(request), prometheus, span)
        return {"range": _range_json(span), "variables": [v.to_json() for v in resolved]}

    @app.get("/api/dashboards/{uid}/panels/{panel_id}")
    def panel(uid: str, panel_id: int, request: Request) -> dict[str, Any]:
        board = board_of(uid)
        try:
            target = board.panel(panel_id)
        except KeyError as error:
            raise HTTPException(404, str(error.args[0])) from None
        span = range_of(request, board)
        resolved = resolve_variables(board, requested(request), prometheus, span)
        values = query_values(board, resolved, span)
        return {**evaluate_panel(target, values, prometheus, span), "range": _range_json(span)}

    return app


def _range_json(span: TimeRange) -> dict[str, float]:
    return {"start": span.start, "end": span.end, "step": span.step}


def serve(prometheus_url: str, port: int = DEFAULT_PORT, dashboards_dir: Path = DASHBOARDS_DIR) -> None:
    """Serve the site on 127.0.0.1:``port`` until interrupted."""
    import uvicorn

    app = create_app(prometheus_url, dashboards_dir)
    uvicorn.run(app, host=HOST, port=port, log_level="warning", access_log=False)
