"""Evaluating a dashboard against Prometheus, server-side: time range, step, variables, panel data.

This plays Grafana's query layer for the local site and its snapshots: the time range and the step
(``$__interval``, ``$__rate_interval``, ``$__range``) as Grafana chooses them, the template variables'
values from ``/api/v1/label/<name>/values``, each panel's targets substituted (by
``modelwatch_local.dashboard_queries``) and sent to ``/api/v1/query_range`` (time series, heatmaps)
or ``/api/v1/query`` (stat, gauge, bar gauge, bar chart, table), and the answers shaped into the
JSON a panel draws from. The browser never talks to Prometheus itself.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final

import httpx

from modelwatch_local.dashboard_queries import prometheus_value, substitute
from modelwatch_local.dashboard_site.page_model import Dashboard, Panel, Target, Variable

ALL: Final = "$__all"
# The scrape interval the provisioned AMP data source declares (the metrics export's period); Grafana's
# $__rate_interval is max(4 x this, step + this).
SCRAPE_INTERVAL_SECONDS: Final = 60.0
# The local export runs every 15 s: no finer step is worth asking for.
MIN_STEP_SECONDS: Final = 15.0
MAX_POINTS: Final = 240
# Grafana's interval rounding (kbn.roundInterval): below the bound, this step.
_ROUNDED_STEPS: Final = (
    (12.5, 10), (17.5, 15), (25, 20), (45, 30), (90, 60), (210, 120), (450, 300), (750, 600),
    (1050, 900), (1500, 1200), (2700, 1800), (5400, 3600), (9000, 7200), (16200, 10800), (32400, 21600),
)  # fmt: skip
_RELATIVE = re.compile(r"now(?:-(\d+)([smhdw]))?")
_UNIT_SECONDS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_LEGEND = re.compile(r"\{\{\s*(\w+)\s*\}\}")


class QueryError(RuntimeError):
    """Prometheus refused a query or could not be reached; the message is Prometheus's own."""


class RangeError(ValueError):
    """A time range the site cannot read (``from``/``to`` are ``now``, ``now-<n><s|m|h|d|w>`` or epoch ms)."""


@dataclass(frozen=True)
class TimeRange:
    """The dashboard's time range, in epoch seconds, and the step its range queries use."""

    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start

    @property
    def step(self) -> float:
        """Grafana's ``$__interval``: the range over the points a panel draws, rounded as Grafana does."""
        return choose_step(self.seconds)

    def builtins(self) -> dict[str, str]:
        """Grafana's built-in variables for this range."""
        step = self.step
        return {
            "__interval": duration(step),
            "__auto": duration(step),
            "__rate_interval": duration(max(4 * SCRAPE_INTERVAL_SECONDS, step + SCRAPE_INTERVAL_SECONDS)),
            "__range": duration(self.seconds),
            "__range_s": str(round(self.seconds)),
            "__from": str(round(self.start * 1000)),
            "__to": str(round(self.end * 1000)),
        }


def parse_range(time_from: str, time_to: str = "now", now: float | None = None) -> TimeRange:
    """Read Grafana's ``from``/``to`` (``now-6h``, ``now``, or epoch milliseconds).

    Raises
    ------
    RangeError
        One of them cannot be read, or ``from`` is not before ``to``.
    """
    at = time.time() if now is None else now
    start, end = _instant(time_from, at), _instant(time_to, at)
    if start >= end:
        raise RangeError(f"the time range must start before it ends: from={time_from} to={time_to}")
    return TimeRange(start, end)


def _instant(text: str, now: float) -> float:
    if text.isdigit():
        return int(text) / 1000
    match = _RELATIVE.fullmatch(text.strip())
    if not match:
        raise RangeError(f"cannot read the time {text!r}: use now, now-<n><s|m|h|d|w> or epoch milliseconds")
    if match.group(1) is None:
        return now
    return now - int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def choose_step(range_seconds: float, max_points: int = MAX_POINTS) -> float:
    """The step of a range query over ``range_seconds``: at least 15 s, and the range over ``max_points``
    rounded to a nice step as Grafana rounds it (to the nearest, so up to 1.5 x ``max_points`` points)."""
    raw = max(range_seconds / max_points, MIN_STEP_SECONDS)
    for bound, step in _ROUNDED_STEPS:
        if raw < bound:
            return float(max(step, MIN_STEP_SECONDS))
    return float(math.ceil(raw / 86400) * 86400)


