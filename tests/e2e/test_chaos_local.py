"""``make chaos`` in its short form: every experiment under load, its verdict, and nothing lost.

An experiment that finds a known library defect fails its verdict on purpose (``known_defect``
names it); the run still ends well, and this test insists the defect is still found, so fixing
it makes this test say so. The long form: ``make chaos CHAOS_ARGS="--duration 30 --after 20"``.
"""

from __future__ import annotations

import shutil
from typing import Any

import pytest
from modelwatch_local.chaos.experiments import EXPERIMENTS
from modelwatch_local.chaos.run import ChaosOptions, run_chaos

pytestmark = pytest.mark.skipif(
    shutil.which("prometheus") is None, reason="prometheus is not installed (apt-get install prometheus)"
)

# The defects the experiments find in the library and that are not fixed yet (docs/reliability.md).
# The one they found first, a failed promotion switching serving anyway, is fixed: none is left.
KNOWN_DEFECTS: dict[str, str] = {}


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    state = tmp_path_factory.mktemp("chaos")
    options = ChaosOptions(
        duration=2.0,
        warmup=1.0,
        after=3.0,
        users=3,
        user_rate=4.0,
        report=state / "report.json",
        state_dir=state,
    )
    return run_chaos(options)


def test_every_experiment_ran_under_load(report: dict[str, Any]) -> None:
    names = [e["name"] for e in report["experiments"]]

    assert names == [make().name for make in EXPERIMENTS]
    for experiment in report["experiments"]:
        assert experiment["requests"]["served"] > 0, experiment["name"]
        assert experiment["hypothesis"] and experiment["fault"] and experiment["checks"]


def test_no_event_was_lost_in_any_experiment(report: dict[str, Any]) -> None:
    assert report["events"]["lost"] == 0
    assert report["summary"]["lost"] == 0
    for experiment in report["experiments"]:
        assert experiment["events"]["lost"] == 0, experiment["name"]
        assert experiment["events"]["internal_errors"] == 0, experiment["name"]


def test_verdicts_pass_but_for_the_known_defects(report: dict[str, Any]) -> None:
    verdicts = {e["name"]: e for e in report["experiments"]}
    failed = {
        name: [c["check"] for c in e["checks"] if not c["ok"]]
        for name, e in verdicts.items()
        if e["verdict"] != "passed"
    }

    assert failed == {name: [check] for name, check in KNOWN_DEFECTS.items()}
    assert report["summary"]["failed_unexpectedly"] == []
    for name in KNOWN_DEFECTS:
        assert "known_defect" in verdicts[name]


def test_callers_never_saw_a_5xx_and_serving_recovered(report: dict[str, Any]) -> None:
    for experiment in report["experiments"]:
        statuses = experiment["requests"]["by_status"]
        assert not [s for s in statuses if s.startswith("5") or s == "0"], experiment["name"]
        assert experiment["serving_recovery_seconds"] is not None, experiment["name"]


def test_the_hung_and_killed_capture_were_seen_by_health_and_the_log(report: dict[str, Any]) -> None:
    verdicts = {e["name"]: e for e in report["experiments"]}

    killed = verdicts["capture-killed"]["events"]
    assert (
        sum(killed[k]["dead_lettered"] + killed[k]["logged"] for k in ("predictions", "rejections", "labels"))
        > 0
    )
    assert verdicts["corrupt-artifact"]["health"]["during"]
    assert any(
        "failed=12:artifact_unloadable" in text for text in verdicts["corrupt-artifact"]["health"]["during"]
    )
