"""The page model of a Grafana dashboard: what the local site draws, translated from ``dashboards/*.json``.

Grafana's JSON is read once into small typed documents (panels with their grid position, unit,
targets, min/max, thresholds and value mappings; the template variables), so the server, the
snapshots and the browser all work from the same shapes. A panel type the site cannot draw is an
error naming the dashboard and the panel, raised when the dashboard is loaded, never a blank panel.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from modelwatch_local.dashboard_queries import panels as all_panels

PanelKind = Literal["timeseries", "stat", "gauge", "bargauge", "table", "heatmap", "barchart", "row"]
# What each Grafana panel type asks of Prometheus: a range of points, or one instant.
RANGE_KINDS: Final = frozenset({"timeseries", "heatmap"})
INSTANT_KINDS: Final = frozenset({"stat", "gauge", "bargauge", "table", "barchart"})
SUPPORTED_TYPES: Final = tuple(sorted(RANGE_KINDS | INSTANT_KINDS | {"row"}))
_LABEL_VALUES: Final = re.compile(r"\s*label_values\(\s*(?:(.*),\s*)?(\w+)\s*\)\s*")


class DashboardError(ValueError):
    """A dashboard the site cannot draw: the message names the dashboard, the panel or the variable."""


@dataclass(frozen=True)
class GridPos:
    """Grafana's grid position: 24 columns, ``h`` rows of 30 px."""

    x: int
    y: int
    w: int
    h: int


@dataclass(frozen=True)
class Target:
    """One PromQL query of a panel."""

    ref_id: str
    expr: str
    legend_format: str = ""
    format: str = "time_series"


@dataclass(frozen=True)
class Threshold:
    """A step of a panel's thresholds: from ``value`` up (``None`` is the base step), this colour."""

    value: float | None
    color: str


@dataclass(frozen=True)
class ValueText:
    """A value mapping: the text (and colour, if any) shown for a value."""

    text: str
    color: str = ""


@dataclass(frozen=True)
class Panel:
    """A panel as the site draws it."""

    id: int
    title: str
    type: PanelKind
    grid_pos: GridPos
    description: str = ""
    unit: str = "none"
    min: float | None = None
    max: float | None = None
    decimals: int | None = None
    thresholds: tuple[Threshold, ...] = ()
    mappings: dict[str, ValueText] = field(default_factory=dict)
    targets: tuple[Target, ...] = ()
    show_points: bool = False
    log_scale: bool = False
    orientation: str = "horizontal"

    @property
    def needs_range(self) -> bool:
        """Whether its queries run over the time range (``query_range``) rather than at its end."""
        return self.type in RANGE_KINDS


@dataclass(frozen=True)
class Variable:
    """A template variable: a query variable's ``label_values`` (or a constant/custom list)."""

    name: str
    label: str
    type: str
    label_name: str = ""
    match: str = ""
    multi: bool = False
    include_all: bool = False
    all_value: str | None = None
    sort: int = 0
    options: tuple[str, ...] = ()
    hidden: bool = False

    @property
    def depends_on(self) -> set[str]:
        """The variables its query refers to (they are resolved first)."""
        return set(re.findall(r"\$\{?(\w+)", self.match))


@dataclass(frozen=True)
class Dashboard:
    """A dashboard as the site draws it."""

    uid: str
    title: str
    description: str
    tags: tuple[str, ...]
    time_from: str
    time_to: str
    refresh: str
    variables: tuple[Variable, ...]
    panels: tuple[Panel, ...]
    source: str = ""

    def panel(self, panel_id: int) -> Panel:
        """The panel with this id.

        Raises
        ------
        KeyError
            No panel has that id.
        """
        for panel in self.panels:
            if panel.id == panel_id:
                return panel
        raise KeyError(f"{self.uid} has no panel {panel_id}")

    def data_panels(self) -> list[Panel]:
        """The panels that query Prometheus (rows are headings only)."""
        return [p for p in self.panels if p.type != "row"]

    def to_json(self) -> dict[str, Any]:
        """The page model as the browser reads it."""
        return asdict(self)


def load_dashboards(directory: Path) -> list[Dashboard]:
    """Translate every ``*.json`` dashboard in ``directory``, sorted by title.

    Raises
    ------
    DashboardError
        A dashboard has a panel or variable the site cannot draw, or is not valid JSON.
    """
    boards = [load_page(path) for path in sorted(directory.glob("*.json"))]
    return sorted(boards, key=lambda b: b.title)


def load_page(path: Path) -> Dashboard:
    """Translate one Grafana dashboard file.

    Raises
    ------
    DashboardError
        It is not valid JSON, or has a panel or variable the site cannot draw.
    """
    try:
        board = json.loads(path.read_text())
    except ValueError as error:
        raise DashboardError(f"{path.name}: not valid JSON: {error}") from None
    return translate(board, source=path.name)


