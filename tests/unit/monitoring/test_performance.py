"""Performance from late labels: the join, and metrics checked against scikit-learn."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn import metrics

from modelwatch.monitoring.performance import compute_performance, join_labels, roc_auc


def events_and_labels(
    rng: np.random.Generator, n: int, predictions: Any, labels: Any, version: str = "1"
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    events = [
        {"request_id": f"r{i // 3}", "index": i % 3, "version": version, "prediction": p}
        for i, p in enumerate(predictions)
    ]
    label_records = [{"request_id": f"r{i // 3}", "index": i % 3, "label": y} for i, y in enumerate(labels)]
    order = rng.permutation(n)
    return events, [label_records[i] for i in order]


def test_binary_classifier_metrics_match_sklearn() -> None:
    rng = np.random.default_rng(0)
    n = 2_000
    y = (rng.random(n) < 0.3).astype(int)
    scores = np.clip(0.3 * y + rng.random(n) * 0.7, 0.001, 0.999).round(3)  # ties on purpose
    events, labels = events_and_labels(rng, n, scores.tolist(), y.tolist())
    report = compute_performance(events, labels[:1500], "probability")
    version = report.versions[0]
    m = version.classification
    assert m is not None
    labelled = {(r["request_id"], r["index"]) for r in labels[:1500]}
    mask = np.array([(e["request_id"], e["index"]) in labelled for e in events])
    yt, ys = y[mask], scores[mask]
    yp = (ys >= 0.5).astype(int)
    assert version.n_predictions == n and version.n_labelled == 1500
    assert m.auc == pytest.approx(metrics.roc_auc_score(yt, ys))
    assert m.accuracy == pytest.approx(metrics.accuracy_score(yt, yp))
    assert m.precision == pytest.approx(metrics.precision_score(yt, yp))
    assert m.recall == pytest.approx(metrics.recall_score(yt, yp))
    assert m.f1 == pytest.approx(metrics.f1_score(yt, yp))
    assert m.log_loss == pytest.approx(metrics.log_loss(yt, ys))


def test_single_class_window_has_no_auc() -> None:
    rng = np.random.default_rng(1)
    events, labels = events_and_labels(rng, 10, [0.2] * 10, [0] * 10)
    version = compute_performance(events, labels, "probability").versions[0]
    assert version.classification is not None and version.classification.auc is None
    assert version.classification.precision is None and version.classification.accuracy == 1.0
    assert any("single class" in note for note in version.notes)


def test_log_loss_clips_certain_mistakes() -> None:
    rng = np.random.default_rng(2)
    events, labels = events_and_labels(rng, 2, [0.0, 1.0], [1, 0])
    loss = compute_performance(events, labels, "probability").versions[0].classification.log_loss  # type: ignore[union-attr]
    assert loss is not None and np.isfinite(loss) and loss > 30


def test_regression_metrics_match_sklearn() -> None:
    rng = np.random.default_rng(3)
    y = rng.normal(size=500)
    pred = y + rng.normal(0, 0.3, 500)
    events, labels = events_and_labels(rng, 500, pred.tolist(), y.tolist())
    m = compute_performance(events, labels, "value").versions[0].regression
    assert m is not None
    assert m.rmse == pytest.approx(np.sqrt(metrics.mean_squared_error(y, pred)))
    assert m.mae == pytest.approx(metrics.mean_absolute_error(y, pred))


def test_label_predictions_binary_and_multiclass() -> None:
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 300)
    pred = np.where(rng.random(300) < 0.8, y, 1 - y)
    events, labels = events_and_labels(rng, 300, pred.tolist(), [bool(v) for v in y])
    m = compute_performance(events, labels, "label").versions[0].classification
    assert m is not None and m.auc is None
    assert m.f1 == pytest.approx(metrics.f1_score(y, pred))
    classes = np.array(["cat", "dog", "fish"])
    yc, pc = classes[rng.integers(0, 3, 300)], classes[rng.integers(0, 3, 300)]
    events, labels = events_and_labels(rng, 300, pc.tolist(), yc.tolist())
    m = compute_performance(events, labels, "label").versions[0].classification
    assert m is not None
    assert m.accuracy == pytest.approx(metrics.accuracy_score(yc, pc))
    assert m.precision == pytest.approx(metrics.precision_score(yc, pc, average="macro"))
    assert m.recall == pytest.approx(metrics.recall_score(yc, pc, average="macro"))
    assert m.f1 == pytest.approx(metrics.f1_score(yc, pc, average="macro"))


def test_join_by_request_and_index_per_version() -> None:
    events = [
        {"request_id": "a", "index": 0, "version": "1", "prediction": 0.9},
        {"request_id": "a", "index": 1, "version": "1", "prediction": 0.1},
        {"request_id": "b", "index": 0, "version": "2", "prediction": 0.7},
    ]
    labels = [
        {"request_id": "a", "index": 1, "label": 1},
        {"request_id": "a", "index": 1, "label": 0},  # sent again: the last one counts
        {"request_id": "b", "index": 0, "label": 1},
        {"request_id": "zzz", "index": 0, "label": 1},
    ]
    joined, per_version, unmatched = join_labels(events, labels)
    assert sorted(joined) == [("1", 0.1, 0), ("2", 0.7, 1)]
    assert per_version == {"1": 2, "2": 1} and unmatched == 1
    report = compute_performance(events, labels, "probability")
    assert [v.version for v in report.versions] == ["1", "2"]
    assert report.n_labelled == 2 and report.n_predictions == 3 and report.n_unmatched_labels == 1


def test_version_without_labels() -> None:
    report = compute_performance(
        [{"request_id": "a", "index": 0, "version": "1", "prediction": 1.0}], [], "value"
    )
    assert report.versions[0].n_labelled == 0 and report.versions[0].notes == ["no labelled prediction"]


def test_auc_ties() -> None:
    assert roc_auc([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]) == 0.5
    assert roc_auc([1, 1], [0.1, 0.2]) is None
