"""Custom metrics: declaration (JSON, YAML, Python), validation naming the entry, evaluation."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelwatch.contracts.custom_metrics import (
    Condition,
    CustomMetric,
    CustomMetricError,
    parse_custom_metrics,
)
from modelwatch.metrics.custom import load_custom_metrics_file
from modelwatch.settings import ExportSettings, SettingsError, load_settings

EVENT = {
    "model": "fraud",
    "version": "1",
    "features": {"amount": 50.0, "channel": "online"},
    "prediction": 0.93,
    "latency_ms": 12.0,
}


def test_python_api_declares_a_kpi() -> None:
    metric = CustomMetric(
        name="modelwatch_custom_high_risk_total",
        help="Predictions above 0.9",
        where=(Condition(field="prediction", op=">", value=0.9),),
    )

    assert metric.update(EVENT) == 1.0
    assert metric.update({**EVENT, "prediction": 0.5}) is None


def test_yaml_declarations_are_read(tmp_path: Path) -> None:
    path = tmp_path / "metrics.yml"
    path.write_text(
        "custom_metrics:\n"
        "  - name: modelwatch_custom_online_amount_total\n"
        "    help: Amount scored online\n"
        "    aggregation: sum\n"
        "    value: features.amount\n"
        "    where: [{field: features.channel, op: '==', value: online}]\n"
        "    models: [fraud]\n"
    )

    (metric,) = load_custom_metrics_file(path)

    assert metric.update(EVENT) == 50.0
    assert metric.update({**EVENT, "model": "churn"}) is None
    assert metric.update({**EVENT, "features": {"amount": -5.0, "channel": "online"}}) is None


def test_json_from_the_export_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELWATCH_EVENTS_BUCKET", "events")
    monkeypatch.setenv(
        "MODELWATCH_CUSTOM_METRICS",
        '[{"name": "slow_total", "help": "slow", '
        '"where": [{"field": "latency_ms", "op": ">=", "value": 10}]}]',
    )

    (metric,) = load_settings(ExportSettings).custom_metrics

    assert metric.update(EVENT) == 1.0
    monkeypatch.delenv("MODELWATCH_CUSTOM_METRICS")
    assert load_settings(ExportSettings).custom_metrics == []


@pytest.mark.parametrize(
    ("declaration", "message"),
    [
        ({"name": "kpi", "help": "x"}, r"custom_metrics\[1\] \(kpi\): name: .*must end in '_total'"),
        ({"name": "modelwatch_predictions_total", "help": "x"}, r"already a metric of the catalogue"),
        ({"name": "bad-name_total", "help": "x"}, r"name: String should match pattern"),
        ({"name": "a_total", "help": "x", "aggregation": "sum"}, r"needs 'value'"),
        (
            {"name": "a_total", "help": "x", "where": [{"field": "prediction", "op": "~", "value": 1}]},
            r"where\.0\.op",
        ),
        (
            {"name": "a_total", "help": "x", "where": [{"field": "body", "op": ">", "value": 1}]},
            r"where\.0\.field",
        ),
        ({"name": "a_total", "help": "x", "colour": "red"}, r"colour: Extra inputs are not permitted"),
    ],
)
def test_malformed_declarations_name_the_entry(declaration: dict[str, object], message: str) -> None:
    good = {"name": "modelwatch_custom_ok_total", "help": "fine"}

    with pytest.raises(CustomMetricError, match=message):
        parse_custom_metrics([good, declaration])


def test_duplicates_and_non_lists_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = {"name": "a_total", "help": "x"}
    with pytest.raises(CustomMetricError, match=r"custom_metrics\[1\] \(a_total\): name declared twice"):
        parse_custom_metrics([entry, entry])
    with pytest.raises(CustomMetricError, match="expected a list"):
        parse_custom_metrics('{"name": "a_total"}')
    monkeypatch.setenv("MODELWATCH_EVENTS_BUCKET", "events")
    monkeypatch.setenv("MODELWATCH_CUSTOM_METRICS", "[{")
    with pytest.raises(SettingsError, match="MODELWATCH_CUSTOM_METRICS: Value error, custom_metrics"):
        load_settings(ExportSettings)


def test_conditions_on_missing_or_incomparable_fields_do_not_hold() -> None:
    assert not Condition(field="features.missing", op=">", value=1).holds(EVENT)
    assert not Condition(field="features.channel", op=">", value=1).holds(EVENT)
    assert Condition(field="features.channel", op="!=", value="branch").holds(EVENT)
    assert Condition(field="prediction.1", op="<", value=0.5).holds({**EVENT, "prediction": [0.9, 0.1]})
