"""Rollouts on the in-memory backend: start, status, stop, promote, their record, and the sync."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from modelwatch.contracts import layout
from modelwatch.contracts.rollout import (
    DEFAULT_CANARY_STEPS,
    GuardrailCheck,
    Guardrails,
    RolloutEvaluation,
    SequentialTest,
)
from modelwatch.contracts.schema import FeatureSpec, FeatureType, InputSchema
from modelwatch.registry import (
    IllegalTransitionError,
    InMemoryRegistryBackend,
    ModelRegistry,
    NotServableError,
    RolloutError,
    RolloutStatus,
    VersionNotFoundError,
)
from modelwatch.registry.rollouts import (
    MAX_ROLLOUT_HISTORY,
    decode_rollout_history,
    read_production,
    write_production,
)
from modelwatch.registry.sync import SYNC_ACTOR, reconcile_manifests
from modelwatch.stores.artifacts import ArtifactStore
from modelwatch.stores.manifests import ManifestStore
from modelwatch.stores.objects import InMemoryStorage

from .test_promotion import SERVABLE, files

BUCKET = "models-bucket"
EVENTS = "events-bucket"
TAG = "modelwatch.rollout_history"
WIDE_SCHEMA = InputSchema(
    features=[
        FeatureSpec(name="amount", type=FeatureType.NUMBER),
        FeatureSpec(name="country", type=FeatureType.STRING),
    ]
)


@pytest.fixture
def backend() -> InMemoryRegistryBackend:
    memory = InMemoryRegistryBackend("http://mlflow.test:5000")
    for version in ("1", "2", "3"):
        memory.add_version(
            "fraud", version, {**SERVABLE, "modelwatch.stage": "development"}, files(f"v{version}")
        )
    memory.add_version("fraud", "4", {"modelwatch.model_file": "model.joblib"}, files("v4"))  # no schema
    wide = {**files("v5"), "input_schema.json": WIDE_SCHEMA.model_dump_json().encode()}
    memory.add_version("fraud", "5", {**SERVABLE, "modelwatch.stage": "development"}, wide)
    return memory


@pytest.fixture
def storage() -> InMemoryStorage:
    return InMemoryStorage()


@pytest.fixture
def registry(backend: InMemoryRegistryBackend, storage: InMemoryStorage) -> ModelRegistry:
    """Version 1 in production (its manifest published), 2 and 3 in development."""
    registry = ModelRegistry(backend=backend, models_bucket=BUCKET, storage=storage, events_bucket=EVENTS)
    registry.promote("fraud", "1", "production", force=True, actor="ana")
    return registry


def production(storage: InMemoryStorage) -> Any:
    manifest = ManifestStore(storage, BUCKET).current("fraud", "production")
    assert manifest is not None
    return manifest


def recorded(backend: InMemoryRegistryBackend) -> list[tuple[str, str, str]]:
    records = decode_rollout_history(backend.get_model("fraud").tags.get(TAG))
    return [(r.rollout_id, r.action, r.actor) for r in records]


def snapshot(storage: InMemoryStorage, backend: InMemoryRegistryBackend) -> tuple[Any, ...]:
    """Everything a refused rollout must leave as it was: every object, and the model's tags."""
    objects = {key: storage.body(BUCKET, key) for key in storage.keys(BUCKET)}
    return objects, dict(backend.get_model("fraud").tags)


def test_a_shadow_rollout_publishes_the_candidate_and_writes_the_rollout_into_production(
    registry: ModelRegistry, backend: InMemoryRegistryBackend, storage: InMemoryStorage
) -> None:
    rollout = registry.start_rollout("fraud", 2, mode="shadow", reason="try v2", actor="bo")

    manifest = production(storage)
    assert manifest.version == "1" and manifest.rollout == rollout
    assert (rollout.mode, rollout.share, rollout.state, rollout.key) == (
        "shadow",
        1.0,
        "running",
        "request_id",
    )
    assert rollout.candidate.version == "2" and rollout.production_version == "1"
    assert rollout.candidate.artifact_uri == f"s3://{BUCKET}/models/fraud/2/model.joblib"
    assert storage.body(BUCKET, "models/fraud/2/model.joblib") == files("v2")["model.joblib"]
    candidate_copy = ManifestStore(storage, BUCKET).read_version("fraud", "2")
    assert candidate_copy.version == "2" and candidate_copy.rollout is None
    assert rollout.id.startswith("fraud-2-") and len(rollout.id) == len("fraud-2-20260101T000000")
    (start,) = rollout.history
    assert (start.action, start.actor, start.reason, start.from_share, start.to_share) == (
        "start",
        "bo",
        "try v2",
        0.0,
        1.0,
    )
    assert rollout.started_by == "bo"
    assert recorded(backend) == [(rollout.id, "start", "bo")]
    assert manifest.source["registered_version"] == "1"  # the sync still finds it up to date


