"""``make load`` in its short form: the Locust profile against the local stack, every event reconciled.

The long form is ``make load LOAD_ARGS="--duration 120 --ramp-step-seconds 15"`` (docs/reliability.md).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from modelwatch_local.load.run import LoadOptions, run_load


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    state = tmp_path_factory.mktemp("load")
    options = LoadOptions(
        duration=10.0,
        users=4,
        user_rate=5.0,
        ramp=True,
        ramp_users=[1, 4],
        ramp_step_seconds=3.0,
        report=state / "report.json",
        state_dir=state,
        n_estimators=20,
    )
    result = run_load(options)
    assert json.loads(Path(options.report).read_text()) == result  # the report is written
    return result


def test_every_answered_request_is_captured_and_none_lost(report: dict[str, Any]) -> None:
    reconciliation = report["reconciliation"]

    assert reconciliation["lost"] == 0
    for kind in ("predictions", "rejections", "labels"):
        tally = reconciliation[kind]
        assert tally["expected"] > 0, kind
        assert tally["captured"] + tally["dead_lettered"] + tally["logged"] == tally["expected"]
    assert reconciliation["internal_errors"] == 0
    assert report["verdict"] == {"ok": True, "reasons": []}


def test_the_profile_mixes_predictions_violations_and_labels(report: dict[str, Any]) -> None:
    load = report["load"]

    assert set(load["by_kind"]) == {"predict_one", "predict_batch", "invalid", "feedback"}
    assert load["by_kind"]["invalid"]["statuses"] == {"422": load["by_kind"]["invalid"]["requests"]}
    assert load["errors_by_status"] == {}
    assert load["requests_per_second"] > 0
    assert load["latency_ms"]["p50"] <= load["latency_ms"]["p95"] <= load["latency_ms"]["p99"]


def test_ramp_reports_both_targets_and_their_ratios(report: dict[str, Any]) -> None:
    ramp = report["ramp"]

    for target in ("stack", "bare"):
        steps = ramp[target]["steps"]
        assert [s["clients"] for s in steps] == [1, 4]
        assert all(s["requests"] > 0 and s["errors"] == 0 for s in steps)
        assert ramp[target]["threshold_ms"] > 0
    assert ramp["max_throughput_ratio"] is not None and ramp["single_client_p50_ratio"] is not None