def translate(board: dict[str, Any], source: str = "dashboard") -> Dashboard:
    """Translate a Grafana dashboard (its JSON model) into the site's page model.

    Parameters
    ----------
    board
        The dashboard's JSON model, as in ``dashboards/*.json``.
    source
        What to call it in errors when it has no uid (its file name).

    Raises
    ------
    DashboardError
        A panel's type is not one the site draws, a panel has no query, or a query variable is not
        ``label_values(...)``; the message names the dashboard and the panel or variable.
    """
    uid = str(board.get("uid") or source)
    time_range = board.get("time") or {}
    return Dashboard(
        uid=uid,
        title=str(board.get("title") or uid),
        description=str(board.get("description") or ""),
        tags=tuple(board.get("tags") or ()),
        time_from=str(time_range.get("from") or "now-6h"),
        time_to=str(time_range.get("to") or "now"),
        refresh=str(board.get("refresh") or ""),
        variables=tuple(
            v
            for v in (_variable(uid, raw) for raw in (board.get("templating") or {}).get("list", []))
            if v is not None
        ),
        panels=tuple(_panel(uid, raw) for raw in all_panels({"panels": board.get("panels", [])})),
        source=source,
    )


def _panel(uid: str, raw: dict[str, Any]) -> Panel:
    where = f"dashboard {uid}, panel {raw.get('id')} ({raw.get('title', 'untitled')!r})"
    kind = raw.get("type")
    if kind not in SUPPORTED_TYPES:
        raise DashboardError(
            f"{where}: panel type {kind!r} is not drawn by the local site "
            f"(it draws {', '.join(SUPPORTED_TYPES)})"
        )
    try:
        grid = GridPos(**{k: int(raw["gridPos"][k]) for k in ("x", "y", "w", "h")})
    except (KeyError, TypeError, ValueError):
        raise DashboardError(f"{where}: gridPos needs integer x, y, w and h") from None
    defaults = (raw.get("fieldConfig") or {}).get("defaults") or {}
    custom = defaults.get("custom") or {}
    targets = tuple(
        Target(
            ref_id=str(t.get("refId") or chr(ord("A") + i)),
            expr=str(t["expr"]),
            legend_format=str(t.get("legendFormat") or ""),
            format=str(t.get("format") or "time_series"),
        )
        for i, t in enumerate(raw.get("targets", []))
        if not t.get("hide") and t.get("expr")
    )
    if kind != "row" and not targets:
        raise DashboardError(f"{where}: no PromQL target to draw")
    options = raw.get("options") or {}
    return Panel(
        id=int(raw["id"]),
        title=str(raw.get("title") or ""),
        type=kind,
        grid_pos=grid,
        description=str(raw.get("description") or ""),
        unit=str(defaults.get("unit") or "none"),
        min=_number(defaults.get("min")),
        max=_number(defaults.get("max")),
        decimals=defaults.get("decimals"),
        thresholds=_thresholds(defaults.get("thresholds")),
        mappings=_mappings(defaults.get("mappings") or []),
        targets=targets,
        show_points=custom.get("showPoints") == "always",
        log_scale=(custom.get("scaleDistribution") or {}).get("type") == "log",
        orientation=str(options.get("orientation") or "horizontal"),
    )


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _thresholds(raw: dict[str, Any] | None) -> tuple[Threshold, ...]:
    if not raw:
        return ()
    return tuple(Threshold(_number(step.get("value")), str(step.get("color", ""))) for step in raw["steps"])


def _mappings(raw: list[dict[str, Any]]) -> dict[str, ValueText]:
    """Grafana's value mappings (``type: value``): the text and colour shown for a value."""
    found: dict[str, ValueText] = {}
    for mapping in raw:
        if mapping.get("type") == "value":
            for value, shown in (mapping.get("options") or {}).items():
                found[str(value)] = ValueText(str(shown.get("text", value)), str(shown.get("color") or ""))
    return found


def _variable(uid: str, raw: dict[str, Any]) -> Variable | None:
    name = str(raw["name"])
    kind = raw.get("type")
    if kind == "datasource":
        return None  # one data source locally: the site's Prometheus
    label_name, match = "", ""
    options: tuple[str, ...] = ()
    if kind == "query":
        definition = raw.get("definition") or (raw.get("query") or {}).get("query", "")
        found = _LABEL_VALUES.fullmatch(str(definition))
        if not found:
            raise DashboardError(
                f"dashboard {uid}, variable {name}: only label_values(...) queries are supported, "
                f"not {definition!r}"
            )
        label_name, match = found.group(2), (found.group(1) or "").strip()
    elif kind in ("custom", "constant", "interval"):
        options = tuple(v.strip() for v in str(raw.get("query") or "").split(",") if v.strip())
    else:
        raise DashboardError(f"dashboard {uid}, variable {name}: variable type {kind!r} is not supported")
    all_value = raw.get("allValue")
    return Variable(
        name=name,
        label=str(raw.get("label") or name),
        type=str(kind),
        label_name=label_name,
        match=match,
        multi=bool(raw.get("multi")),
        include_all=bool(raw.get("includeAll")),
        all_value=None if all_value is None else str(all_value),
        sort=int(raw.get("sort") or 0),
        options=options,
        hidden=raw.get("hide") == 2,
    )
