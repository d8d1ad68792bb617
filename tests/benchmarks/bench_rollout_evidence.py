"""The rollout job's evidence query over one window at scale, as JSON.

1. A five-minute window (the rollout job's default) of a shadow rollout of a probability model:
   ``--rows`` production prediction events (one request of one instance each, about 10 features)
   and as many shadow predictions of the candidate on the same requests (``served = false``), 20
   gzip JSON Lines objects of each, labels for a third of the instances, and a few hundred
   candidate failures in the rejected table; generated once by DuckDB under a cache directory.
2. The query (:func:`modelwatch.monitoring.rollout_evidence.rollout_evidence_query`) on the
   embedded engine (DuckDB, the local stack's 1 GB memory limit): wall time of the query and the
   evidence built from its rows, best and median of N runs, the bytes it read, and what the figures
   say (so a wrong query does not pass for a fast one).

Run: ``.venv/bin/python tests/benchmarks/bench_rollout_evidence.py --output .bench/rollout_evidence.json``
(``--rows`` to change the size, ``--runs`` the repetitions, ``--cache DIR`` where the objects live).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "layers" / "modelwatch")]

from modelwatch.contracts import layout  # noqa: E402
from modelwatch.contracts.rollout import Rollout, RolloutCandidate  # noqa: E402
from modelwatch.contracts.schema import FeatureSpec, FeatureType, InputSchema  # noqa: E402
from modelwatch.contracts.window import Window  # noqa: E402
from modelwatch.monitoring.rollout_evidence import evidence_from_rows, rollout_evidence_query  # noqa: E402
from modelwatch.stores.sql import DuckDBEngine  # noqa: E402

MODEL = "bench"
WINDOW = Window(datetime(2026, 11, 26, 9, 0, tzinfo=UTC), datetime(2026, 11, 26, 9, 5, tzinfo=UTC))
OBJECTS = 20
FAILURES = 300


def _rollout() -> Rollout:
    return Rollout(
        id="bench-shadow",
        mode="shadow",
        candidate=RolloutCandidate(
            version="2",
            flavor="sklearn",
            artifact_uri="s3://models/2",
            input_schema=InputSchema(features=[FeatureSpec(name="amount", type=FeatureType.NUMBER)]),
        ),
        production_version="1",
        share=1.0,
    )


def _events_sql(part: int, per_object: int, path: Path, shadow: bool) -> str:
    i = f"(i + {part * per_object})"
    score = f"(({i} * 2654435761) % 1000003) / 1000003.0"
    if shadow:
        score = f"least(1.0, greatest(0.0, {score} + ((({i} * 40503) % 997) / 997.0 - 0.5) * 0.2))"
    seconds = f"(({i} * 7919) % 300000) / 1000.0"
    return f"""COPY (
  SELECT 1 AS schema_version, md5('{"s" if shadow else "e"}' || {i}) AS event_id,
    md5('r' || {i}) AS request_id, 0 AS "index", '{MODEL}' AS model,
    '{"2" if shadow else "1"}' AS version,
    strftime(TIMESTAMP '2026-11-26 09:00:00' + to_microseconds(CAST({seconds} * 1e6 AS BIGINT)),
      '%Y-%m-%dT%H:%M:%S.%f+00:00') AS "timestamp",
    {{'amount': round(random() * 500, 2), 'age': 18 + {i} % 60, 'n_items': 1 + {i} % 9,
      'channel': ['online', 'branch'][1 + {i} % 2], 'hour': {i} % 24, 'risk': random(),
      'country': ['fr', 'de', 'es', 'it'][1 + {i} % 4], 'new_customer': {i} % 7 = 0,
      'device': ['ios', 'android', 'web'][1 + {i} % 3], 'merchant': md5('m' || ({i} % 5000))}} AS features,
    {score} AS prediction, 5.0 + ({i} % 100) / 10.0 AS latency_ms,
    '{"candidate" if shadow else "production"}' AS variant, {"false" if shadow else "true"} AS served
  FROM range({per_object}) t(i)
) TO '{path}' (FORMAT json, COMPRESSION gzip)"""


def _labels_sql(part: int, per_object: int, path: Path) -> str:
    i = f"(i * 3 + {part * per_object * 3})"  # every third instance
    return f"""COPY (
  SELECT 1 AS schema_version, md5('l' || {i}) AS event_id, '{MODEL}' AS model, md5('r' || {i}) AS request_id,
    0 AS "index", CASE WHEN (({i} * 2654435761) % 1000003) / 1000003.0 > 0.7 THEN 1 ELSE 0 END AS label,
    '2026-11-26T09:04:00+00:00' AS "timestamp"
  FROM range({per_object}) t(i)
) TO '{path}' (FORMAT json, COMPRESSION gzip)"""


def generate(root: Path, rows: int) -> dict[str, int]:
    """The window's objects under ``root`` (kept when already there for this size)."""
    import duckdb

    marker = root / f".generated-{rows}"
    if marker.exists():
        return json.loads(marker.read_text())
    per_object = rows // OBJECTS
    connection = duckdb.connect()
    hour = WINDOW.start
    for part in range(OBJECTS):
        for shadow in (False, True):
            key = layout.partitioned_key("events", hour, f"bench-{'s' if shadow else 'p'}-{part}", MODEL)
            (root / key).parent.mkdir(parents=True, exist_ok=True)
            connection.execute(_events_sql(part, per_object, root / key, shadow))
        key = layout.partitioned_key("labels", hour, f"bench-l-{part}", MODEL)
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        connection.execute(_labels_sql(part, per_object // 3, root / key))
    key = layout.partitioned_key("rejected", hour, "bench-x", MODEL)
    (root / key).parent.mkdir(parents=True, exist_ok=True)
    failures = [
        {
            "schema_version": 1,
            "event_id": f"x{i}",
            "request_id": f"f{i}",
            "model": MODEL,
            "version": "2",
            "timestamp": "2026-11-26T09:02:00+00:00",
            "reason": "candidate_failed",
            "status_code": 200,
            "errors": [{"type": "prediction_failed", "message": "boom"}],
            "body": "{}",
            "body_truncated": False,
            "variant": "candidate",
        }
        for i in range(FAILURES)
    ]
    (root / key).write_text("".join(json.dumps(f) + "\n" for f in failures))
    counts = {"events": per_object * OBJECTS * 2, "labels": (per_object // 3) * OBJECTS, "rejected": FAILURES}
    marker.write_text(json.dumps(counts))
    return counts


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="production events (as many shadows)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cache", type=Path, default=REPO / ".bench" / "rollout-evidence-lake")
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--memory-limit", default="1GB")
    args = parser.parse_args(argv)
    args.cache.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    counts = generate(args.cache, args.rows)
    generated_s = time.perf_counter() - started
    rollout = _rollout()
    engine = DuckDBEngine(args.cache, memory_limit=None if args.memory_limit == "none" else args.memory_limit)
    planned = rollout_evidence_query(
        MODEL, WINDOW, rollout, "probability", WINDOW.end + timedelta(minutes=1), timedelta(days=7)
    )
    times = []
    for _ in range(args.runs):
        begin = time.perf_counter()
        result = engine.run(planned.query)
        evidence = evidence_from_rows(result.rows, planned, rollout, WINDOW)
        times.append(time.perf_counter() - begin)
    production, candidate = evidence.variants["production"], evidence.variants["candidate"]
    report = {
        "benchmark": "rollout_evidence",
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
        "records": counts,
        "generated_s": round(generated_s, 2),
        "query_wall_s": {"best": round(min(times), 3), "median": round(statistics.median(times), 3)},
        "runs": args.runs,
        "bytes_scanned": result.bytes_scanned,
        "result_rows": len(result.rows),
        "memory_limit": args.memory_limit,
        "figures": {
            "production_requests": production.requests,
            "candidate_requests": candidate.requests,
            "candidate_errors": candidate.errors,
            "agreement_pairs": evidence.agreement.pairs,
            "identical_share": evidence.agreement.identical_share,
            "labelled_production": production.metric_moments.n,
            "latency_p99_ms": production.latency_p99_ms,
        },
    }
    assert (
        production.requests == args.rows // OBJECTS * OBJECTS
        and evidence.agreement.pairs == production.requests
    )
    text = json.dumps(report, indent=2)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + "\n")
    print(text)
    return report


if __name__ == "__main__":
    main()
