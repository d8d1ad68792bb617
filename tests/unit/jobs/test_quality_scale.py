"""The issue's scale test: the quality job over a 10-million-row window (100 objects) within 512 MB.

The window is 100 objects of 100,000 rows, each as the quality document the profile
function would have stored (``scale_window``); no JSON row is generated. The limit is
checked on the job's own allocations: the tracemalloc peak of Python memory allocated
while ``run_quality`` runs (numpy and pydantic allocate through it), the stored documents
being in memory before it starts. ``bench_quality.py`` measures the process's RSS.
"""

from __future__ import annotations

import tracemalloc

from modelwatch.jobs.quality_job import run_quality
from tests.unit.jobs.conftest import EVENTS_BUCKET, MODEL, MODELS_BUCKET, WINDOW, JobWorld
from tests.unit.jobs.scale_window import NUMERIC, object_documents

LIMIT_BYTES = 512 * 1024 * 1024
OBJECTS, ROWS = 100, 100_000


def test_a_10_million_row_window_runs_the_quality_job_within_512_mb(world: JobWorld) -> None:
    keys = object_documents(world.storage, EVENTS_BUCKET, MODELS_BUCKET, MODEL, WINDOW, OBJECTS, ROWS)
    context = world.context

    tracemalloc.start()
    try:
        outcome = run_quality(context, MODEL, WINDOW)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < LIMIT_BYTES, f"peak {peak / 2**20:.1f} MB"
    assert outcome.status == "ok" and outcome.summary["n_objects"] == len(keys) == OBJECTS
    assert outcome.summary["n_rows"] == OBJECTS * ROWS  # every row counted, from the documents alone
    assert "unreadable" not in outcome.summary  # no placeholder object was read as rows
    features = {f["name"]: f for f in outcome.details["1"]["features"]}
    assert all(features[f"num_{i}"]["n"] == OBJECTS * ROWS for i in range(NUMERIC))
    # the injected problems are found at the window's scale
    assert features["cat_0"]["unseen_category_rate"] > 0.15 and features["num_1"]["type_error"] > 0
    assert ("num_2", "out_of_range") in {(v["feature"], v["check"]) for v in outcome.summary["violations"]}
