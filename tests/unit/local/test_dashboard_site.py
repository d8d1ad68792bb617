"""The dashboard site's translation of Grafana JSON, its variables, its time ranges and steps, and the shape
of the panel data, against a fake Prometheus (the browser test runs the real one)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
from modelwatch_local.dashboard_queries import VARIABLE, prometheus_value, substitute
from modelwatch_local.dashboard_site.evaluation import (
    ALL,
    QueryError,
    RangeError,
    TimeRange,
    choose_step,
    evaluate_panel,
    parse_range,
    query_values,
    resolve_variables,
)
from modelwatch_local.dashboard_site.page_model import (
    SUPPORTED_TYPES,
    Dashboard,
    DashboardError,
    load_dashboards,
    translate,
)
from modelwatch_local.paths import DASHBOARDS_DIR

NOW = 1_800_000_000.0
BOARD_FILES = sorted(DASHBOARDS_DIR.glob("*.json"))


class FakePrometheus:
    """Answers from fixed tables; records what was asked."""

    def __init__(
        self,
        labels: Mapping[str, list[str]] | None = None,
        instant: Mapping[str, list[dict[str, Any]]] | None = None,
        matrix: Mapping[str, list[dict[str, Any]]] | None = None,
        error: str = "",
    ) -> None:
        self.labels, self.instant, self.matrix, self.error = labels or {}, instant or {}, matrix or {}, error
        self.asked: list[tuple[str, ...]] = []

    def label_values(self, label: str, match: str, span: TimeRange) -> list[str]:
        self.asked.append(("labels", label, match))
        return list(self.labels.get(label, []))

    def query(self, expr: str, at: float) -> dict[str, Any]:
        self.asked.append(("query", expr))
        if self.error:
            raise QueryError(self.error)
        return {"resultType": "vector", "result": self.instant.get(expr, [])}

    def query_range(self, expr: str, span: TimeRange) -> dict[str, Any]:
        self.asked.append(("query_range", expr))
        if self.error:
            raise QueryError(self.error)
        return {"resultType": "matrix", "result": self.matrix.get(expr, [])}


def _board(panels: list[dict[str, Any]], variables: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "uid": "test-board",
        "title": "Test",
        "time": {"from": "now-1h", "to": "now"},
        "refresh": "30s",
        "templating": {"list": variables or []},
        "panels": panels,
    }


def _panel(kind: str, expr: str = "up", **extra: Any) -> dict[str, Any]:
    return {
        "id": 1,
        "type": kind,
        "title": "A panel",
        "gridPos": {"x": 0, "y": 0, "w": 12, "h": 8},
        "targets": [{"refId": "A", "expr": expr, "legendFormat": extra.pop("legend", "")}],
        **extra,
    }


# ---- translation ----


@pytest.mark.parametrize("path", BOARD_FILES, ids=lambda p: p.stem)
def test_every_panel_and_variable_of_the_dashboard_becomes_something_the_page_draws(path: Any) -> None:
    raw = json.loads(path.read_text())
    raw_panels = [p for top in raw["panels"] for p in [top, *top.get("panels", [])]]

    board = translate(raw, source=path.name)

    assert [p.id for p in board.panels] == [p["id"] for p in raw_panels]
    for panel, source in zip(board.panels, raw_panels, strict=True):
        assert panel.type == source["type"] in SUPPORTED_TYPES
        assert (panel.grid_pos.x, panel.grid_pos.w) == (source["gridPos"]["x"], source["gridPos"]["w"])
        assert panel.unit == source.get("fieldConfig", {}).get("defaults", {}).get("unit", "none")
        assert [t.expr for t in panel.targets] == [t["expr"] for t in source.get("targets", [])]
    query_variables = [v for v in raw["templating"]["list"] if v["type"] == "query"]
    assert [v.name for v in board.variables] == [v["name"] for v in query_variables]
    assert {v.name: v.label_name for v in board.variables} == {"model": "model", "version": "version"}
    assert (board.time_from, board.refresh) == (raw["time"]["from"], raw["refresh"])


@pytest.mark.parametrize("path", BOARD_FILES, ids=lambda p: p.stem)
def test_every_query_of_the_dashboard_substitutes_with_the_resolved_variables(path: Any) -> None:
    board = translate(json.loads(path.read_text()), source=path.name)
    prometheus = FakePrometheus(labels={"model": ["churn", "fraud"], "version": ["1", "2"]})
    span = parse_range(board.time_from, board.time_to, now=NOW)

    values = query_values(board, resolve_variables(board, {}, prometheus, span), span)

    for panel in board.data_panels():
        for target in panel.targets:
            expr = substitute(target.expr, values)
            assert not VARIABLE.search(expr), (board.uid, panel.title, expr)


def test_the_seven_dashboards_load_sorted_by_title() -> None:
    boards = load_dashboards(DASHBOARDS_DIR)

    assert len(boards) == 7
    assert [b.title for b in boards] == sorted(b.title for b in boards)
    assert {b.source for b in boards} == {p.name for p in BOARD_FILES}


def test_an_unknown_panel_type_fails_naming_dashboard_and_panel() -> None:
    board = _board([_panel("timeseries"), {**_panel("piechart"), "id": 7, "title": "Shares"}])

    with pytest.raises(DashboardError, match=r"dashboard test-board, panel 7 \('Shares'\).*'piechart'"):
        translate(board)


def test_a_panel_without_a_query_fails_naming_it() -> None:
    board = _board([{**_panel("stat"), "targets": []}])

    with pytest.raises(DashboardError, match=r"panel 1.*no PromQL target"):
        translate(board)


def test_a_variable_that_is_not_label_values_fails_naming_it() -> None:
    variable = {"name": "job", "type": "query", "definition": "query_result(up)"}

    with pytest.raises(DashboardError, match="variable job: only label_values"):
        translate(_board([_panel("stat")], [variable]))


def test_rows_nested_panels_units_mappings_and_log_scale_are_kept() -> None:
    nested = _panel(
        "timeseries",
        fieldConfig={"defaults": {"unit": "s", "min": 0, "custom": {"scaleDistribution": {"type": "log"}}}},
    )
    stat = {
        **_panel("stat"),
        "id": 3,
        "fieldConfig": {
            "defaults": {
                "mappings": [{"type": "value", "options": {"1": {"text": "rolled back", "color": "red"}}}],
                "thresholds": {
                    "mode": "absolute",
                    "steps": [{"value": None, "color": "green"}, {"value": 5, "color": "red"}],
                },
            }
        },
    }
    row = {
        "id": 2,
        "type": "row",
        "title": "Row",
        "gridPos": {"x": 0, "y": 0, "w": 24, "h": 1},
        "panels": [nested],
    }

    board = translate(_board([row, stat]))

    assert [p.id for p in board.panels] == [2, 1, 3]
    assert [p.id for p in board.data_panels()] == [1, 3]
    assert board.panel(1).unit == "s" and board.panel(1).min == 0 and board.panel(1).log_scale
    assert board.panel(3).mappings["1"].text == "rolled back" and board.panel(3).mappings["1"].color == "red"
    assert [t.value for t in board.panel(3).thresholds] == [None, 5.0]


# ---- variables ----


def _variables_board() -> Dashboard:
    model = {"name": "model", "type": "query", "definition": "label_values(up, model)", "sort": 1}
    version = {
        "name": "version",
        "type": "query",
        "definition": 'label_values(up{model=~"$model"}, version)',
        "multi": True,
        "includeAll": True,
        "allValue": ".*",
    }
    panel = _panel("timeseries", 'up{model="$model",version=~"$version"}')
    return translate(_board([panel], [{"name": "datasource", "type": "datasource"}, model, version]))


def test_defaults_are_the_first_model_sorted_and_all_versions_and_queries_use_the_selection() -> None:
    board = _variables_board()
    prometheus = FakePrometheus(labels={"model": ["fraud", "churn"], "version": ["2", "1"]})
    span = parse_range("now-1h", now=NOW)

    model, version = resolve_variables(board, {}, prometheus, span)
    values = query_values(board, [model, version], span)

    assert (model.options, model.selected, model.all) == (["churn", "fraud"], ["churn"], False)
    assert version.all and version.selected == ["2", "1"]
    assert ("labels", "version", 'up{model=~"churn"}') in prometheus.asked
    assert substitute(board.panel(1).targets[0].expr, values) == 'up{model="churn",version=~".*"}'


def test_requested_values_several_versions_become_a_regex_alternation() -> None:
    board = _variables_board()
    prometheus = FakePrometheus(labels={"model": ["churn", "fraud"], "version": ["1", "2", "3"]})
    span = parse_range("now-1h", now=NOW)

    resolved = resolve_variables(board, {"model": ["fraud"], "version": ["1", "3"]}, prometheus, span)
    values = query_values(board, resolved, span)

    assert values["model"] == "fraud" and values["version"] == "(1|3)"
    assert resolve_variables(board, {"version": [ALL]}, prometheus, span)[1].all


def test_a_requested_value_missing_from_the_options_is_kept_as_grafana_keeps_a_url_value() -> None:
    board = _variables_board()
    prometheus = FakePrometheus(labels={"model": ["churn"], "version": []})

    model, _ = resolve_variables(board, {"model": ["gone"]}, prometheus, parse_range("now-1h", now=NOW))

    assert model.selected == ["gone"]


def test_multi_values_are_regex_escaped_and_single_values_are_not() -> None:
    assert prometheus_value(["a.b"], True) == "a\\\\.b"
    assert prometheus_value(["a.b", "c"], True) == "(a\\\\.b|c)"
    assert prometheus_value(["a.b"], False) == "a.b"


# ---- range and step ----


@pytest.mark.parametrize(
    ("time_from", "step", "rate_interval", "range_text"),
    [("now-15m", 15.0, "4m", "15m"), ("now-1h", 15.0, "4m", "1h"), ("now-6h", 120.0, "4m", "6h"),
     ("now-24h", 300.0, "6m", "1d")],
)  # fmt: skip
def test_step_and_builtin_intervals_follow_grafana(
    time_from: str, step: float, rate_interval: str, range_text: str
) -> None:
    span = parse_range(time_from, "now", now=NOW)

    assert span.end == NOW and span.step == step
    assert span.builtins()["__rate_interval"] == rate_interval
    assert span.builtins()["__range"] == range_text


def test_a_step_rounds_as_grafana_does_to_at_most_one_and_a_half_times_240_points() -> None:
    for seconds in (60, 900, 3600, 6 * 3600, 7 * 86400, 30 * 86400, 365 * 86400):
        assert seconds / choose_step(seconds) <= 1.5 * 240
    assert choose_step(7 * 86400) == 1800.0


def test_epoch_milliseconds_are_read_and_a_bad_range_names_the_value() -> None:
    assert parse_range("1799996400000", "1800000000000").seconds == 3600
    with pytest.raises(RangeError, match="now-2y"):
        parse_range("now-2y", now=NOW)
    with pytest.raises(RangeError, match="start before it ends"):
        parse_range("now", "now-1h", now=NOW)


# ---- panel data ----


def _span() -> TimeRange:
    return parse_range("now-1h", now=NOW)


def test_time_series_are_named_by_their_legend_and_nan_is_a_gap() -> None:
    panel = translate(_board([_panel("timeseries", legend="v{{version}}")])).panel(1)
    series = [{"metric": {"version": "2"}, "values": [[NOW - 60, "0.5"], [NOW, "NaN"]]}]

    data = evaluate_panel(panel, {}, FakePrometheus(matrix={"up": series}), _span())

    assert data["series"] == [
        {"name": "v2", "x": [round((NOW - 60) * 1000), round(NOW * 1000)], "y": [0.5, None]}
    ]
    assert (data["state"], data["points"]) == ("drawn", 1)


def test_heatmap_buckets_are_de_accumulated_by_le() -> None:
    panel = translate(_board([_panel("heatmap")])).panel(1)
    buckets = [
        {"metric": {"le": le}, "values": [[NOW, v]]}
        for le, v in (("+Inf", "10"), ("0.1", "4"), ("0.05", "1"))
    ]

    data = evaluate_panel(panel, {}, FakePrometheus(matrix={"up": buckets}), _span())

    assert data["heatmap"]["y"] == ["0.05", "0.1", "+Inf"]
    assert data["heatmap"]["z"] == [[1.0], [3.0], [6.0]]


def test_table_queries_merge_into_rows_by_their_labels() -> None:
    raw = _panel("table")
    raw["targets"] = [
        {"refId": "A", "expr": "a", "legendFormat": "value"},
        {"refId": "B", "expr": "b", "legendFormat": "limit"},
    ]
    panel = translate(_board([raw])).panel(1)
    instant = {
        "a": [{"metric": {"guardrail": "error_rate"}, "value": [NOW, "0.12"]},
              {"metric": {"guardrail": "latency"}, "value": [NOW, "1.9"]}],
        "b": [{"metric": {"guardrail": "error_rate"}, "value": [NOW, "0.05"]}],
    }  # fmt: skip

    data = evaluate_panel(panel, {}, FakePrometheus(instant=instant), _span())

    assert data["columns"] == ["guardrail", "value", "limit"] and data["value_columns"] == [1, 2]
    assert data["rows"] == [["error_rate", 0.12, 0.05], ["latency", 1.9, None]]
    assert data["points"] == 2


def test_a_stat_with_no_answer_is_empty_and_a_refused_query_is_an_error_with_prometheus_message() -> None:
    panel = translate(_board([_panel("stat")])).panel(1)

    empty = evaluate_panel(panel, {}, FakePrometheus(), _span())
    failed = evaluate_panel(panel, {}, FakePrometheus(error='parse error: unexpected "}"'), _span())

    assert (empty["state"], empty["points"], empty["values"]) == ("empty", 0, [])
    assert (failed["state"], failed["error"]) == ("error", 'parse error: unexpected "}"')


def test_a_query_with_an_undefined_variable_is_an_error_naming_it() -> None:
    panel = translate(_board([_panel("stat", 'up{model="$nope"}')])).panel(1)

    data = evaluate_panel(panel, {}, FakePrometheus(), _span())

    assert data["state"] == "error" and "$nope" in data["error"]


def test_instant_panels_query_at_the_end_of_the_range_and_range_panels_over_it() -> None:
    board = translate(_board([_panel("bargauge"), {**_panel("timeseries"), "id": 2}]))
    prometheus = FakePrometheus()

    for panel in board.data_panels():
        evaluate_panel(panel, {}, prometheus, _span())

    assert [a[0] for a in prometheus.asked] == ["query", "query_range"]


# ---- the command ----


def test_the_command_stops_on_a_dashboard_it_cannot_draw_with_one_line_naming_it(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from modelwatch_local.__main__ import main

    (tmp_path / "board.json").write_text(json.dumps(_board([_panel("piechart")])))

    code = main(["dashboards", "--dashboards-dir", str(tmp_path), "--port", "3999"])

    error = capsys.readouterr().err
    assert code == 2 and error.count("\n") == 1
    assert error.startswith(
        "modelwatch: error: dashboard test-board, panel 1 ('A panel'): panel type 'piechart'"
    )


def test_a_snapshot_variable_without_a_value_is_one_line_and_exit_2(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from modelwatch_local.__main__ import main

    code = main(["dashboards", "--snapshot", str(tmp_path / "out"), "--var", "model"])

    assert code == 2 and capsys.readouterr().err == "modelwatch: error: --var 'model': expected NAME=VALUE\n"
    assert not (tmp_path / "out").exists()


def test_the_stack_starts_the_site_with_its_prometheus() -> None:
    from modelwatch_local.stack import dashboards_command

    command = dashboards_command("http://127.0.0.1:9090", 3000)

    assert command[1:] == [
        "-m", "modelwatch_local", "dashboards", "--prometheus-url", "http://127.0.0.1:9090", "--port", "3000",
    ]  # fmt: skip


def test_a_single_valued_stat_also_gets_its_series_over_the_range_for_a_sparkline() -> None:
    panel = translate(_board([_panel("stat")])).panel(1)
    prometheus = FakePrometheus(
        instant={"up": [{"metric": {}, "value": [NOW, "3"]}]},
        matrix={"up": [{"metric": {}, "values": [[NOW - 60, "1"], [NOW, "3"]]}]},
    )

    data = evaluate_panel(panel, {}, prometheus, _span())

    assert data["values"] == [{"name": "", "value": 3.0}] and data["points"] == 1
    assert data["spark"]["y"] == [1.0, 3.0]
    assert [a[0] for a in prometheus.asked] == ["query", "query_range"]
