"""``make bench`` (performance part): the performance job's query at 10M labelled predictions, as JSON.

1. A one-hour window of a probability model: 100 gzip JSON Lines objects of 100k
   prediction events (about 10 features each, the size serving captures), and 100 objects
   of 100k labels delivered over the next hours, in the bucket's layout under a cache
   directory (generated once, by DuckDB in a child process; reused when present).
2. The performance job (``run_performance``) on the embedded engine (DuckDB) over them:
   wall time of the job (its one query and the report built from the aggregates), best and
   median of N runs, the bytes it read, and the peak RSS of this process (which only ran
   the job: generation runs in a child).
3. In AWS: Athena bills the bytes it scans, for gzip JSON the compressed object sizes (no
   column pruning on JSON), so the per-window bytes are the compressed sizes of the
   partitions the query names: the cost per window at ``ATHENA_USD_PER_TB``.

Run: ``.venv/bin/python tests/benchmarks/bench_performance.py --output .bench/performance.json``
(``--cache DIR`` to keep the generated objects elsewhere; ``--rows`` to change the size;
``--memory-limit none`` for DuckDB without the local stack's 1 GB limit: faster, ~4 GB of RSS).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
MODEL = "bench"
WINDOW_START = datetime(2026, 11, 26, 9, tzinfo=UTC)
OBJECTS = 100
GOALS = {"job_wall_s": 5.0}
ATHENA_USD_PER_TB = 5.0  # Athena SQL queries: $5 per TB scanned, 10 MB minimum per query (us-east-1)
ATHENA_MIN_BYTES = 10 * 1024 * 1024


def _generate_sql(kind: str, part: int, per_object: int, path: Path) -> str:
    """One object of ``per_object`` records, written by DuckDB as gzip JSON Lines."""
    first = part * per_object
    # ids look like serving's (hex digests) and features are random, so objects compress as
    # captured ones do; score and label are pseudo-random functions of the row, so they agree
    i = f"(i + {first})"
    score = f"(({i} * 2654435761) % 1000003) / 1000003.0"
    noise = f"(({i} * 40503) % 997) / 997.0"
    if kind == "events":
        seconds = f"(({i} * 7919) % 3600000) / 1000.0"
        return f"""COPY (
  SELECT 1 AS schema_version, md5('e' || {i}) AS event_id, md5('r' || {i}) AS request_id, 0 AS "index",
    '{MODEL}' AS model, CASE WHEN {i} % 4 = 0 THEN '2' ELSE '1' END AS version,
    strftime(TIMESTAMP '2026-11-26 09:00:00' + to_microseconds(CAST({seconds} * 1e6 AS BIGINT)),
      '%Y-%m-%dT%H:%M:%S.%f+00:00') AS "timestamp",
    {{'amount': round(random() * 500, 2), 'age': 18 + {i} % 60, 'n_items': 1 + {i} % 9,
      'merchant_category': ['groceries', 'travel', 'electronics', 'fuel', 'fashion'][1 + {i} % 5],
      'channel': CASE WHEN {i} % 3 = 0 THEN 'branch' ELSE 'online' END,
      'country': ['FR', 'DE', 'ES', 'IT', 'NL', 'BE'][1 + {i} % 6],
      'device': ['ios', 'android', 'web'][1 + {i} % 3], 'hour_of_day': {i} % 24,
      'is_weekend': {i} % 7 >= 5, 'distance_km': random() * 120}} AS features,
    round({score}, 6) AS prediction, round(2 + {noise} * 8, 3) AS latency_ms
  FROM range({per_object}) t(i)
) TO '{path}' (FORMAT json, COMPRESSION gzip)"""
    seconds = f"(({i} * 104729) % 36000000) / 1000.0"  # received over the 10 hours after the window
    return f"""COPY (
  SELECT 1 AS schema_version, md5('l' || {i}) AS event_id, md5('r' || {i}) AS request_id, 0 AS "index",
    '{MODEL}' AS model, CASE WHEN {noise} < {score} THEN 1 ELSE 0 END AS label,
    strftime(TIMESTAMP '2026-11-26 10:00:00' + to_microseconds(CAST({seconds} * 1e6 AS BIGINT)),
      '%Y-%m-%dT%H:%M:%S.%f+00:00') AS "timestamp"
  FROM range({per_object}) t(i)
) TO '{path}' (FORMAT json, COMPRESSION gzip)"""


def _model_prefix(kind: str) -> str:
    from modelwatch.contracts import layout

    return layout.capture_prefix(kind, MODEL)  # type: ignore[arg-type]


def generate(cache: Path, rows: int) -> dict[str, Any]:
    """Write the window's objects under ``cache`` (in a child process: run with ``--generate``)."""
    import duckdb

    from modelwatch.contracts import layout

    per_object = rows // OBJECTS
    connection = duckdb.connect()
    uncompressed = {"events": 0, "labels": 0}
    for kind in ("events", "labels"):
        for part in range(OBJECTS):
            # events delivered in the window's hour; labels over the 10 hours after it
            hour = WINDOW_START + (timedelta(hours=1 + part // 10) if kind == "labels" else timedelta(0))
            key = _model_prefix(kind) + layout.hour_partition(hour) + f"{MODEL}-stream-1-{part:04d}"
            path = cache / key
            path.parent.mkdir(parents=True, exist_ok=True)
            connection.execute(_generate_sql(kind, part, per_object, path))
            if part == 0:
                import gzip

                uncompressed[kind] = len(gzip.decompress(path.read_bytes())) * OBJECTS
    info = {"rows": rows, "objects": OBJECTS, "uncompressed_bytes_estimate": uncompressed}
    (cache / "generated.json").write_text(json.dumps(info))
    return info


def ensure_data(cache: Path, rows: int) -> tuple[dict[str, Any], float | None]:
    marker = cache / "generated.json"
    if marker.exists() and json.loads(marker.read_text()).get("rows") == rows:
        return json.loads(marker.read_text()), None
    started = time.perf_counter()
    environment = {**os.environ, "PYTHONPATH": f"{REPO}/layers/modelwatch:{REPO}"}
    subprocess.run(
        [sys.executable, __file__, "--generate", "--cache", str(cache), "--rows", str(rows)],
        check=True,
        env=environment,
    )
    return json.loads(marker.read_text()), time.perf_counter() - started


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_job(cache: Path, repeat: int, memory_limit: str | None) -> dict[str, Any]:
    from modelwatch.contracts.window import Window
    from modelwatch.jobs.context import JobContext
    from modelwatch.jobs.performance_job import run_performance
    from modelwatch.settings import MonitoringSettings
    from modelwatch.stores.objects import InMemoryStorage
    from modelwatch.stores.sql import DuckDBEngine

    window = Window(WINDOW_START, WINDOW_START + timedelta(hours=1))
    now = window.end + timedelta(hours=12)
    context = JobContext(
        MonitoringSettings(events_bucket="events", models_bucket="models"),
        storage=InMemoryStorage(),
        sql=DuckDBEngine(cache, memory_limit=memory_limit),
        clock=lambda: now,
    )
    before = _peak_rss_mb()
    walls, outcome = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        outcome = run_performance(context, MODEL, window)
        walls.append(time.perf_counter() - started)
    assert outcome is not None and outcome.status == "ok", outcome
    engine = DuckDBEngine(cache)
    from modelwatch.monitoring.performance_sql import performance_query

    planned = performance_query(MODEL, window, "probability", 0.5, now, timedelta(days=7))
    per_table = {
        scan.table: sum(path.stat().st_size for path in engine.files(scan)) for scan in planned.query.scans
    }
    summary = outcome.summary
    return {
        "job_wall_s_best": min(walls),
        "job_wall_s_median": statistics.median(walls),
        "runs": repeat,
        "n_predictions": summary["n_predictions"],
        "n_labelled": summary["n_labelled"],
        "labelled_share": summary["labelled_share"],
        "metrics": summary["metrics"],
        "bytes_read": summary["bytes_scanned"],
        "bytes_read_per_table": per_table,
        "duckdb_memory_limit": memory_limit,
        "peak_rss_mb": _peak_rss_mb(),
        "peak_rss_mb_before_job": before,
    }


def steady_state(events_per_hour: int, labels_per_hour: int, horizon_days: int = 7) -> dict[str, Any]:
    """What Athena scans per hourly window when traffic and labels flow every hour at the measured sizes.

    A query reads the events of 4 delivery hours (the hour before the window to the hour
    after its end, included) and the labels of every hour from the window's start to its
    last label hour (``now``, at most the horizon, plus an hour of slack): the first run (at
    the window's end) 2 hours of labels, the revisit at age ``a`` hours ``a + 2``.
    """
    from modelwatch.jobs.runner import revisit_ages

    ages = [0] + [
        int(age / timedelta(hours=1))
        for age in revisit_ages(timedelta(hours=1), timedelta(days=horizon_days))
    ]
    per_query = {f"age_{age}h": 4 * events_per_hour + (age + 2) * labels_per_hour for age in ages}
    lifetime = sum(per_query.values())
    return {
        "assumes": "10M predictions an hour, every one labelled within the horizon, labels every hour",
        "events_bytes_per_hour": events_per_hour,
        "labels_bytes_per_hour": labels_per_hour,
        "bytes_per_query": per_query,
        "usd_first_run": per_query["age_0h"] / 1e12 * ATHENA_USD_PER_TB,
        "queries_per_window_lifetime": len(ages),
        "bytes_per_window_lifetime": lifetime,
        "usd_per_window_lifetime": lifetime / 1e12 * ATHENA_USD_PER_TB,
        "usd_per_month_hourly_windows": lifetime / 1e12 * ATHENA_USD_PER_TB * 24 * 30,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=REPO / ".bench" / "performance.json")
    parser.add_argument("--cache", type=Path, default=REPO / ".bench" / "cache" / "performance")
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--memory-limit",
        default="1GB",
        help="DuckDB's memory limit (MODELWATCH_QUERY_MEMORY_LIMIT's default); 'none': 80%% of RAM",
    )
    parser.add_argument("--generate", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path[:0] = [str(REPO / "layers" / "modelwatch"), str(REPO)]
    if args.generate:
        generate(args.cache, args.rows)
        return
    info, generation_s = ensure_data(args.cache, args.rows)
    measured = run_job(args.cache, args.repeat, None if args.memory_limit == "none" else args.memory_limit)
    scanned = measured["bytes_read"]
    billed = max(scanned, ATHENA_MIN_BYTES)
    uncompressed = sum(info["uncompressed_bytes_estimate"].values())
    report = {
        "benchmark": "performance",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "data": {**info, "generation_s": generation_s, "cache": str(args.cache)},
        **measured,
        "json_mb_per_s": uncompressed / 1e6 / measured["job_wall_s_best"],
        "athena": {
            "bytes_scanned_per_window": scanned,
            "usd_per_tb": ATHENA_USD_PER_TB,
            "usd_per_window": billed / 1e12 * ATHENA_USD_PER_TB,
            "usd_per_month_hourly_windows": billed / 1e12 * ATHENA_USD_PER_TB * 24 * 30,
            # The benchmark reads one hour of predictions and their labels. In steady state every
            # hour brings as many predictions and (all labelled) as many labels of earlier ones:
            "steady_state": steady_state(
                measured["bytes_read_per_table"]["events"], measured["bytes_read_per_table"]["labels"]
            ),
        },
        "goals": GOALS,
        "met": {"job_wall_s": measured["job_wall_s_best"] <= GOALS["job_wall_s"]},
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
