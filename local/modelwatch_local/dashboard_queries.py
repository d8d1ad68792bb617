"""The PromQL of the Grafana dashboards in ``dashboards/``, with variables substituted as Grafana would.

Grafana cannot run on the project's machines, so its part is played here: every panel target and
every query variable of every dashboard, with ``$model``, ``$version`` and Grafana's built-in
intervals replaced, ready to send to a Prometheus (the local one, or AMP's query API). The tests and
``make demo`` both use it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Grafana's $__rate_interval is max(4 x the data source's scrape interval, step + scrape interval);
# the provisioned AMP data source declares 60 s (the export's period), hence 4m.
BUILTIN_VARIABLES = frozenset(
    {"__rate_interval", "__interval", "__range", "__range_s", "__auto", "__from", "__to"}
)
BUILTIN_VALUES = {"__rate_interval": "4m", "__interval": "1m", "__range": "1h", "__auto": "1m"}
VARIABLE = re.compile(r"\$\{?(\w+)(?::\w+)?\}?")
_LABEL_VALUES = re.compile(r"label_values\((.*), (\w+)\)")


@dataclass(frozen=True)
class DashboardQuery:
    """One query of a dashboard: a panel target or a query variable."""

    dashboard: str
    title: str
    expr: str
    multi_model: bool

    @property
    def is_variable(self) -> bool:
        return self.title.startswith("variable ")

    def promql(self, model: str, multi_model_value: str | None = None, version: str = ".*") -> str:
        """The query with Grafana's substitutions (``label_values(q, l)`` becomes a count by ``l``)."""
        values = {
            **BUILTIN_VALUES,
            "model": multi_model_value if self.multi_model and multi_model_value else model,
            "version": version,
        }
        expr = substitute(self.expr, values)
        match = _LABEL_VALUES.fullmatch(expr)
        return f"count by ({match.group(2)}) ({match.group(1)})" if match else expr


def substitute(expr: str, values: Mapping[str, str]) -> str:
    """Replace ``$name``, ``${name}`` and ``${name:format}`` in ``expr`` with ``values[name]``.

    Raises
    ------
    KeyError
        ``expr`` uses a variable that ``values`` does not have.
    """
    return VARIABLE.sub(lambda m: values[m.group(1)], expr)


_REGEX_SPECIAL = re.compile(r"([\\^$*+?.()|{}\[\]])")


def prometheus_value(selected: Sequence[str], multi_or_all: bool) -> str:
    """A variable's selection as Grafana's Prometheus data source writes it into a query.

    A single-valued variable is written as is (quotes and backslashes escaped); a multi-value or
    include-all variable is written for a regex matcher (``=~``): one value regex-escaped, several as
    ``(a|b)``.
    """
    if not multi_or_all:
        value = selected[0] if selected else ""
        return value.replace("\\", "\\\\").replace("'", "\\'")
    escaped = [_REGEX_SPECIAL.sub(r"\\\\\1", value) for value in selected]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def load_dashboard(path: Path) -> dict[str, Any]:
    board: dict[str, Any] = json.loads(path.read_text())
    return board


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, including those nested in rows."""
    found = []
    for panel in board["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def variables(board: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in board["templating"]["list"]}


def dashboard_queries(directory: Path) -> list[DashboardQuery]:
    """Every panel target and query variable of every ``*.json`` dashboard in ``directory``."""
    found = []
    for path in sorted(directory.glob("*.json")):
        board = load_dashboard(path)
        multi = bool(variables(board)["model"].get("multi"))
        for panel in panels(board):
            for target in panel.get("targets", []):
                found.append(
                    DashboardQuery(
                        board["uid"], f"{panel['title']} [{target['refId']}]", target["expr"], multi
                    )
                )
        for variable in variables(board).values():
            if variable["type"] == "query":
                found.append(
                    DashboardQuery(
                        board["uid"], f"variable {variable['name']}", variable["definition"], multi
                    )
                )
    return found
