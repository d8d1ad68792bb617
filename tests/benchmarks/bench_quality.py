"""``make bench`` (quality part): the quality job from per-object results, and per-object counting speed.

1. The quality job on a 10M-row window from per-object results: 100 objects of 100k
   rows, each as the quality document the profile function stores (made with
   ``check_quality`` on 100k-row columns, ``tests/unit/jobs/scale_window.py``). The job
   runs in a child process that holds only the library and the stored documents (in an
   in-memory object storage): its peak RSS (``ru_maxrss``), its RSS before the job (the
   interpreter, the library and the documents), the job's own Python allocations
   (tracemalloc peak) and its wall time (reading the 100 documents, merging, thresholds,
   the HTML page), best and median of N runs, each with a fresh job context.
2. Per-object work of the profile function on 100k-row columns (20 numeric, 5
   categorical, built as ``bench_drift.py`` builds them): profiling alone, quality counts
   alone, and both, in rows per second per core (CPU time of one thread); and, for
   reference, the profile function's whole path from a JSON Lines object (decode, columns,
   numbers as arrays, profile, counts).

Goals (issue 11): job peak memory <= 300 MB and time <= 2 s; profile + quality counts
>= 1M rows/s per core.

Run: ``.venv/bin/python tests/benchmarks/bench_quality.py --output .bench/quality.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
EVENTS_BUCKET, MODELS_BUCKET, MODEL = "events", "models", "fraud"
WINDOW_START = datetime(2026, 11, 26, 9, tzinfo=UTC)
GOALS = {"job_peak_rss_mb": 300.0, "job_wall_s": 2.0, "profile_and_quality_rows_per_s_per_core": 1_000_000}

CHILD = textwrap.dedent(
    """
    import json, pickle, resource, statistics, sys, time, tracemalloc
    from datetime import datetime, timedelta
    from modelwatch.contracts.window import Window
    from modelwatch.jobs.context import JobContext
    from modelwatch.jobs.quality_job import run_quality
    from modelwatch.metrics.provider import InMemorySink
    from modelwatch.settings import MonitoringSettings
    from modelwatch.stores.bus import InMemoryBus
    from modelwatch.stores.objects import InMemoryStorage

    path, events_bucket, models_bucket, model, start, runs = sys.argv[1:7]
    storage = InMemoryStorage()
    with open(path, "rb") as handle:
        storage.objects.update(pickle.load(handle))
    window = Window(datetime.fromisoformat(start), datetime.fromisoformat(start) + timedelta(hours=1))
    settings = MonitoringSettings(events_bucket=events_bucket, models_bucket=models_bucket)

    def context():
        return JobContext(settings=settings, storage=storage, bus=InMemoryBus(), metrics=InMemorySink(),
                          clock=lambda: window.end + timedelta(minutes=5))

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    walls = []
    for _ in range(int(runs)):
        began = time.perf_counter()
        outcome = run_quality(context(), model, window)
        walls.append(time.perf_counter() - began)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    tracemalloc.start()
    run_quality(context(), model, window)
    traced = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    print(json.dumps({
        "walls": walls, "rss_before_job_mb": rss_before, "peak_rss_mb": peak, "traced_peak_mb": traced,
        "status": outcome.status, "n_rows": outcome.summary.get("n_rows"),
        "n_objects": outcome.summary.get("n_objects"),
        "n_violations": len(outcome.summary.get("violations", [])),
    }))
    """
)


def bench_job(objects: int, rows_per_object: int, runs: int) -> dict[str, Any]:
    """The quality job over a window of ``objects`` stored per-object documents, in a child process."""
    from modelwatch.contracts.window import Window
    from modelwatch.stores.objects import InMemoryStorage
    from tests.unit.jobs.scale_window import object_documents

    storage = InMemoryStorage()
    window = Window(WINDOW_START, WINDOW_START.replace(hour=WINDOW_START.hour + 1))
    began = time.perf_counter()
    object_documents(storage, EVENTS_BUCKET, MODELS_BUCKET, MODEL, window, objects, rows_per_object)
    generate_s = time.perf_counter() - began
    document_bytes = sum(
        len(body) for (_, key), (body, _) in storage.objects.items() if key.endswith(".quality.json")
    )
    with tempfile.TemporaryDirectory(prefix="mw-bench-quality-") as tmp:
        path = Path(tmp) / "storage.pickle"
        path.write_bytes(pickle.dumps(dict(storage.objects)))  # a plain dict: the table rebuilds its index
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "layers/modelwatch"), str(REPO)]))
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                CHILD,
                str(path),
                EVENTS_BUCKET,
                MODELS_BUCKET,
                MODEL,
                WINDOW_START.isoformat(),
                str(runs),
            ],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"quality job child failed: {done.stderr[-2000:]}")
    child = json.loads(done.stdout.strip().splitlines()[-1])
    walls = child.pop("walls")
    return {
        "objects": objects,
        "rows_per_object": rows_per_object,
        "window_rows": child["n_rows"],
        "documents_bytes_total": document_bytes,
        "generate_documents_s": round(generate_s, 2),
        "job_wall_s_best": round(min(walls), 4),
        "job_wall_s_median": round(statistics.median(walls), 4),
        "job_peak_rss_mb": round(child["peak_rss_mb"], 1),
        "rss_before_job_mb": round(child["rss_before_job_mb"], 1),
        "job_rss_growth_mb": round(child["peak_rss_mb"] - child["rss_before_job_mb"], 1),
        "job_traced_peak_mb": round(child["traced_peak_mb"], 2),
        "status": child["status"],
        "n_objects": child["n_objects"],
        "n_violations": child["n_violations"],
        "memory_method": "child process: ru_maxrss after the runs (whole process), ru_maxrss before the "
        "first run, and the tracemalloc peak of one run",
    }


def _best_cpu(work: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """Best CPU seconds (this thread's) and best wall seconds of ``repeats`` calls."""
    cpus, walls = [], []
    for _ in range(repeats):
        cpu, wall = time.thread_time(), time.perf_counter()
        work()
        cpus.append(time.thread_time() - cpu)
        walls.append(time.perf_counter() - wall)
    return min(cpus), min(walls)


class _References:
    """One version's reference, as ``VersionReferences.get`` returns it."""

    def __init__(self, reference: Any) -> None:
        self._reference = reference

    def get(self, model: str, version: str) -> Any:
        return self._reference


def bench_per_object(rows: int, repeats: int, json_rows: int) -> dict[str, Any]:
    """Profiling and quality counts of one object's columns, as the profile function does them."""
    from modelwatch.contracts.events import decode_event_object_tolerant
    from modelwatch.contracts.manifest import ServingManifest
    from modelwatch.monitoring.object_profile import profile_and_check_events
    from modelwatch.monitoring.profile import profile_against, profile_dataset
    from modelwatch.monitoring.quality import check_quality
    from modelwatch.stores.references import VersionReference
    from tests.benchmarks.bench_drift import make_table
    from tests.unit.jobs.scale_window import wide_schema

    schema = wide_schema()
    reference_table = make_table(200_000, 1, shifted=False)
    reference = profile_dataset({n: reference_table.column(n) for n in reference_table.column_names}, schema)
    table = make_table(rows, 3, shifted=True)
    columns = {name: table.column(name) for name in table.column_names}

    profile_cpu, profile_wall = _best_cpu(lambda: profile_against(reference, columns), repeats)
    quality_cpu, quality_wall = _best_cpu(lambda: check_quality(schema, columns), repeats)

    def both() -> None:
        profile_against(reference, columns)
        check_quality(schema, columns)

    both_cpu, both_wall = _best_cpu(both, repeats)

    # The whole path from a JSON Lines object (what a delivered object costs end to end).
    small = table.slice(0, json_rows).to_pylist()
    body = "".join(
        json.dumps({"model": MODEL, "version": "1", "features": r, "prediction": 0.5}) + "\n" for r in small
    ).encode()
    manifest = ServingManifest(
        model=MODEL,
        version="1",
        flavor="sklearn",
        artifact_uri=f"s3://{MODELS_BUCKET}/model.joblib",
        input_schema=schema,
        prediction_type="probability",
    )
    references = _References(VersionReference(manifest, reference))

    def from_json() -> None:
        records, _ = decode_event_object_tolerant(body)
        profile_and_check_events(records, references, "key", "etag")  # type: ignore[arg-type]

    json_cpu, json_wall = _best_cpu(from_json, max(1, repeats // 2))
    return {
        "rows": rows,
        "columns": {"numeric": 20, "categorical": 5},
        "profile_rows_per_s_per_core": int(rows / profile_cpu),
        "quality_rows_per_s_per_core": int(rows / quality_cpu),
        "profile_and_quality_rows_per_s_per_core": int(rows / both_cpu),
        "profile_and_quality_wall_s": round(both_wall, 4),
        "profile_wall_s": round(profile_wall, 4),
        "quality_wall_s": round(quality_wall, 4),
        "from_json_lines": {
            "rows": json_rows,
            "rows_per_s_per_core": int(json_rows / json_cpu),
            "wall_s": round(json_wall, 4),
            "note": "decode_event_object_tolerant + profile_and_check_events: the profile function's path",
        },
        "method": f"best of {repeats}, CPU time of the calling thread (time.thread_time)",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--output", default=".bench/quality.json")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--objects", type=int, default=100)
    parser.add_argument("--rows-per-object", type=int, default=100_000)
    parser.add_argument("--json-rows", type=int, default=20_000)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "layers/modelwatch"))
    job = bench_job(args.objects, args.rows_per_object, args.runs)
    per_object = bench_per_object(args.rows_per_object, args.runs, args.json_rows)
    results = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "load_avg": os.getloadavg()},
        "quality_job_from_object_results": job,
        "per_object_profile_and_quality": per_object,
        "goals": GOALS,
        "goals_met": {
            "job_peak_rss_mb": job["job_peak_rss_mb"] <= GOALS["job_peak_rss_mb"],
            "job_wall_s": job["job_wall_s_median"] <= GOALS["job_wall_s"],
            "profile_and_quality_rows_per_s_per_core": per_object["profile_and_quality_rows_per_s_per_core"]
            >= GOALS["profile_and_quality_rows_per_s_per_core"],
        },
    }
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
