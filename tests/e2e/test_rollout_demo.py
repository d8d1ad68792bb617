"""The demo's rollout phase over real HTTP: shadow, a canary promoted, a broken version rolled back.

One local stack of its own (moto_server, the API under uvicorn, Prometheus, MLflow) on free
ports; a production version registered and promoted; then the very phase ``make demo`` runs
(:func:`modelwatch_local.rollout_demo.run_rollout_demo`, with less traffic). The assertions
read what the API answered, what it captured (SQL over the bucket), the registry's rollout
document, the platform bus and the local Prometheus.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from modelwatch_local.dashboard_queries import dashboard_queries
from modelwatch_local.fraud import FRAUD_SCHEMA, save_model, synthetic_transactions, train_fraud_model
from modelwatch_local.paths import DASHBOARDS_DIR, lake_dir
from modelwatch_local.prometheus_server import PrometheusError
from modelwatch_local.rollout_demo import CANARY_STEPS, ROLLED_BACK, RolloutDemoResult, run_rollout_demo
from modelwatch_local.scheduler import EXPORT_EVERY_SECONDS, LocalScheduler
from modelwatch_local.stack import EVENTS_BUCKET, MODELS_BUCKET, LocalStack, start_stack, stop_stack

from modelwatch.contracts.rollout import assigned_variant
from modelwatch.monitoring.rollout_decisions import JOB_ACTOR
from modelwatch.registry import ModelRegistry
from modelwatch.stores.sql import DuckDBEngine, ObjectLake, Query, TableScan
from tests.e2e.conftest import MODEL, free_port

ROLLOUT_DASHBOARD = DASHBOARDS_DIR / "rollout.json"
BROKEN_VERSION_ERROR = "is_foreign: found unknown categories"  # what ForeignCardBug raises


@dataclass
class RolloutRun:
    stack: LocalStack
    scheduler: LocalScheduler
    registry: ModelRegistry
    result: RolloutDemoResult
    lines: list[str]
    captured: dict[str, dict[str, int]]  # by phase: what serving captured of its requests


def captured_by_variant(stack: LocalStack, prefix: str, since: datetime) -> dict[str, int]:
    """Predictions and candidate failures of the requests whose id starts with ``prefix``, read back
    with the platform's SQL (DuckDB over the local bucket, where AWS has Athena).

    Keys: ``"<variant> served"``, ``"<variant> shadow"`` (prediction events, ``served`` false) and
    ``"candidate failed"`` (rejected records of reason ``candidate_failed``).
    """
    stack.wait_for_capture()
    stack.partition_deliveries()
    lake = lake_dir(stack.state_dir)
    engine = DuckDBEngine(lake, lake=ObjectLake(stack.storage(), EVENTS_BUCKET, lake))
    until = datetime.now(UTC) + timedelta(minutes=1)
    where = f"model = '{MODEL}' AND request_id LIKE '{prefix}-%'"
    events = engine.run(
        Query(
            sql=f"SELECT variant, served, count(*) AS n FROM events WHERE {where} GROUP BY variant, served",
            description="e2e: predictions by variant",
            scans=(TableScan("events", MODEL, since, until),),
        )
    )
    rejected = engine.run(
        Query(
            sql=f"SELECT count(*) AS n FROM rejected WHERE {where} AND reason = 'candidate_failed'",
            description="e2e: requests the candidate failed",
            scans=(TableScan("rejected", MODEL, since, until),),
        )
    )
    counts = {f"{r['variant']} {'served' if r['served'] else 'shadow'}": int(r["n"]) for r in events.rows}
    if rejected.rows and rejected.rows[0]["n"]:
        counts["candidate failed"] = int(rejected.rows[0]["n"])
    return counts


def _register_production(stack: LocalStack, registry: ModelRegistry) -> str:
    trained = train_fraud_model(n=4000, seed=0, n_estimators=30)
    path = save_model(trained, Path(stack.state_dir) / "production.joblib")
    rows, _ = synthetic_transactions(2000, seed=0)
    uri = registry.register_model(
        model_path=str(path),
        name=MODEL,
        flavor="sklearn",
        prediction_type="probability",
        input_schema=FRAUD_SCHEMA,
        training_data={name: [row[name] for row in rows] for name in FRAUD_SCHEMA.feature_names},
        metrics={"auc": trained.auc},
    )
    version = uri.rsplit("/", 1)[-1]
    registry.promote(MODEL, version, "staging", reason="e2e")
    registry.promote(MODEL, version, "production", reason="e2e")
    return version


@pytest.fixture(scope="module")
def rollout_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RolloutRun]:
    patch = pytest.MonkeyPatch()
    patch.setenv("MODELWATCH_MANIFEST_TTL_SECONDS", "1")  # serving follows each change within a second
    saved = dict(os.environ)  # the scheduler loads the handlers' settings into os.environ, as cold starts do
    state = tmp_path_factory.mktemp("rollout-stack")
    stack = start_stack(
        [MODEL],
        state_dir=state,
        moto_port=free_port(),
        api_port=free_port(),
        prometheus_port=free_port(),
        mlflow_port=free_port(),
    )
    try:
        scheduler = LocalScheduler(stack)
        registry = ModelRegistry(
            stack.mlflow_url,
            models_bucket=MODELS_BUCKET,
            events_bucket=EVENTS_BUCKET,
            storage=stack.storage(),
        )
        _register_production(stack, registry)
        lines: list[str] = []
        result = run_rollout_demo(
            stack, scheduler, stack.mlflow_url, lines.append, requests_per_round=100, shadow_requests=150
        )
        captured = {
            phase.name: captured_by_variant(stack, phase.prefix, phase.window_start)
            for phase in (result.shadow, result.canary, result.rollback)
            if phase is not None
        }
        scheduler.export_metrics()
        yield RolloutRun(stack, scheduler, registry, result, lines, captured)
    finally:
        stop_stack(stack)
        patch.undo()
        os.environ.clear()
        os.environ.update(saved)
    # The broken version's failures are logged with their traceback, by design; nothing else may be.
    log = stack.log_file("api")
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    unexpected = [line for line in lines if "Traceback" in line and BROKEN_VERSION_ERROR not in line]
    if unexpected:
        pytest.fail("api.log of the rollout stack holds a traceback:\n" + "\n".join(unexpected)[-3000:])


def test_the_phase_shows_what_it_is_for(rollout_run: RolloutRun) -> None:
    assert rollout_run.result.ok, "\n".join(rollout_run.lines)


def test_shadow_answers_with_production_and_captures_the_candidate_beside_it(rollout_run: RolloutRun) -> None:
    shadow = rollout_run.result.shadow
    assert shadow is not None

    answered = shadow.traffic.variants
    captured = rollout_run.captured["shadow"]

    assert set(answered) == {"production"} and answered["production"] == len(shadow.traffic.requests)
    assert shadow.traffic.versions == {rollout_run.result.production_version: len(shadow.traffic.requests)}
    # every production prediction has its shadow twin (same request id and index), scored after the answer
    assert captured.get("candidate shadow", 0) > 0
    assert "candidate served" not in captured
    assert captured["candidate shadow"] == captured["production served"]
    evaluation = shadow.last
    assert evaluation is not None and evaluation.mode == "shadow"
    assert evaluation.agreement.pairs > 0
    assert evaluation.totals["candidate"].requests > 0


def test_canary_routes_by_the_hash_of_the_request_id_and_climbs_every_step(rollout_run: RolloutRun) -> None:
    canary = rollout_run.result.canary
    assert canary is not None

    assert sorted(set(canary.shares)) == [step.share for step in CANARY_STEPS]
    assert canary.final_state == "promoted"
    answered = canary.traffic.variants
    assert answered["candidate"] > 0 and answered["production"] > 0
    # every answer names the variant the assignment hash gives its request id at that round's share
    for request in canary.traffic.requests:
        assert request.variant == assigned_variant(canary.rollout.id, request.request_id, request.share)
    # and the captured predictions carry their variant, all served (no shadow in a canary)
    captured = rollout_run.captured["canary"]
    assert captured.get("candidate served", 0) > 0 and captured.get("production served", 0) > 0
    assert "candidate shadow" not in captured
    # the first step held until it had its minimum of candidate requests, then advanced
    actions = [evaluation.action for evaluation in canary.evaluations]
    assert actions[0] == "hold" and "advance" in actions and actions[-1] == "hold"


def test_canary_decision_is_always_valid_with_its_interval_and_sample_sizes(rollout_run: RolloutRun) -> None:
    canary = rollout_run.result.canary
    assert canary is not None and canary.last is not None
    tests = canary.last.tests

    assert {"error_rate", "latency_ms", "accuracy"} <= set(tests)
    accuracy = tests["accuracy"]
    assert accuracy.n_candidate > 0 and accuracy.n_production > 0
    assert accuracy.low is not None and accuracy.high is not None and accuracy.low <= accuracy.high
    assert accuracy.decision in {"candidate better", "candidate worse", "no difference yet"}
    text = "\n".join(rollout_run.lines)
    assert (
        "always-valid comparison" in text and f"n {accuracy.n_candidate} vs {accuracy.n_production}" in text
    )


def test_the_broken_version_is_rolled_back_by_its_error_guardrail(rollout_run: RolloutRun) -> None:
    rollback = rollout_run.result.rollback
    assert rollback is not None and rollback.last is not None

    status = rollout_run.registry.rollout_status(MODEL)

    assert rollback.last.action == "rollback"
    assert [check.name for check in rollback.last.breached] == ["error_rate"]
    assert status.rollout is not None and status.rollout.id == rollback.rollout.id
    assert status.rollout.state == "rolled_back" and status.rollout.share == 0.0
    last = status.rollout.history[-1]
    assert last.action == "rollback" and last.actor == JOB_ACTOR and "error_rate" in last.reason
    # the requests it failed were answered by production (200) and captured as candidate failures
    assert rollback.traffic.failed == 0
    failed = rollout_run.captured["rollback"].get("candidate failed", 0)
    assert failed == rollback.last.totals["candidate"].errors > 0


def test_the_rollback_reaches_the_bus_and_traffic_goes_back_to_production(rollout_run: RolloutRun) -> None:
    result = rollout_run.result
    rolled_back = [alert for alert in result.alerts if alert["detail-type"] == ROLLED_BACK]

    assert len(rolled_back) == 1
    assert rolled_back[0]["source"] == "modelwatch" and rolled_back[0]["detail"]["model"] == MODEL
    assert set(result.after_rollback.variants) == {"production"}
    # production is the version the canary promoted
    assert set(result.after_rollback.versions) == {result.candidate_version}


def test_rollout_dashboard_queries_are_valid_against_the_local_prometheus(rollout_run: RolloutRun) -> None:
    prometheus = rollout_run.stack.prometheus()
    assert prometheus is not None
    rollout_run.scheduler.export_metrics()
    time.sleep(2 * EXPORT_EVERY_SECONDS)
    rollout_run.scheduler.export_metrics()
    uid = json.loads(ROLLOUT_DASHBOARD.read_text())["uid"]
    queries = [query for query in dashboard_queries(DASHBOARDS_DIR) if query.dashboard == uid]

    invalid, with_data = [], 0
    for query in queries:
        try:
            with_data += bool(prometheus.query(query.promql(MODEL)))
        except PrometheusError as error:
            invalid.append(f"{query.title}: {error}")

    assert queries
    assert invalid == []
    assert with_data > 0  # the rollout job's figures reached Prometheus by remote write
