"""Every dashboard parses and every panel's PromQL runs against a real Prometheus holding modelwatch data.

Grafana cannot be installed here, so this stands in for it: the structure checks are what Grafana's
import needs (unique uids and panel ids, a Prometheus data-source variable, no undefined variable),
and each query is sent, with the variables substituted as Grafana would, to a local Prometheus after
representative samples were written through the remote-write client: serving counters from captured
events (nine export runs a minute apart, two models, two versions, rejections, capture
failures), the capture dead-letter queue's depth, the published versions, and one run of each
monitoring job (drift with a drifted feature, quality with a failed check, performance below
threshold, a rollout rolled back on a breached guardrail, job health). With that
data every panel returns data.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from modelwatch_local.dashboard_queries import (
    BUILTIN_VARIABLES,
    VARIABLE,
    DashboardQuery,
    dashboard_queries,
    load_dashboard,
    panels,
    variables,
)
from modelwatch_local.prometheus_server import LocalPrometheus

REPO = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((REPO / "dashboards").glob("*.json"))
MODELS = {"single": "fraud", "multi": "fraud|churn"}
# Panels allowed to return no data with the samples written here (none today).
MAY_BE_EMPTY: set[tuple[str, str]] = set()

needs_prometheus = pytest.mark.skipif(
    shutil.which("prometheus") is None, reason="prometheus is not installed (apt-get install prometheus)"
)


_load = load_dashboard
_panels = panels
_variables = variables
_VARIABLE = VARIABLE


def test_there_are_the_seven_dashboards() -> None:
    assert {p.stem for p in DASHBOARDS} == {
        "model-overview",
        "serving-performance",
        "drift",
        "data-quality",
        "model-performance",
        "model-comparison",
        "rollout",
    }


def test_uids_titles_and_panel_ids_are_unique() -> None:
    boards = [_load(p) for p in DASHBOARDS]
    uids = [b["uid"] for b in boards]

    assert len(set(uids)) == len(uids) and all(len(uid) <= 40 for uid in uids)
    assert len({b["title"] for b in boards}) == len(boards)
    for board in boards:
        ids = [p["id"] for p in _panels(board)]
        assert len(set(ids)) == len(ids), board["uid"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_variables_datasource_model_version_and_every_used_variable_is_defined(path: Path) -> None:
    board = _load(path)
    variables = _variables(board)

    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert {"model", "version"} <= set(variables)
    text = json.dumps([board["panels"], board["templating"]])
    used = set(_VARIABLE.findall(text))
    assert used <= set(variables) | BUILTIN_VARIABLES, used - set(variables) - BUILTIN_VARIABLES
    for panel in _panels(board):
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
            assert all(t["datasource"]["uid"] == "${datasource}" for t in panel["targets"])
            assert panel["targets"], panel["title"]


QUERIES = dashboard_queries(REPO / "dashboards")


@needs_prometheus
@pytest.mark.parametrize("query", QUERIES, ids=[f"{q.dashboard}:{q.title}" for q in QUERIES])
def test_panel_query_is_valid_and_returns_data(
    prometheus_with_data: tuple[LocalPrometheus, float], query: DashboardQuery
) -> None:
    prometheus, now = prometheus_with_data
    promql = query.promql(MODELS["single"], MODELS["multi"])

    result = prometheus.query(promql, at=now)

    if query.is_variable:
        label = query.title.removeprefix("variable ")
        values = {r["metric"][label] for r in result}
        expected = {
            "model": {"fraud", "churn"},
            "version": {"1", "2", "5"} if query.multi_model else {"1", "2"},
        }
        assert values == expected[label]
    elif (query.dashboard, query.title) not in MAY_BE_EMPTY:
        assert result, f"{query.dashboard} / {query.title}: no data for {promql}"


@needs_prometheus
def test_demo_figures_are_read_back_from_prometheus(
    prometheus_with_data: tuple[LocalPrometheus, float],
) -> None:
    from modelwatch_local.prometheus_server import demo_figures

    prometheus, _ = prometheus_with_data

    figures = demo_figures(prometheus)

    assert figures["most_drifted_feature"].endswith(".amount = 0.420")
    assert float(figures["requests_per_second"]) > 0
    assert figures["p99_latency_seconds"].endswith(" ms") and figures["rejected_share"].endswith("%")
