"""The catalogue: naming conventions, the generated document, and the names dashboards and rules use."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from modelwatch.contracts import catalogue as cat

REPO = Path(__file__).resolve().parents[3]
_NAME = re.compile(r"\bmodelwatch_[a-z_]+\b")


def test_docs_metrics_md_is_generated_from_the_catalogue() -> None:
    document = (REPO / "docs" / "metrics.md").read_text()

    assert document == cat.render_markdown(), (
        "docs/metrics.md is out of date: regenerate it with the command in its header"
    )


@pytest.mark.parametrize("spec", cat.CATALOGUE, ids=lambda s: s.name)
def test_names_follow_prometheus_conventions(spec: cat.MetricSpec) -> None:
    assert spec.name.startswith("modelwatch_")
    assert spec.name.endswith("_total") == (spec.type is cat.MetricType.COUNTER)
    if spec.unit == "seconds":
        assert "_seconds" in spec.name
    if spec.unit == "ratio":
        assert not spec.name.endswith("_total")
    assert spec.help.endswith(".")
    assert all(label.bound for label in spec.labels)
    assert len(spec.labels) <= 4


def test_samples_must_carry_exactly_the_declared_labels() -> None:
    sample = cat.PREDICTIONS_TOTAL.sample(3, 1_800_000_000, model="fraud", version="1")
    assert sample.label_dict == {"model": "fraud", "version": "1"}
    with pytest.raises(ValueError, match="takes labels"):
        cat.PREDICTIONS_TOTAL.sample(3, 0, model="fraud")
    with pytest.raises(ValueError, match="takes labels"):
        cat.PREDICTIONS_TOTAL.sample(3, 0, model="fraud", version="1", user="x")


def test_histogram_samples_are_cumulative_buckets_with_inf_sum_and_count() -> None:
    counts = {0.005: 1, 0.01: 2, **{b: 4 for b in cat.LATENCY_BUCKETS[2:]}}

    samples = cat.PREDICTION_LATENCY.histogram_samples(counts, 0.5, 5, 0, model="m", version="1")

    buckets = {s.label_dict["le"]: s.value for s in samples if s.name.endswith("_bucket")}
    assert buckets["0.005"] == 1 and buckets["10.0"] == 4 and buckets["+Inf"] == 5
    assert {s.name for s in samples} == set(cat.PREDICTION_LATENCY.series_names)


def _dashboard_exprs() -> list[str]:
    exprs = []
    for path in sorted((REPO / "dashboards").glob("*.json")):
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            exprs += [t["expr"] for t in panel.get("targets", [])]
        exprs += [v["definition"] for v in board["templating"]["list"] if v["type"] == "query"]
    return exprs


def _rule_exprs() -> list[str]:
    exprs = []
    for path in sorted((REPO / "dashboards" / "rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            exprs += [rule["expr"] for rule in group["rules"]]
    return exprs


def test_dashboards_and_rules_use_only_catalogued_series() -> None:
    known = set(cat.series_names())
    used = {name for expr in _dashboard_exprs() + _rule_exprs() for name in _NAME.findall(expr)}

    assert used, "no metric names found"
    assert used <= known, f"not in the catalogue: {sorted(used - known)}"


def test_every_catalogued_metric_is_on_a_dashboard() -> None:
    used = {name for expr in _dashboard_exprs() for name in _NAME.findall(expr)}
    shown = {spec.name for spec in cat.CATALOGUE if set(spec.series_names) & used}

    assert shown == {spec.name for spec in cat.CATALOGUE}
