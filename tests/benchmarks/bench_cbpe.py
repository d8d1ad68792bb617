"""``make bench`` (CBPE part): performance estimation at 10M predictions from per-object statistics, as JSON.

1. Per object: the score statistics of 100k predictions (``binary_statistics``, and
   ``multiclass_statistics`` for 3 classes), CPU time of this thread, and the size of the
   JSON document the profile function would store.
2. Per window: 100 such documents (10M predictions, each object drawn on its own) read
   from JSON, merged (``merge_statistics``) and estimated (``estimate_performance``, 500
   draws for the bands) against a prepared reference; wall time of each step and of the
   whole, best and median of N runs. Goal (issue 14): the estimate per window at 10M
   predictions within 0.5 s; the whole per-window path is reported beside it.
3. For scale, in the same run: the exact metrics computed on the 10M raw scores and
   labels with numpy (what labels would cost without statistics: a threshold and a sort
   for the AUC), and the ratio of the estimate's time to it.

Run: ``.venv/bin/python tests/benchmarks/bench_cbpe.py --output .bench/cbpe.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
GOALS = {"estimate_s_at_10m": 0.5}
CLASSES = ["a", "b", "c"]


def _binary_scores(rng: Any, n: int) -> tuple[Any, Any]:
    import numpy as np

    p = 1.0 / (1.0 + np.exp(-(1.5 * rng.normal(0.0, 1.5, n) - 0.5)))
    return p, (rng.random(n) < p).astype(np.int64)


def _multiclass_scores(rng: Any, n: int) -> tuple[Any, Any]:
    import numpy as np

    logits = rng.normal(0.0, 1.5, (n, 2)) @ np.array([[1.6, -0.8, -0.8], [0.0, 1.4, -1.4]])
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    labels = np.minimum((rng.random(n)[:, None] > np.cumsum(p, axis=1)).sum(axis=1), 2)
    return p, labels


def _timed(func: Any, runs: int) -> tuple[list[float], Any]:
    walls, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = func()
        walls.append(time.perf_counter() - start)
    return walls, result


def _summary(walls: list[float]) -> dict[str, float]:
    return {"best": round(min(walls), 4), "median": round(statistics.median(walls), 4)}


def _exact_binary(scores: Any, labels: Any) -> dict[str, float]:
    import numpy as np

    from modelwatch.monitoring.performance import roc_auc

    predicted = scores >= 0.5
    tp = float((predicted & (labels == 1)).sum())
    fp = float((predicted & (labels == 0)).sum())
    fn = float((~predicted & (labels == 1)).sum())
    return {
        "accuracy": float(np.mean(predicted == (labels == 1))),
        "f1": 2 * tp / (2 * tp + fp + fn),
        "roc_auc": float(roc_auc(labels, scores) or 0.0),
    }


def bench_task(task: str, objects: int, rows: int, runs: int) -> dict[str, Any]:
    import numpy as np

    from modelwatch.contracts.estimation import ScoreStatistics, merge_statistics
    from modelwatch.monitoring.estimation import (
        binary_statistics,
        estimate_performance,
        multiclass_statistics,
        prepare_reference,
        realized_performance,
    )

    rng = np.random.default_rng(7)
    generate = _binary_scores if task == "binary" else _multiclass_scores

    def build(scores: Any, labels: Any = None) -> ScoreStatistics:
        if task == "binary":
            return binary_statistics(scores, labels=labels)
        return multiclass_statistics(scores, CLASSES, labels=labels)

    reference = prepare_reference(build(*generate(rng, 200_000)))
    parts = [generate(rng, rows) for _ in range(objects)]
    cpu: list[float] = []
    documents: list[str] = []
    for scores, labels in parts:
        start = time.thread_time()
        document = build(scores, labels).to_json()
        cpu.append(time.thread_time() - start)
        documents.append(document)

    read_walls, read = _timed(lambda: [ScoreStatistics.from_json(d) for d in documents], runs)
    merge_walls, window = _timed(lambda: merge_statistics(read), runs)
    estimate_walls, estimate = _timed(lambda: estimate_performance(window, reference), runs)
    whole_walls, _ = _timed(
        lambda: estimate_performance(
            merge_statistics(ScoreStatistics.from_json(d) for d in documents), reference
        ),
        runs,
    )
    realized = realized_performance(window)
    result: dict[str, Any] = {
        "predictions": window.n_rows,
        "objects": objects,
        "per_object_statistics_cpu_s": _summary(cpu),
        "per_object_document_bytes": len(documents[0]),
        "window_read_json_s": _summary(read_walls),
        "window_merge_s": _summary(merge_walls),
        "window_estimate_s": _summary(estimate_walls),
        "window_whole_s": _summary(whole_walls),
        "estimate_vs_realized": {
            metric: {
                "estimated": round(estimate.metric(metric).value or 0.0, 5),
                "band": [
                    round(estimate.metric(metric).lower or 0.0, 5),
                    round(estimate.metric(metric).upper or 0.0, 5),
                ],
                "realized": round(realized[metric] or 0.0, 5),
            }
            for metric in ("accuracy", "f1", "roc_auc")
        },
        "doubtful": estimate.doubtful,
    }
    if task == "binary":
        scores = np.concatenate([s for s, _ in parts])
        labels = np.concatenate([y for _, y in parts])
        exact_walls, _ = _timed(lambda: _exact_binary(scores, labels), max(1, runs // 2))
        result["baseline_exact_metrics_on_raw_rows_s"] = _summary(exact_walls)
        result["estimate_ratio_to_baseline"] = round(
            statistics.median(estimate_walls) / statistics.median(exact_walls), 4
        )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--output", default=".bench/cbpe.json")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--objects", type=int, default=100)
    parser.add_argument("--rows-per-object", type=int, default=100_000)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "layers/modelwatch"))
    binary = bench_task("binary", args.objects, args.rows_per_object, args.runs)
    multiclass = bench_task("multiclass", args.objects, args.rows_per_object, args.runs)
    results = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "load_avg": os.getloadavg()},
        "binary": binary,
        "multiclass_3_classes": multiclass,
        "goals": GOALS,
        "goals_met": {
            "estimate_s_at_10m_binary": binary["window_estimate_s"]["median"] <= GOALS["estimate_s_at_10m"],
            "estimate_s_at_10m_multiclass": multiclass["window_estimate_s"]["median"]
            <= GOALS["estimate_s_at_10m"],
        },
    }
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