def test_defaults_of_ab_and_canary_and_the_accepted_forms_of_steps_guardrails_metric(
    registry: ModelRegistry,
) -> None:
    ab = registry.start_rollout("fraud", "2", mode="ab", key="header:X-Variant-Key", actor="bo")
    assert ab.share == 0.5 and ab.key == "header:x-variant-key" and ab.steps == []
    registry.stop_rollout("fraud", actor="bo")

    canary = registry.start_rollout("fraud", "2", mode="canary", actor="bo")
    assert [step.share for step in canary.steps] == list(DEFAULT_CANARY_STEPS)
    assert canary.share == DEFAULT_CANARY_STEPS[0] and canary.step == 0
    registry.stop_rollout("fraud", actor="bo")

    custom = registry.start_rollout(
        "fraud",
        "3",
        mode="canary",
        steps=[0.1, {"share": 0.5, "min_minutes": 1, "min_requests": 20}, 1.0],
        guardrails={"max_error_rate": 0.01, "max_p99_latency_ms": 80},
        metric="log_loss",
        key="feature:amount",
        alpha=0.01,
        on_candidate_error="error",
        actor="bo",
    )
    assert [(s.share, s.min_minutes, s.min_requests) for s in custom.steps] == [
        (0.1, 10.0, 200),
        (0.5, 1.0, 20),
        (1.0, 10.0, 200),
    ]
    assert custom.share == 0.1
    assert custom.guardrails == Guardrails(max_error_rate=0.01, max_p99_latency_ms=80)
    assert (custom.metric.name, custom.metric.builtin, custom.metric.higher_is_better) == (
        "log_loss",
        "log_loss",
        False,
    )
    assert (custom.alpha, custom.on_candidate_error, custom.key) == (0.01, "error", "feature:amount")


@pytest.mark.parametrize(
    ("version", "options", "error", "fragment"),
    [
        ("9", {"mode": "ab"}, VersionNotFoundError, "no version '9'"),
        ("1", {"mode": "ab"}, RolloutError, "already production"),
        ("2", {"mode": "ab", "share": 1.5}, RolloutError, "within [0, 1]"),
        ("2", {"mode": "shadow", "share": -0.1}, RolloutError, "within [0, 1]"),
        ("2", {"mode": "ab", "key": "feature:customer_id"}, RolloutError, "no feature 'customer_id'"),
        ("2", {"mode": "ab", "key": "cookie:session"}, RolloutError, "must be 'request_id'"),
        ("2", {"mode": "ab", "key": "header:"}, RolloutError, "must be 'request_id'"),
        ("2", {"mode": "blue_green"}, RolloutError, "unknown rollout mode"),
        ("2", {"mode": "ab", "steps": [0.5]}, RolloutError, "steps are for a canary"),
        ("2", {"mode": "canary", "steps": [0.5, 0.2]}, RolloutError, "must rise"),
        ("2", {"mode": "canary", "share": 0.3}, RolloutError, "first step's share"),
        ("2", {"mode": "canary", "steps": [1.5]}, RolloutError, "steps.0"),
        (
            "2",
            {"mode": "ab", "guardrails": {"max_error_rate": 2}},
            RolloutError,
            "guardrails: max_error_rate",
        ),
        ("2", {"mode": "ab", "guardrails": {"max_errors": 2}}, RolloutError, "guardrails: max_errors"),
        ("2", {"mode": "ab", "metric": "auc"}, RolloutError, "unknown rollout metric"),
        ("2", {"mode": "ab", "alpha": 0.7}, RolloutError, "alpha"),
        ("4", {"mode": "ab"}, NotServableError, "cannot be served"),
    ],
)
def test_bad_rollouts_are_refused_clearly_and_change_nothing(
    registry: ModelRegistry,
    backend: InMemoryRegistryBackend,
    storage: InMemoryStorage,
    version: str,
    options: dict[str, Any],
    error: type[Exception],
    fragment: str,
) -> None:
    before = snapshot(storage, backend)

    with pytest.raises(error) as caught:
        registry.start_rollout("fraud", version, actor="bo", **options)

    assert fragment in str(caught.value)
    assert snapshot(storage, backend) == before