def duration(seconds: float) -> str:
    """A PromQL duration: ``4m``, ``90s``, ``6h``."""
    whole = max(1, round(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if whole % size == 0:
            return f"{whole // size}{unit}"
    return f"{whole}s"


class Prometheus:
    """Prometheus's HTTP API, as the site uses it (queries, range queries, label values)."""

    def __init__(self, url: str, timeout: float = 15.0) -> None:
        self.url = url.rstrip("/")
        self._client = httpx.Client(base_url=self.url, timeout=timeout)

    def close(self) -> None:
        self._client.close()

    def query(self, expr: str, at: float) -> dict[str, Any]:
        """``/api/v1/query`` at ``at``: ``{"resultType": ..., "result": ...}``."""
        data: dict[str, Any] = self._get("/api/v1/query", {"query": expr, "time": f"{at:.3f}"})
        return data

    def query_range(self, expr: str, span: TimeRange) -> dict[str, Any]:
        """``/api/v1/query_range`` over ``span`` at its step."""
        params = {
            "query": expr,
            "start": f"{span.start:.3f}",
            "end": f"{span.end:.3f}",
            "step": str(span.step),
        }
        data: dict[str, Any] = self._get("/api/v1/query_range", params)
        return data

    def label_values(self, label: str, match: str, span: TimeRange) -> list[str]:
        """``/api/v1/label/<label>/values`` of the series ``match`` selects (all if empty) in ``span``."""
        params: dict[str, str] = {"start": f"{span.start:.3f}", "end": f"{span.end:.3f}"}
        if match:
            params["match[]"] = match
        values: list[str] = self._get(f"/api/v1/label/{label}/values", params)
        return values

    def _get(self, path: str, params: Mapping[str, str]) -> Any:
        try:
            answer = self._client.get(path, params=dict(params))
        except httpx.HTTPError as error:
            raise QueryError(f"Prometheus at {self.url} did not answer: {error}") from None
        try:
            body = answer.json()
        except ValueError:
            raise QueryError(f"Prometheus answered {answer.status_code}: {answer.text[:300]}") from None
        if body.get("status") != "success":
            raise QueryError(str(body.get("error") or f"Prometheus answered {answer.status_code}"))
        return body["data"]


@dataclass(frozen=True)
class ResolvedVariable:
    """A template variable with its values now and the selection."""

    name: str
    label: str
    multi: bool
    include_all: bool
    options: list[str]
    selected: list[str]
    all: bool
    hidden: bool = False
    error: str = ""

    def query_value(self, variable: Variable) -> str:
        """What replaces ``$name`` in a query (Grafana's formatting for Prometheus)."""
        if self.all:
            if variable.all_value is not None:
                return variable.all_value
            return prometheus_value(self.options, True) if self.options else ".*"
        return prometheus_value(self.selected, variable.multi or variable.include_all)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def sort_options(values: Sequence[str], sort: int) -> list[str]:
    """Grafana's variable sort: 0 as returned, 1/2 alphabetical, 3/4 numerical, 5/6 case-insensitive."""
    if sort in (1, 2):
        return sorted(values, reverse=sort == 2)
    if sort in (3, 4):
        return sorted(values, key=_numeric, reverse=sort == 4)
    if sort in (5, 6):
        return sorted(values, key=str.lower, reverse=sort == 6)
    return list(values)


def _numeric(value: str) -> tuple[float, str]:
    found = re.search(r"-?\d+(?:\.\d+)?", value)
    return (float(found.group()) if found else math.inf, value)


def resolve_variables(
    dashboard: Dashboard,
    requested: Mapping[str, Sequence[str]],
    prometheus: Prometheus,
    span: TimeRange,
) -> list[ResolvedVariable]:
    """The variables' options now and the selection: ``requested`` (``$__all`` or ``All`` for all), else
    Grafana's default here (all for an include-all variable, else the first option).

    A variable's query may use the variables before it (``version`` from the selected ``model``). A
    requested value that is not among the options is kept, as Grafana keeps a value from the URL.
    """
    resolved: list[ResolvedVariable] = []
    values: dict[str, str] = span.builtins()
    for variable in dashboard.variables:
        error = ""
        if variable.type == "query":
            try:
                match = substitute(variable.match, values) if variable.match else ""
                options = sort_options(
                    prometheus.label_values(variable.label_name, match, span), variable.sort
                )
            except (QueryError, KeyError) as failure:
                options, error = [], str(failure)
        else:
            options = list(variable.options)
        wanted = [v for v in requested.get(variable.name, ()) if v != ""]
        everything = bool(wanted) and (ALL in wanted or "All" in wanted) and variable.include_all
        if not wanted:
            everything = variable.include_all
            wanted = options[:1]
        if not (variable.multi or variable.include_all):
            wanted = wanted[:1]
        result = ResolvedVariable(
            name=variable.name,
            label=variable.label,
            multi=variable.multi,
            include_all=variable.include_all,
            options=options,
            selected=list(options) if everything else wanted,
            all=everything,
            hidden=variable.hidden,
            error=error,
        )
        values[variable.name] = result.query_value(variable)
        resolved.append(result)
    return resolved


def query_values(
    dashboard: Dashboard, variables: Sequence[ResolvedVariable], span: TimeRange
) -> dict[str, str]:
    """Every ``$name`` a panel's queries may use: the variables' values and Grafana's built-ins."""
    by_name = {v.name: v for v in dashboard.variables}
    return {
        **span.builtins(),
        "datasource": "prometheus",
        **{v.name: v.query_value(by_name[v.name]) for v in variables},
    }


def evaluate_panel(
    panel: Panel, values: Mapping[str, str], prometheus: Prometheus, span: TimeRange
) -> dict[str, Any]:
    """Run a panel's queries and shape what it draws.

    Returns
    -------
    dict
        ``id``, ``state`` (``drawn``, ``empty`` or ``error``), ``points`` (points, bars, values or rows
        it has), ``error`` (Prometheus's message when a query failed), ``queries`` (the PromQL sent),
        and by panel type ``series`` (time series), ``heatmap``, ``values`` (stat, gauge, bars; a
        single-valued stat also ``spark``, its series over the range) or ``columns``/``rows`` (table).
    """
    data: dict[str, Any] = {"id": panel.id, "type": panel.type, "queries": [], "error": ""}
    answers: list[tuple[Target, dict[str, Any]]] = []
    try:
        for target in panel.targets:
            expr = substitute(target.expr, values)
            data["queries"].append(expr)
            if panel.needs_range:
                answers.append((target, prometheus.query_range(expr, span)))
            else:
                answers.append((target, prometheus.query(expr, span.end)))
    except KeyError as missing:
        return {**data, "state": "error", "points": 0, "error": f"undefined variable ${missing.args[0]}"}
    except QueryError as error:
        return {**data, "state": "error", "points": 0, "error": str(error)}
    if panel.type == "timeseries":
        data["series"] = _series(answers)
        points = sum(sum(y is not None for y in s["y"]) for s in data["series"])
    elif panel.type == "heatmap":
        data["heatmap"] = _heatmap(answers)
        points = sum(sum(v is not None for v in row) for row in data["heatmap"]["z"])
    elif panel.type == "table":
        data["columns"], data["value_columns"], data["rows"] = _table(answers)
        points = len(data["rows"])
    else:
        data["values"] = _instant_values(answers)
        points = sum(v["value"] is not None for v in data["values"])
        if panel.type == "stat" and len(data["values"]) == 1:
            data["spark"] = _sparkline(panel, values, prometheus, span)
    return {**data, "state": "drawn" if points else "empty", "points": points}


def _sparkline(
    panel: Panel, values: Mapping[str, str], prometheus: Prometheus, span: TimeRange
) -> dict[str, Any] | None:
    """The series behind a single-valued stat over the range (Grafana's stat ``graphMode: area``)."""
    try:
        answer = prometheus.query_range(substitute(panel.targets[0].expr, values), span)
    except QueryError:
        return None
    series = _series([(panel.targets[0], answer)])
    return series[0] if len(series) == 1 else None


def evaluate_dashboard(
    dashboard: Dashboard,
    prometheus: Prometheus,
    span: TimeRange,
    requested: Mapping[str, Sequence[str]] | None = None,
) -> tuple[list[ResolvedVariable], list[dict[str, Any]]]:
    """Resolve the variables, then evaluate every panel that queries (what a snapshot embeds)."""
    variables = resolve_variables(dashboard, requested or {}, prometheus, span)
    values = query_values(dashboard, variables, span)
    return variables, [evaluate_panel(p, values, prometheus, span) for p in dashboard.data_panels()]


def _number(text: str) -> float | None:
    value = float(text)
    return value if math.isfinite(value) else None


def _legend(target: Target, metric: Mapping[str, str]) -> str:
    """The series name as Grafana writes it: the legend format filled in, else the labels."""
    if target.legend_format and target.legend_format != "__auto":
        return _LEGEND.sub(lambda m: metric.get(m.group(1), ""), target.legend_format)
    labels = {k: v for k, v in metric.items() if k != "__name__"}
    inner = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    name = metric.get("__name__", "")
    return f"{name}{{{inner}}}" if inner else name


def _vector(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """An instant answer as a vector (a scalar becomes one sample without labels)."""
    if answer["resultType"] == "scalar":
        return [{"metric": {}, "value": answer["result"]}]
    if answer["resultType"] == "vector":
        return list(answer["result"])
    return []


def _series(answers: list[tuple[Target, dict[str, Any]]]) -> list[dict[str, Any]]:
    series = []
    for target, answer in answers:
        for item in answer["result"]:
            series.append(
                {
                    "name": _legend(target, item["metric"]),
                    "x": [round(float(t) * 1000) for t, _ in item["values"]],
                    "y": [_number(v) for _, v in item["values"]],
                }
            )
    return series


def _heatmap(answers: list[tuple[Target, dict[str, Any]]]) -> dict[str, Any]:
    """Cumulative ``le`` buckets over time, de-accumulated into a count per bucket (``format: heatmap``)."""
    buckets: dict[float, dict[int, float | None]] = {}
    for _, answer in answers:
        for item in answer["result"]:
            bound = float(item["metric"].get("le", "+Inf"))
            row = buckets.setdefault(bound, {})
            for t, v in item["values"]:
                row[round(float(t) * 1000)] = _number(v) if v not in ("+Inf", "-Inf") else None
    times = sorted({t for row in buckets.values() for t in row})
    bounds = sorted(buckets)
    z: list[list[float | None]] = []
    below: list[float | None] = [0.0] * len(times)
    for bound in bounds:
        cumulative = [buckets[bound].get(t) for t in times]
        z.append(
            [
                None if c is None or b is None else max(c - b, 0.0)
                for c, b in zip(cumulative, below, strict=True)
            ]
        )
        below = cumulative
    return {"x": times, "y": ["+Inf" if math.isinf(b) else f"{b:g}" for b in bounds], "z": z}


def _instant_values(answers: list[tuple[Target, dict[str, Any]]]) -> list[dict[str, Any]]:
    return [
        {"name": _legend(target, item["metric"]), "value": _number(item["value"][1])}
        for target, answer in answers
        for item in _vector(answer)
    ]


def _table(
    answers: list[tuple[Target, dict[str, Any]]],
) -> tuple[list[str], list[int], list[list[Any]]]:
    """Instant answers as one table: a column per label, one value column per query, rows merged on their
    labels (Grafana's ``format: table`` with the ``merge`` transformation)."""
    labels = sorted({k for _, a in answers for item in _vector(a) for k in item["metric"] if k != "__name__"})
    headers = [_value_header(target, len(answers)) for target, _ in answers]
    rows: dict[tuple[str, ...], list[Any]] = {}
    for index, (_, answer) in enumerate(answers):
        for item in _vector(answer):
            key = tuple(item["metric"].get(label, "") for label in labels)
            row = rows.setdefault(key, [*key, *([None] * len(answers))])
            row[len(labels) + index] = _number(item["value"][1])
    value_columns = list(range(len(labels), len(labels) + len(answers)))
    return labels + headers, value_columns, [rows[key] for key in sorted(rows)]


def _value_header(target: Target, targets: int) -> str:
    if target.legend_format and "{{" not in target.legend_format:
        return target.legend_format
    return "Value" if targets == 1 else f"Value #{target.ref_id}"
