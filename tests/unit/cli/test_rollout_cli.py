"""``modelwatch rollout start|status|promote|stop`` on the in-memory registry; bad input: one line, exit 2."""

from __future__ import annotations

import json
from typing import Any

import pytest

from modelwatch import registry as registry_package
from modelwatch.cli import main
from modelwatch.cli.errors import EXIT_USAGE
from modelwatch.contracts import layout
from modelwatch.contracts.rollout import GuardrailCheck, RolloutEvaluation, SequentialTest, VariantTotals
from modelwatch.registry import InMemoryRegistryBackend, ModelRegistry
from modelwatch.stores.manifests import ManifestStore
from modelwatch.stores.objects import InMemoryStorage
from tests.unit.cli.test_cli import assert_one_error_line
from tests.unit.registry.test_promotion import SERVABLE, files

BUCKET = "models-bucket"
EVENTS = "events-bucket"
CONNECT = ["--tracking-uri", "http://mlflow.test:5000", "--bucket", BUCKET]


class Registries:
    """Stands in for ``ModelRegistry`` in the CLI: the in-memory registry, and what the CLI asked for."""

    def __init__(self, backend: InMemoryRegistryBackend, storage: InMemoryStorage) -> None:
        self.backend = backend
        self.storage = storage
        self.asked: list[dict[str, Any]] = []

    def __call__(self, **options: Any) -> ModelRegistry:
        self.asked.append(options)
        return ModelRegistry(
            backend=self.backend,
            storage=self.storage,
            models_bucket=options["models_bucket"],
            events_bucket=options.get("events_bucket"),
        )


@pytest.fixture
def storage() -> InMemoryStorage:
    return InMemoryStorage()


@pytest.fixture
def backend(storage: InMemoryStorage) -> InMemoryRegistryBackend:
    memory = InMemoryRegistryBackend("http://mlflow.test:5000")
    for version in ("1", "2", "3"):
        memory.add_version(
            "fraud", version, {**SERVABLE, "modelwatch.stage": "development"}, files(f"v{version}")
        )
    ModelRegistry(backend=memory, storage=storage, models_bucket=BUCKET).promote(
        "fraud", "1", "production", force=True
    )
    return memory


@pytest.fixture
def registries(
    backend: InMemoryRegistryBackend, storage: InMemoryStorage, monkeypatch: pytest.MonkeyPatch
) -> Registries:
    fake = Registries(backend, storage)
    monkeypatch.setattr(registry_package, "ModelRegistry", fake)
    return fake


def rollout_in(storage: InMemoryStorage) -> Any:
    manifest = ManifestStore(storage, BUCKET).current("fraud", "production")
    assert manifest is not None
    return manifest.rollout


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_start_a_canary_with_guardrails_and_steps(
    registries: Registries, storage: InMemoryStorage, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        capsys,
        "rollout",
        "start",
        "fraud",
        "2",
        "--mode",
        "canary",
        "--steps",
        "0.1,0.5,1",
        "--step-minutes",
        "5",
        "--step-requests",
        "50",
        "--max-error-rate",
        "0.02",
        "--max-p99-ms",
        "120",
        "--max-latency-ratio",
        "1.5",
        "--max-drift",
        "0.1",
        "--metric",
        "log_loss",
        "--key",
        "header:x-variant-key",
        "--reason",
        "new features",
        "--actor",
        "ana",
        *CONNECT,
    )

    assert (code, err) == (0, "")
    rollout = rollout_in(storage)
    assert f"rollout {rollout.id} started" in out and "canary at 10%" in out
    assert [(s.share, s.min_minutes, s.min_requests) for s in rollout.steps] == [
        (0.1, 5.0, 50),
        (0.5, 5.0, 50),
        (1.0, 5.0, 50),
    ]
    rails = rollout.guardrails
    assert (rails.max_error_rate, rails.max_p99_latency_ms, rails.max_latency_ratio) == (0.02, 120, 1.5)
    assert rails.max_prediction_drift == 0.1 and rails.metric_worse
    assert (rollout.metric.builtin, rollout.metric.higher_is_better) == ("log_loss", False)
    assert rollout.key == "header:x-variant-key"
    assert (rollout.history[0].actor, rollout.reason) == ("ana", "new features")
    assert registries.asked[-1]["models_bucket"] == BUCKET
    assert registries.asked[-1]["tracking_uri"] == "http://mlflow.test:5000"