def test_a_key_feature_the_candidate_lacks_is_refused_and_serving_is_unchanged(
    registry: ModelRegistry, backend: InMemoryRegistryBackend, storage: InMemoryStorage
) -> None:
    # Given production serving version 5, whose schema has a "country" the candidate's lacks
    registry.promote("fraud", "5", "production", force=True, check_serves=False)
    before = production(storage)

    with pytest.raises(RolloutError, match=r"candidate \(version 2\) input schema has no feature 'country'"):
        registry.start_rollout("fraud", "2", mode="ab", key="feature:country", check_serves=False)

    assert production(storage) == before and TAG not in backend.get_model("fraud").tags


def test_no_production_manifest_is_a_rollout_error(
    backend: InMemoryRegistryBackend, storage: InMemoryStorage
) -> None:
    registry = ModelRegistry(backend=backend, models_bucket=BUCKET, storage=storage)

    with pytest.raises(RolloutError, match="no production manifest"):
        registry.start_rollout("fraud", "2", mode="shadow")

    assert storage.keys(BUCKET) == []


def test_a_second_rollout_is_refused_while_one_runs_and_replaces_a_finished_one(
    registry: ModelRegistry, backend: InMemoryRegistryBackend, storage: InMemoryStorage
) -> None:
    first = registry.start_rollout("fraud", "2", mode="ab", actor="bo")
    before = snapshot(storage, backend)

    with pytest.raises(RolloutError, match=f"already has a running rollout {first.id}"):
        registry.start_rollout("fraud", "3", mode="shadow", actor="bo")
    assert snapshot(storage, backend) == before

    registry.stop_rollout("fraud", reason="enough", actor="cy")
    second = registry.start_rollout("fraud", "3", mode="shadow", actor="bo")

    assert production(storage).rollout == second and second.id != first.id
    assert recorded(backend) == [
        (first.id, "start", "bo"),
        (first.id, "stop", "cy"),
        (second.id, "start", "bo"),
    ]


def test_stop_sets_share_zero_keeps_the_record_and_refuses_twice(
    registry: ModelRegistry, backend: InMemoryRegistryBackend, storage: InMemoryStorage
) -> None:
    with pytest.raises(RolloutError, match="no rollout to stop"):
        registry.stop_rollout("fraud")
    started = registry.start_rollout("fraud", "2", mode="canary", actor="bo")

    stopped = registry.stop_rollout("fraud", reason="latency looks off", actor="cy")

    assert (stopped.share, stopped.state, stopped.reason) == (0.0, "stopped", "latency looks off")
    assert not stopped.active
    assert production(storage).rollout == stopped and production(storage).version == "1"
    last = stopped.history[-1]
    assert (last.action, last.actor, last.from_share, last.to_share) == ("stop", "cy", started.share, 0.0)
    assert recorded(backend)[-1] == (started.id, "stop", "cy")
    with pytest.raises(RolloutError, match="already stopped"):
        registry.stop_rollout("fraud")


