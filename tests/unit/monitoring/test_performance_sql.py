"""Performance on the SQL engine (DuckDB here) against the in-memory reference, on seeded simulations.

The SQL path must give what ``compute_performance`` gives on the same records: exactly for
counts, accuracy, precision, recall, F1, log-loss (to float rounding: the sums are added in
another order), RMSE and MAE; the AUC within the bound the histogram states.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlglot

from modelwatch.contracts import layout
from modelwatch.contracts.window import Window
from modelwatch.monitoring import performance_sql
from modelwatch.monitoring.performance import (
    PerformanceReport,
    PredictionType,
    auc_from_histogram,
    compute_performance,
    roc_auc,
)
from modelwatch.monitoring.performance_sql import (
    HISTOGRAM_BINS,
    SqlPerformance,
    partition_filter,
    performance_query,
    report_from_rows,
)
from modelwatch.stores.sql import DuckDBEngine, TableScan
from tests.unit.lake import write_object

MODEL = "fraud"
WINDOW = Window(datetime(2026, 11, 26, 9, tzinfo=UTC), datetime(2026, 11, 26, 10, tzinfo=UTC))
HORIZON = timedelta(days=7)
EXACT = ("accuracy", "precision", "recall", "f1", "positive_rate")


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


@dataclass
class Simulation:
    """Seeded events and labels of one window, delivered as files; what the in-memory path would be given."""

    root: Path
    seed: int
    prediction_type: PredictionType
    now: datetime

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.names = count()
        self.events: list[dict[str, Any]] = []  # every event of the model in the window, once
        self.labels: list[dict[str, Any]] = []  # every label of the model, in the order received

    def _deliver(
        self, kind: layout.CaptureKind, hour: datetime, records: list[dict[str, Any]], model: str
    ) -> None:
        name = f"stream-{next(self.names)}"
        write_object(self.root, layout.partitioned_key(kind, _hour(hour), name, model), records)

    def prediction(self) -> Any:
        rng = self.rng
        if rng.random() < 0.05:
            return rng.choice([None, "high", True, [0.2, 0.8]])  # does not parse as a score
        if self.prediction_type == "probability":
            return rng.choice([round(rng.random(), 2), round(rng.random(), 6), rng.random(), 0.5, 0.0, 1.0])
        if self.prediction_type == "value":
            return rng.gauss(10.0, 3.0)
        return rng.choice(self.classes)

    def label(self, prediction: Any) -> Any:
        rng = self.rng
        if rng.random() < 0.05:
            return rng.choice([None, "maybe", [1], {"a": 1}])  # does not parse
        if self.prediction_type == "probability":
            score = prediction if isinstance(prediction, float) else 0.5
            positive = rng.random() < 0.2 + 0.6 * score
            spellings: list[tuple[Any, Any]] = [
                (0, 1),
                (False, True),
                ("0", "1"),
                ("false", "TRUE"),
                (0.0, 1.0),
            ]
            return rng.choice(spellings)[positive]
        if self.prediction_type == "value":
            base = prediction if isinstance(prediction, float) else 10.0
            return base + rng.gauss(0.0, 1.0)
        return prediction if rng.random() < 0.6 else rng.choice(self.classes)

    def build(self, n: int = 400, classes: list[Any] | None = None) -> Simulation:
        rng = self.rng
        self.classes = classes or ["cat", "dog", "bird"]
        by_hour: dict[datetime, list[dict[str, Any]]] = {}
        for i in range(n):
            # mostly in the window; some in the hours of delivery slack either side (not in the window)
            offset = timedelta(
                seconds=rng.uniform(-1800, 5400) if rng.random() < 0.1 else rng.uniform(0, 3599)
            )
            served = WINDOW.start + offset
            event = {
                "schema_version": 1,
                "event_id": f"e{i}",
                "request_id": f"r{i // 3}",
                "index": i % 3,
                "model": MODEL,
                "version": rng.choice(["1", "2"]),
                "timestamp": served.isoformat(),
                "features": {f"f{k}": rng.random() for k in range(3)},
                "prediction": self.prediction(),
                "latency_ms": 1.5,
            }
            if WINDOW.contains(served):
                self.events.append(event)
            delivered = served + timedelta(minutes=rng.choice([0, 0, 0, 30]))
            by_hour.setdefault(_hour(delivered), []).append(event)
            if rng.random() < 0.1:  # redelivered, in another object
                by_hour.setdefault(_hour(delivered) + timedelta(hours=1), []).append(event)
            if rng.random() < 0.75:
                received = WINDOW.end + timedelta(hours=rng.uniform(-0.9, 9 * 24))
                self._label(event, received)
                if rng.random() < 0.2:  # relabelled later
                    self._label(event, received + timedelta(hours=rng.uniform(0.1, 30)))
        for hour, records in sorted(by_hour.items()):
            for start in range(0, len(records), 150):
                self._deliver("events", hour, records[start : start + 150], MODEL)
        for i in range(20):  # labels without a prediction in the window
            self._label({"request_id": f"unknown-{i}", "index": 0, "prediction": 0.5}, WINDOW.end)
        # another model's labels for the same requests never count
        other = [{**label, "model": "churn", "label": "maybe"} for label in self.labels[:30]]
        self._deliver("labels", WINDOW.end, other, "churn")
        return self

    def _label(self, event: dict[str, Any], received: datetime) -> None:
        label = {
            "schema_version": 1,
            "event_id": f"l{next(self.names)}",
            "request_id": event["request_id"],
            "index": event["index"],
            "model": MODEL,
            "label": self.label(event["prediction"]),
            "timestamp": received.isoformat(),
        }
        self.labels.append(label)
        if received < self.now:  # a label not received yet is not in the bucket
            self._deliver("labels", received, [label], MODEL)

    def expected(self) -> PerformanceReport:
        """The in-memory path on the same records: labels received in the label window, in order."""
        until = min(self.now, WINDOW.end + HORIZON)
        received = sorted(
            (
                label
                for label in self.labels
                if WINDOW.start <= datetime.fromisoformat(label["timestamp"]) < until
            ),
            key=lambda label: datetime.fromisoformat(label["timestamp"]),
        )
        return compute_performance(self.events, received, self.prediction_type, 0.5)

    def computed(self) -> SqlPerformance:
        planned = performance_query(MODEL, WINDOW, self.prediction_type, 0.5, self.now, HORIZON)
        result = DuckDBEngine(self.root).run(planned.query)
        return report_from_rows(result.rows, self.prediction_type, 0.5)


def assert_same(computed: SqlPerformance, expected: PerformanceReport) -> None:
    report = computed.report
    assert (report.n_predictions, report.n_labelled, report.n_unmatched_labels) == (
        expected.n_predictions,
        expected.n_labelled,
        expected.n_unmatched_labels,
    )
    assert [v.version for v in report.versions] == [v.version for v in expected.versions]
    for got, want in zip(report.versions, expected.versions, strict=True):
        assert (got.n_predictions, got.n_labelled, got.notes) == (
            want.n_predictions,
            want.n_labelled,
            want.notes,
        )
        if want.regression is not None:
            assert got.regression is not None
            assert got.regression.rmse == pytest.approx(want.regression.rmse, rel=1e-12)
            assert got.regression.mae == pytest.approx(want.regression.mae, rel=1e-12)
            continue
        assert want.classification is not None and got.classification is not None
        mine, theirs = got.classification, want.classification
        assert {m: getattr(mine, m) for m in EXACT} == {m: getattr(theirs, m) for m in EXACT}
        if theirs.log_loss is None:
            assert mine.log_loss is None
        else:
            assert mine.log_loss == pytest.approx(theirs.log_loss, rel=1e-12)
        if theirs.auc is None:
            assert mine.auc is None
        else:
            assert mine.auc is not None
            bound = computed.auc_error_bounds[got.version]
            # (many tied scores, 0.5, 0 and 1, share a bin: the bound is loose there, the AUC exact)
            assert abs(mine.auc - theirs.auc) <= bound + 1e-12


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("prediction_type", ["probability", "label", "value"])
def test_the_sql_path_equals_the_in_memory_one(
    tmp_path: Path, seed: int, prediction_type: PredictionType
) -> None:
    # Given duplicates, late labels (some past now, some past the horizon), relabels, unparsable
    # labels and scores, labels without predictions, another model's labels, two versions
    now = WINDOW.end + timedelta(days=[3, 8][seed % 2])
    simulation = Simulation(tmp_path, seed, prediction_type, now).build()

    # Then the SQL path on DuckDB gives the in-memory path's report
    expected = simulation.expected()
    assert expected.n_labelled > 50 and expected.n_unmatched_labels >= 20  # the simulation is not trivial
    assert_same(simulation.computed(), expected)


def _remove_files(directory: Path) -> None:
    for path in directory.rglob("*"):
        if path.is_file():
            path.unlink()


def test_binary_label_models_get_binary_metrics(tmp_path: Path) -> None:
    simulation = Simulation(tmp_path, 11, "label", WINDOW.end + timedelta(days=1)).build(classes=[0, 1])
    simulation.events = [e for e in simulation.events if isinstance(e["prediction"], int)]
    _remove_files(tmp_path / "events")
    for i in range(0, len(simulation.events), 100):
        write_object(
            tmp_path,
            layout.partitioned_key("events", WINDOW.start, f"only{i}", MODEL),
            simulation.events[i : i + 100],
        )
    simulation.labels = [label for label in simulation.labels if label["label"] in (0, 1)]
    _remove_files(tmp_path / "labels")
    write_object(tmp_path, layout.partitioned_key("labels", WINDOW.end, "binary", MODEL), simulation.labels)

    expected = simulation.expected()
    assert all("macro" not in " ".join(v.notes) for v in expected.versions)
    assert_same(simulation.computed(), expected)


def test_a_label_model_with_many_classes_returns_a_bounded_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(performance_sql, "MAX_PAIRS", 5)
    simulation = Simulation(tmp_path, 12, "label", WINDOW.end + timedelta(days=1))
    simulation.build(n=600, classes=[f"c{k}" for k in range(30)])
    planned = performance_query(MODEL, WINDOW, "label", 0.5, simulation.now, HORIZON)
    rows = DuckDBEngine(tmp_path).run(planned.query).rows
    labelled = [r for r in rows if r["has_prediction"] and r["has_label"]]
    assert len(labelled) <= 2 * (5 + 1)  # per version: the 5 most frequent pairs and one total of the rest

    computed = report_from_rows(rows, "label", 0.5).report
    expected = simulation.expected()
    assert computed.n_labelled == expected.n_labelled
    for got, want in zip(computed.versions, expected.versions, strict=True):
        assert got.classification is not None and want.classification is not None
        assert got.classification.accuracy == want.classification.accuracy  # rarer pairs count in accuracy
        assert any("rarer (prediction, label) pairs count in accuracy only" in note for note in got.notes)


@pytest.mark.parametrize("seed", range(5))
def test_the_histograms_auc_is_within_its_bound_of_the_exact_one(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.random(20_000) < 0.3
    scores = np.clip(rng.normal(0.35 + 0.3 * y, 0.15), 0.0, 1.0)
    bins = np.minimum((scores * HISTOGRAM_BINS).astype(int), HISTOGRAM_BINS - 1)
    positives = np.bincount(bins[y], minlength=HISTOGRAM_BINS).tolist()
    negatives = np.bincount(bins[~y], minlength=HISTOGRAM_BINS).tolist()

    auc, bound = auc_from_histogram(positives, negatives)
    exact = roc_auc(y.astype(int), scores)

    assert auc is not None and exact is not None
    assert abs(auc - exact) <= bound
    assert bound < 0.002  # 1,000 bins of spread-out scores: within 0.2 points of AUC


def test_the_histograms_auc_is_exact_when_each_bin_holds_one_score() -> None:
    rng = np.random.default_rng(7)
    y = rng.random(5_000) < 0.4
    bins = rng.integers(0, HISTOGRAM_BINS, 5_000)
    scores = bins / HISTOGRAM_BINS  # one score per bin: every same-bin pair is a tie
    positives = np.bincount(bins[y], minlength=HISTOGRAM_BINS).tolist()
    negatives = np.bincount(bins[~y], minlength=HISTOGRAM_BINS).tolist()

    auc, _ = auc_from_histogram(positives, negatives)

    assert auc == pytest.approx(roc_auc(y.astype(int), scores), abs=1e-12)
    assert auc_from_histogram([3, 0], [0, 0]) == (None, 0.0)


@pytest.mark.parametrize("prediction_type", ["probability", "label", "value"])
def test_the_query_is_athenas_dialect_reads_only_its_partitions_and_names_the_window(
    prediction_type: PredictionType,
) -> None:
    now = WINDOW.end + timedelta(days=30)
    planned = performance_query(MODEL, WINDOW, prediction_type, 0.5, now, HORIZON)

    sqlglot.parse_one(planned.query.sql, read="trino")
    assert "window 2026-11-26T09:00Z" in planned.query.description and MODEL in planned.query.description
    events, labels = planned.query.scans
    assert (events.table, events.first_hour, events.last_hour) == (
        "events",
        WINDOW.start - timedelta(hours=1),
        WINDOW.end + timedelta(hours=1),
    )
    # labels: from the window's start to the horizon (now is later), plus the delivery slack
    assert (labels.table, labels.first_hour, labels.last_hour) == (
        "labels",
        WINDOW.start,
        WINDOW.end + HORIZON + timedelta(hours=1),
    )
    assert planned.labels_through == WINDOW.end + HORIZON + timedelta(hours=1)
    assert planned.labels_until == WINDOW.end + HORIZON
    assert f"model = '{MODEL}'" in planned.query.sql


def test_the_partition_filter_names_each_day_once() -> None:
    scan = TableScan(
        "labels", MODEL, datetime(2026, 11, 26, 9, tzinfo=UTC), datetime(2026, 11, 28, 3, tzinfo=UTC)
    )
    assert partition_filter(scan) == (
        "((dt = '2026-11-26' AND hour BETWEEN '09' AND '23') OR dt = '2026-11-27'"
        " OR (dt = '2026-11-28' AND hour BETWEEN '00' AND '03'))"
    )


def test_a_window_without_events_is_an_empty_report(tmp_path: Path) -> None:
    planned = performance_query(MODEL, WINDOW, "probability", 0.5, WINDOW.end, HORIZON)
    computed = report_from_rows(DuckDBEngine(tmp_path).run(planned.query).rows, "probability", 0.5)
    assert (computed.report.n_predictions, computed.report.versions) == (0, [])