def test_start_with_an_expression_metric_prints_json(
    registries: Registries, storage: InMemoryStorage, capsys: pytest.CaptureFixture[str]
) -> None:
    expression = "CASE WHEN prediction >= 0.5 AND label = 0 THEN -5 ELSE 0 END"
    code, out, _ = run(
        capsys,
        "rollout",
        "start",
        "fraud",
        "2",
        "--mode",
        "ab",
        "--share",
        "0.2",
        "--metric",
        "cost",
        "--metric-expression",
        expression,
        "--higher-is-better",
        "--json",
        *CONNECT,
    )

    assert code == 0
    printed = json.loads(out)
    assert printed == rollout_in(storage).model_dump(mode="json")
    assert (printed["share"], printed["metric"]["name"], printed["metric"]["expression"]) == (
        0.2,
        "cost",
        expression,
    )
    assert printed["metric"]["higher_is_better"] is True and printed["metric"]["builtin"] is None


def evaluation(rollout_id: str) -> RolloutEvaluation:
    return RolloutEvaluation(
        rollout_id=rollout_id,
        mode="shadow",
        candidate_version="2",
        production_version="1",
        action="hold",
        reason="holding",
        share_before=1.0,
        share_after=1.0,
        state_after="running",
        tests={
            "latency_ms": SequentialTest(
                quantity="latency_ms",
                estimate=-1.25,
                low=-2.5,
                high=-0.5,
                decision="candidate better",
                n_candidate=4321,
                n_production=4300,
            )
        },
        guardrails=[
            GuardrailCheck(name="error_rate", state="ok", value=0.003, limit=0.05, detail="fine"),
            GuardrailCheck(name="latency_ratio", state="breached", value=2.7, limit=2.0, detail="slow"),
        ],
        totals={
            "production": VariantTotals(version="1", requests=4300, errors=2, error_rate=2 / 4300),
            "candidate": VariantTotals(version="2", requests=4321, errors=13, error_rate=0.003),
        },
        windows=4,
    )


def test_status_shows_the_rollout_guardrails_and_tests(
    registries: Registries, storage: InMemoryStorage, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        run(capsys, "rollout", "status", "fraud", *CONNECT)[1].strip()
        == "fraud: no rollout (production: version 1)"
    )
    run(capsys, "rollout", "start", "fraud", "2", "--mode", "shadow", *CONNECT)
    rollout = rollout_in(storage)

    code, waiting, _ = run(capsys, "rollout", "status", "fraud", *CONNECT, "--events-bucket", EVENTS)
    assert code == 0 and "none yet" in waiting and rollout.id in waiting

    body = json.dumps({"latest": evaluation(rollout.id).model_dump(mode="json")}).encode()
    storage.put(EVENTS, layout.rollout_evidence_key("fraud", rollout.id), body)
    code, out, err = run(capsys, "rollout", "status", "fraud", *CONNECT, "--events-bucket", EVENTS)

    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert any(line.split()[:2] == ["mode", "shadow"] for line in lines)
    assert any(line.split()[:2] == ["share", "100%"] for line in lines)
    assert any(line.split()[:2] == ["state", "running"] for line in lines)
    (latency,) = [line for line in lines if line.startswith("latency_ms")]
    assert latency.split() == [
        "latency_ms",
        "-1.25",
        "[-2.5,",
        "-0.5]",
        "candidate",
        "better",
        "4321",
        "4300",
    ]
    (ratio,) = [line for line in lines if line.startswith("latency_ratio")]
    assert ratio.split()[:4] == ["latency_ratio", "2", "breached", "2.7"]
    (candidate,) = [line for line in lines if line.split()[:2] == ["candidate", "2"]]
    assert candidate.split()[:5] == ["candidate", "2", "4321", "13", "0.003"]
    (drift,) = [line for line in lines if line.startswith("prediction_drift")]
    assert drift.split()[:3] == ["prediction_drift", "0.25", "waiting"]

    code, out, _ = run(capsys, "rollout", "status", "fraud", "--json", *CONNECT, "--events-bucket", EVENTS)
    assert json.loads(out)["evaluation"] == evaluation(rollout.id).model_dump(mode="json")