def test_promote_rollout_goes_through_the_stages_and_records_the_promotion(
    registry: ModelRegistry, backend: InMemoryRegistryBackend, storage: InMemoryStorage
) -> None:
    rollout = registry.start_rollout("fraud", "2", mode="ab", actor="bo")

    # The candidate is in development: production needs staging first
    with pytest.raises(IllegalTransitionError, match="staging first"):
        registry.promote_rollout("fraud", actor="cy")
    assert production(storage).rollout == rollout

    registry.promote("fraud", "2", "staging", actor="cy")
    result = registry.promote_rollout("fraud", reason="better on every test", actor="cy")

    manifest = production(storage)
    assert manifest.version == "2" and manifest.rollout is None
    assert result.version == "2" and result.displaced_version == "1"
    assert result.transition.reason == "better on every test"
    assert result.rollout is not None and result.rollout.state == "promoted"
    assert result.rollout.history[-1].action == "promote" and result.rollout.history[-1].to_share == 1.0
    assert recorded(backend) == [(rollout.id, "start", "bo"), (rollout.id, "promote", "cy")]
    assert backend.get_version("fraud", "1").tags["modelwatch.stage"] == "archived"
    with pytest.raises(RolloutError, match="no rollout to promote"):
        registry.promote_rollout("fraud")


def test_promote_rollout_of_a_development_candidate_with_force(
    registry: ModelRegistry, storage: InMemoryStorage
) -> None:
    registry.start_rollout("fraud", "2", mode="shadow", actor="bo")

    result = registry.promote_rollout("fraud", force=True, actor="cy")

    assert result.transition.forced and production(storage).version == "2"


def test_promoting_another_version_stops_the_running_rollout_with_the_reason(
    registry: ModelRegistry, backend: InMemoryRegistryBackend, storage: InMemoryStorage
) -> None:
    rollout = registry.start_rollout("fraud", "2", mode="ab", actor="bo")

    result = registry.promote("fraud", "3", "production", force=True, actor="cy")

    assert production(storage).version == "3" and production(storage).rollout is None
    assert result.rollout is not None and result.rollout.state == "stopped"
    (record,) = [
        r for r in decode_rollout_history(backend.get_model("fraud").tags[TAG]) if r.action == "stop"
    ]
    assert (record.rollout_id, record.actor, record.reason, record.state) == (
        rollout.id,
        "cy",
        "production changed to version 3",
        "stopped",
    )


def test_the_history_keeps_the_rollout_jobs_transitions_and_is_bounded(
    registry: ModelRegistry, backend: InMemoryRegistryBackend, storage: InMemoryStorage
) -> None:
    rollout = registry.start_rollout("fraud", "2", mode="canary", actor="bo")
    # The rollout job advances the canary by rewriting the manifest (no MLflow)
    manifests = ManifestStore(storage, BUCKET)
    manifest, etag = read_production(manifests, "fraud")
    advanced = rollout.with_transition("advance", "modelwatch-rollout-job", "step held", share=0.25, step=1)
    write_production(manifests, manifest.model_copy(update={"rollout": advanced}), etag)

    assert [(r.action, r.actor) for r in registry.rollout_history("fraud")] == [
        ("start", "bo"),
        ("advance", "modelwatch-rollout-job"),
    ]
    registry.stop_rollout("fraud", actor="cy")
    assert [action for _, action, _ in recorded(backend)] == ["start", "advance", "stop"]

    for _ in range(MAX_ROLLOUT_HISTORY):
        registry.start_rollout("fraud", "3", mode="shadow", actor="bo")
        registry.stop_rollout("fraud", actor="bo")
    records = decode_rollout_history(backend.get_model("fraud").tags[TAG])
    assert len(records) == MAX_ROLLOUT_HISTORY
    assert records[-1].action == "stop" and all(r.candidate_version == "3" for r in records)
    assert len({r.rollout_id for r in records}) == MAX_ROLLOUT_HISTORY // 2  # every start its own id


def test_a_change_made_since_the_manifest_was_read_is_not_overwritten(
    registry: ModelRegistry, storage: InMemoryStorage
) -> None:
    rollout = registry.start_rollout("fraud", "2", mode="ab", actor="bo")
    manifests = ManifestStore(storage, BUCKET)
    manifest, etag = read_production(manifests, "fraud")
    rolled_back = rollout.with_transition("rollback", "job", "error rate", share=0.0, state="rolled_back")
    manifests.write(manifest.model_copy(update={"rollout": rolled_back}))  # the job got there first

    stale = rollout.with_transition("stop", "cy", "", share=0.0, state="stopped")
    with pytest.raises(RolloutError, match="changed while"):
        write_production(manifests, manifest.model_copy(update={"rollout": stale}), etag)

    assert production(storage).rollout == rolled_back


def test_a_rolled_back_candidate_is_promoted_only_with_force(
    registry: ModelRegistry, storage: InMemoryStorage
) -> None:
    rollout = registry.start_rollout("fraud", "2", mode="ab", actor="bo")
    manifests = ManifestStore(storage, BUCKET)
    manifest, etag = read_production(manifests, "fraud")
    rolled_back = rollout.with_transition("rollback", "job", "error rate", share=0.0, state="rolled_back")
    write_production(manifests, manifest.model_copy(update={"rollout": rolled_back}), etag)

    with pytest.raises(RolloutError, match="rolled back"):
        registry.promote_rollout("fraud")
    with pytest.raises(RolloutError, match="already rolled back"):
        registry.stop_rollout("fraud")

    assert registry.promote_rollout("fraud", force=True).version == "2"


# --- status ---------------------------------------------------------------------------------------


def evaluation(rollout_id: str) -> RolloutEvaluation:
    return RolloutEvaluation(
        rollout_id=rollout_id,
        mode="ab",
        candidate_version="2",
        production_version="1",
        action="hold",
        share_before=0.5,
        share_after=0.5,
        state_after="running",
        tests={
            "error_rate": SequentialTest(
                quantity="error_rate", estimate=0.01, low=-0.02, high=0.04, n_candidate=120, n_production=118
            )
        },
        guardrails=[GuardrailCheck(name="error_rate", state="ok", value=0.01, limit=0.05)],
        windows=3,
    )


def put_evidence(storage: InMemoryStorage, rollout_id: str, body: bytes) -> None:
    storage.put(EVENTS, layout.rollout_evidence_key("fraud", rollout_id), body, "application/json")


def test_status_has_the_rollout_and_the_rollout_jobs_latest_evaluation(
    registry: ModelRegistry, storage: InMemoryStorage
) -> None:
    assert registry.rollout_status("fraud") == RolloutStatus(model="fraud", production_version="1")
    rollout = registry.start_rollout("fraud", "2", mode="ab", actor="bo")

    before_any = registry.rollout_status("fraud")
    assert before_any.rollout == rollout and before_any.evaluation is None and before_any.note == ""
    assert before_any.evaluation_uri == f"s3://{EVENTS}/state/rollouts/fraud/{rollout.id}.json"

    latest = evaluation(rollout.id)
    document = {"latest": latest.model_dump(mode="json"), "windows": {"w1": {"anything": 1}}}
    put_evidence(storage, rollout.id, json.dumps(document).encode())
    assert registry.rollout_status("fraud").evaluation == latest

    put_evidence(storage, rollout.id, b"{not json")
    unreadable = registry.rollout_status("fraud")
    assert unreadable.evaluation is None and "not JSON" in unreadable.note
    put_evidence(storage, rollout.id, json.dumps({"latest": {"rollout_id": 1}}).encode())
    assert "unreadable" in registry.rollout_status("fraud").note
    put_evidence(storage, rollout.id, json.dumps({"windows": {}}).encode())
    assert registry.rollout_status("fraud").evaluation is None