def test_stop_then_promote(
    registries: Registries,
    backend: InMemoryRegistryBackend,
    storage: InMemoryStorage,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run(capsys, "rollout", "start", "fraud", "2", "--mode", "ab", *CONNECT)
    rollout_id = rollout_in(storage).id

    code, out, _ = run(capsys, "rollout", "stop", "fraud", "--reason", "weekend", "--actor", "bo", *CONNECT)
    assert code == 0 and f"rollout {rollout_id} stopped" in out
    stopped = rollout_in(storage)
    assert (stopped.state, stopped.share, stopped.reason) == ("stopped", 0.0, "weekend")

    code, out, _ = run(capsys, "rollout", "promote", "fraud", "--force", "--reason", "good", *CONNECT)
    assert code == 0 and "version 2 promoted to production" in out and rollout_id in out
    manifest = ManifestStore(storage, BUCKET).current("fraud", "production")
    assert manifest is not None and manifest.version == "2" and manifest.rollout is None
    assert backend.get_model("fraud").aliases["production"] == "2"


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["start", "fraud", "9", "--mode", "ab"], "no version '9'"),
        (["start", "fraud", "1", "--mode", "ab"], "already production"),
        (["start", "fraud", "2", "--mode", "ab", "--key", "feature:nope"], "no feature 'nope'"),
        (["start", "fraud", "2", "--mode", "ab", "--key", "cookie:x"], "must be 'request_id'"),
        (["start", "fraud", "2", "--mode", "ab", "--steps", "0.1,1"], "are for a canary"),
        (["start", "fraud", "2", "--mode", "canary", "--steps", "0.1,half"], "--steps must be"),
        (["start", "fraud", "2", "--mode", "canary", "--steps", "0.5,0.1"], "must rise"),
        (["start", "fraud", "2", "--mode", "ab", "--metric", "auc"], "not a builtin"),
        (["start", "fraud", "2", "--mode", "ab", "--metric-expression", "label"], "--higher-is-better"),
        (["stop", "fraud"], "no rollout to stop"),
        (["promote", "fraud"], "no rollout to promote"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    registries: Registries,
    storage: InMemoryStorage,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    fragment: str,
) -> None:
    before = {key: storage.body(BUCKET, key) for key in storage.keys(BUCKET, "manifests/")}

    assert main(["rollout", *argv, *CONNECT]) == EXIT_USAGE

    assert_one_error_line(capsys, fragment)
    assert {key: storage.body(BUCKET, key) for key in storage.keys(BUCKET, "manifests/")} == before


def test_a_second_start_is_one_line_and_exit_2(
    registries: Registries, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["rollout", "start", "fraud", "2", "--mode", "shadow", *CONNECT]) == 0
    capsys.readouterr()
    assert main(["rollout", "start", "fraud", "3", "--mode", "ab", *CONNECT]) == EXIT_USAGE
    assert_one_error_line(capsys, "already has a running rollout")


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["start", "fraud", "2", "--mode", "blue"], "argument --mode: invalid choice"),
        (["start", "fraud", "2", "--mode", "ab", "--share", "1.5"], "must be within [0, 1]"),
        (["start", "fraud", "2", "--mode", "ab", "--share", "half"], "not a number"),
        (["start", "fraud", "2", "--mode", "ab", "--lower-is-better", "--higher-is-better"], "not allowed"),
        (["start", "fraud", "--mode", "ab"], "required"),
        (["resume", "fraud"], "invalid choice"),
    ],
)
def test_usage_errors_exit_2(argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["rollout", *argv])
    assert caught.value.code == EXIT_USAGE
    assert_one_error_line(capsys, fragment)


def test_no_models_bucket_is_one_line(
    registries: Registries, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MODELWATCH_MODELS_BUCKET", raising=False)
    assert main(["rollout", "status", "fraud", "--tracking-uri", "http://mlflow.test:5000"]) == EXIT_USAGE
    assert_one_error_line(capsys, "no models bucket")