def test_status_takes_the_events_bucket_from_the_environment(
    backend: InMemoryRegistryBackend, storage: InMemoryStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELWATCH_EVENTS_BUCKET", "from-env")
    registry = ModelRegistry(backend=backend, models_bucket=BUCKET, storage=storage)
    registry.promote("fraud", "1", "production", force=True)
    rollout = registry.start_rollout("fraud", "2", mode="shadow")
    latest = evaluation(rollout.id)
    storage.put(
        "from-env",
        layout.rollout_evidence_key("fraud", rollout.id),
        json.dumps({"latest": latest.model_dump(mode="json")}).encode(),
    )

    assert registry.rollout_status("fraud").evaluation == latest
    assert registry.rollout_status("fraud", events_bucket="elsewhere").evaluation is None


# --- the sync -------------------------------------------------------------------------------------


def sync(backend: InMemoryRegistryBackend, storage: InMemoryStorage) -> dict[str, str]:
    report = reconcile_manifests(backend, ManifestStore(storage, BUCKET), ArtifactStore(storage))
    return {action.alias: action.action for action in report.actions}


def test_the_sync_keeps_a_running_rollout_on_an_up_to_date_manifest(
    registry: ModelRegistry, backend: InMemoryRegistryBackend, storage: InMemoryStorage
) -> None:
    rollout = registry.start_rollout("fraud", "2", mode="ab", actor="bo")

    assert sync(backend, storage)["production"] == "unchanged"
    assert production(storage).rollout == rollout


def test_the_sync_republishing_the_same_version_keeps_its_rollout(
    registry: ModelRegistry, backend: InMemoryRegistryBackend, storage: InMemoryStorage
) -> None:
    rollout = registry.start_rollout("fraud", "2", mode="ab", actor="bo")
    manifests = ManifestStore(storage, BUCKET)
    manifest, etag = read_production(manifests, "fraud")
    foreign = manifest.model_copy(update={"source": {"publisher": "modelwatch publish"}})
    write_production(manifests, foreign, etag)  # published by hand: the sync republishes it

    assert sync(backend, storage)["production"] == "published"
    assert production(storage).rollout == rollout
    assert production(storage).source["publisher"] == "modelwatch registry"


@pytest.mark.parametrize(
    ("moved_to", "action", "state"), [("3", "stop", "stopped"), ("2", "promote", "promoted")]
)
def test_the_sync_publishing_a_new_production_version_ends_the_rollout(
    registry: ModelRegistry,
    backend: InMemoryRegistryBackend,
    storage: InMemoryStorage,
    moved_to: str,
    action: str,
    state: str,
) -> None:
    rollout = registry.start_rollout("fraud", "2", mode="ab", actor="bo")
    backend.set_alias("fraud", "production", moved_to)  # in the MLflow UI

    assert sync(backend, storage)["production"] == "published"

    assert production(storage).version == moved_to and production(storage).rollout is None
    last = decode_rollout_history(backend.get_model("fraud").tags[TAG])[-1]
    assert (last.rollout_id, last.action, last.state, last.actor) == (rollout.id, action, state, SYNC_ACTOR)
    assert "found by the registry sync" in last.reason
    assert sync(backend, storage)["production"] == "unchanged"
    assert len(decode_rollout_history(backend.get_model("fraud").tags[TAG])) == 2


def test_rollout_ids_are_utc_and_unique_per_start() -> None:
    from modelwatch.registry.rollouts import rollout_id

    at = datetime(2026, 12, 2, 6, 5, 4, tzinfo=UTC)
    assert rollout_id("fraud", "2", at) == "fraud-2-20261202T060504"
    taken = {"fraud-2-20261202T060504", "fraud-2-20261202T060504-2"}
    assert rollout_id("fraud", "2", at, taken) == "fraud-2-20261202T060504-3"


def test_stop_works_with_mlflow_down_and_the_record_catches_up(
    registry: ModelRegistry, backend: InMemoryRegistryBackend, storage: InMemoryStorage
) -> None:
    first = registry.start_rollout("fraud", "2", mode="ab", actor="bo")
    backend.down = True

    stopped = registry.stop_rollout("fraud", reason="incident", actor="cy")

    assert production(storage).rollout == stopped and not stopped.active
    backend.down = False
    assert recorded(backend) == [(first.id, "start", "bo")]
    second = registry.start_rollout("fraud", "3", mode="shadow", actor="bo")
    assert recorded(backend) == [
        (first.id, "start", "bo"),
        (first.id, "stop", "cy"),
        (second.id, "start", "bo"),
    ]


def test_start_with_mlflow_down_changes_nothing(
    registry: ModelRegistry, backend: InMemoryRegistryBackend, storage: InMemoryStorage
) -> None:
    from modelwatch.registry import TrackingServerUnavailable

    before = snapshot(storage, backend)
    backend.down = True

    with pytest.raises(TrackingServerUnavailable):
        registry.start_rollout("fraud", "2", mode="ab")

    backend.down = False
    assert snapshot(storage, backend) == before
