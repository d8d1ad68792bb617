"""The registry against a real MLflow server (SQLite backend) on 127.0.0.1; S3 faked by moto in-process.

One server serves the whole module (it takes ~18 s to start); each test uses its own model name.
"""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import joblib
import pytest
from mlflow import MlflowClient
from modelwatch_local.fraud import FRAUD_SCHEMA, save_model, synthetic_transactions, train_fraud_model
from modelwatch_local.mlflow_server import MlflowServer, start_mlflow_server, stop_mlflow_server

from modelwatch.cli import main
from modelwatch.flavors import load_predictor
from modelwatch.registry import (
    IllegalTransitionError,
    MetricNotFoundError,
    ModelNotFoundError,
    ModelRegistry,
    NotServableError,
    PromotionError,
    RolloutError,
    Stage,
    TrackingServerUnavailable,
    VersionNotFoundError,
    compare_model_versions,
)
from modelwatch.registry.mlflow_client import MlflowClientBackend
from modelwatch.registry.rest import MlflowRestClient
from modelwatch.registry.sync import reconcile_manifests
from modelwatch.stores.artifacts import ArtifactStore
from modelwatch.stores.manifests import ManifestStore
from modelwatch.stores.objects import S3Storage

BUCKET = "models-bucket"


def models_stores(s3: Any) -> tuple[ManifestStore, ArtifactStore]:
    """The manifest and artifact stores of the models bucket, on moto's S3."""
    storage = S3Storage(s3)
    return ManifestStore(storage, BUCKET), ArtifactStore(storage)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    running = start_mlflow_server(tmp_path_factory.mktemp("mlflow"), port=free_port())
    print(f"MLflow server up in {running.started_in_seconds:.1f} s")
    yield running
    stop_mlflow_server(running)


@dataclass(frozen=True)
class ModelFiles:
    weak: Path
    strong: Path
    weak_auc: float
    strong_auc: float
    columns: dict[str, list[Any]]


@pytest.fixture(scope="module")
def model_files(tmp_path_factory: pytest.TempPathFactory) -> ModelFiles:
    directory = tmp_path_factory.mktemp("models")
    weak = train_fraud_model(n=3000, seed=0, n_estimators=3)
    strong = train_fraud_model(n=3000, seed=0, n_estimators=40)
    rows, _ = synthetic_transactions(400, seed=3)
    return ModelFiles(
        weak=save_model(weak, directory / "weak.joblib"),
        strong=save_model(strong, directory / "strong.joblib"),
        weak_auc=weak.auc,
        strong_auc=strong.auc,
        columns={name: [row[name] for row in rows] for name in rows[0]},
    )


@pytest.fixture
def s3(aws: None) -> Any:
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def registry(server: MlflowServer, s3: Any) -> ModelRegistry:
    return ModelRegistry(server.url, models_bucket=BUCKET, storage=S3Storage(s3))


@pytest.fixture
def name() -> str:
    return f"model_{uuid.uuid4().hex[:8]}"


def register_pair(registry: ModelRegistry, name: str, files: ModelFiles) -> tuple[str, str]:
    """Register the weak model then the strong one, with schema, training data and metrics."""
    versions = []
    for path, auc, logloss in ((files.weak, files.weak_auc, 0.30), (files.strong, files.strong_auc, 0.20)):
        uri = registry.register_model(
            model_path=str(path),
            name=name,
            tags={"algorithm": "gbm"},
            input_schema=FRAUD_SCHEMA,
            training_data=files.columns,
            prediction_type="probability",
            metrics={"auc": auc, "logloss": logloss},
        )
        versions.append(uri.rsplit("/", 1)[-1])
    return versions[0], versions[1]


def manifest_version(s3: Any, name: str, alias: str = "production") -> str | None:
    try:
        read = ManifestStore(S3Storage(s3), BUCKET).read(name, alias)
    except LookupError:
        return None
    assert read is not None
    return read.manifest.version


# -- registration -----------------------------------------------------------------------------


def test_register_records_tags_lineage_schema_and_profile(
    registry: ModelRegistry, name: str, model_files: ModelFiles, tmp_path: Path
) -> None:
    uri = registry.register_model(
        model_path=str(model_files.weak),
        name=name,
        tags={"algorithm": "gbm", "owner": "data-science-team"},
        training_data=model_files.columns,
        training_data_uri="s3://data/fraud/train.parquet",
        input_schema=FRAUD_SCHEMA,
        prediction_type="probability",
        code_revision="abc123",
        creator="ana",
    )

    assert uri == f"models:/{name}/1"
    info = registry.get_version(name, "1")
    assert info.tags == {"algorithm": "gbm", "owner": "data-science-team"}
    assert info.stage is Stage.DEVELOPMENT
    assert (info.flavor, info.prediction_type, info.servable) == ("sklearn", "probability", True)
    assert info.lineage["training_data_uri"] == "s3://data/fraud/train.parquet"
    assert info.lineage["code_revision"] == "abc123"
    assert info.lineage["creator"] == "ana"
    assert info.lineage["run_id"] == info.run_id
    assert info.lineage["created_at"].startswith(str(info.created_at.date() if info.created_at else ""))
    assert registry.get_input_schema(name, 1) == FRAUD_SCHEMA
    profile = registry.get_reference_profile_json(name, 1)
    assert profile is not None
    from modelwatch.contracts.profile import DatasetProfile

    reference = DatasetProfile.model_validate_json(profile)
    assert reference.n_rows == 400
    assert {f.name for f in reference.features} >= set(FRAUD_SCHEMA.feature_names)


def test_register_infers_the_schema_and_takes_the_code_revision_from_git(
    registry: ModelRegistry, name: str, model_files: ModelFiles
) -> None:
    registry.register_model(model_path=model_files.weak, name=name, training_data=model_files.columns)

    schema = registry.get_input_schema(name, 1)
    assert schema is not None and schema.feature_names == list(model_files.columns)
    revision = registry.get_version(name, 1).lineage.get("code_revision", "")
    assert len(revision) == 40  # the repository's HEAD


def test_register_from_s3_runs_and_models_uris(
    registry: ModelRegistry, server: MlflowServer, s3: Any, name: str, model_files: ModelFiles
) -> None:
    s3.upload_file(str(model_files.weak), BUCKET, "incoming/model.joblib")
    client = MlflowClient(server.url)
    experiment = client.get_experiment_by_name("training") or client.get_experiment(
        client.create_experiment("training")
    )
    run = client.create_run(experiment.experiment_id)
    client.log_artifact(run.info.run_id, str(model_files.strong), artifact_path="out")
    client.log_metric(run.info.run_id, "auc", 0.91)

    from_s3 = registry.register_model(
        model_path=f"s3://{BUCKET}/incoming/model.joblib", name=name, input_schema=FRAUD_SCHEMA
    )
    from_run = registry.register_model(
        model_path=f"runs:/{run.info.run_id}/out/strong.joblib", name=name, input_schema=FRAUD_SCHEMA
    )
    copied = registry.register_model(model_path=from_run, name=f"{name}_copy")

    assert (from_s3, from_run, copied) == (f"models:/{name}/1", f"models:/{name}/2", f"models:/{name}_copy/1")
    assert registry.get_version(name, 1).lineage["source_uri"] == f"s3://{BUCKET}/incoming/model.joblib"
    assert registry.get_version(name, 2).lineage["run_id"] == run.info.run_id
    copy = registry.get_version(f"{name}_copy", 1)
    assert copy.servable and copy.flavor == "sklearn"
    assert registry.get_input_schema(f"{name}_copy", 1) == FRAUD_SCHEMA


def test_metrics_logged_later_and_from_the_run(
    registry: ModelRegistry, name: str, model_files: ModelFiles
) -> None:
    registry.register_model(model_path=model_files.weak, name=name, metrics={"auc": 0.7})

    registry.log_metrics(name, "1", {"f1": 0.4, "auc": 0.75})

    assert registry.get_metrics(name, 1) == {"auc": 0.75, "f1": 0.4}


def test_unknown_model_and_version_are_typed(
    registry: ModelRegistry, name: str, model_files: ModelFiles
) -> None:
    with pytest.raises(ModelNotFoundError, match=name):
        registry.get_version(name, "1")
    registry.register_model(model_path=model_files.weak, name=name)
    with pytest.raises(VersionNotFoundError, match=r"no version '7' \(versions: 1\)"):
        registry.get_metrics(name, "7")
    with pytest.raises(FileNotFoundError):
        registry.register_model(model_path="/nonexistent/model.joblib", name=name)


# -- comparison -------------------------------------------------------------------------------


def test_compare_two_versions_both_directions_and_gates(
    registry: ModelRegistry, name: str, model_files: ModelFiles
) -> None:
    v1, v2 = register_pair(registry, name, model_files)

    auc = compare_model_versions(registry, model_name=name, version1=v1, version2=v2, metric="auc")
    logloss = compare_model_versions(registry, model_name=name, version1=v1, version2=v2, metric="logloss")
    gated = compare_model_versions(
        registry, model_name=name, version1=v1, version2=v2, metric="auc", min_absolute_change=0.5
    )

    assert auc.value2 == pytest.approx(model_files.strong_auc) and auc.winner == v2
    assert logloss.direction == "lower" and logloss.winner == v2
    assert logloss.absolute_difference == pytest.approx(-0.1)
    assert gated.gate is not None and not gated.gate.passed
    with pytest.raises(MetricNotFoundError, match="it has: auc, logloss"):
        compare_model_versions(registry, model_name=name, version1=v1, version2=v2, metric="f1")


def test_compare_table_of_many_versions(registry: ModelRegistry, name: str, model_files: ModelFiles) -> None:
    register_pair(registry, name, model_files)
    registry.register_model(model_path=model_files.weak, name=name, metrics={"auc": 0.5})

    table = registry.compare_table(name, ["1", "2", "3"], ["auc", "logloss"])

    assert table.row("auc").best_version == "2"
    assert table.row("logloss").values["3"] is None
    assert table.row("logloss").best_version == "2"


# -- stages and promotion ---------------------------------------------------------------------


def test_transitions_follow_the_rules_and_are_recorded(
    registry: ModelRegistry, s3: Any, name: str, model_files: ModelFiles
) -> None:
    v1, v2 = register_pair(registry, name, model_files)

    with pytest.raises(IllegalTransitionError, match="staging first"):
        registry.promote(name, v1, "production")
    registry.promote(name, v1, "staging", reason="first candidate", actor="ana")
    first = registry.promote(name, v1, "production", reason="go", actor="ana")
    registry.promote(name, v2, "staging", actor="bo")
    second = registry.promote(name, v2, "production", reason="better auc", actor="bo")

    assert first.manifest is not None and first.manifest.version == v1
    assert second.displaced_version == v1
    assert registry.get_version(name, v1).stage is Stage.ARCHIVED
    info = registry.get_version(name, v2)
    assert info.stage is Stage.PRODUCTION and info.aliases == ["production"]
    assert [(r.from_stage.value, r.to_stage.value, r.actor) for r in info.history] == [
        ("development", "staging", "bo"),
        ("staging", "production", "bo"),
    ]
    assert info.history[-1].reason == "better auc"
    assert len(registry.history(name)) == 5  # every transition of the model, v1's archiving included
    with pytest.raises(IllegalTransitionError, match="already in production"):
        registry.promote(name, v2, "production")
    forced = registry.promote(name, v1, "production", force=True, reason="rollback")
    assert forced.transition.forced and manifest_version(s3, name) == v1


def test_promotion_publishes_a_manifest_serving_can_load(
    registry: ModelRegistry, s3: Any, name: str, model_files: ModelFiles, tmp_path: Path
) -> None:
    _, v2 = register_pair(registry, name, model_files)
    registry.promote(name, v2, "staging")

    result = registry.promote(name, v2, "production")

    manifest = result.manifest
    assert manifest is not None
    assert result.manifest_uri == f"s3://{BUCKET}/manifests/{name}/production.json"
    assert manifest.artifact_uri == f"s3://{BUCKET}/models/{name}/{v2}/model.joblib"
    assert manifest.input_schema == FRAUD_SCHEMA and manifest.prediction_type == "probability"
    assert manifest.reference_profile_uri == f"s3://{BUCKET}/models/{name}/{v2}/reference_profile.json"
    local = tmp_path / "model.joblib"
    s3.download_file(BUCKET, f"models/{name}/{v2}/model.joblib", str(local))
    predictor = load_predictor("sklearn", local, manifest.input_schema, manifest.prediction_type)
    rows, _ = synthetic_transactions(3, seed=9)
    expected = joblib.load(model_files.strong)
    assert predictor.predict(rows) == pytest.approx(
        [
            float(p)
            for p in expected.predict_proba([[r[n] for n in FRAUD_SCHEMA.feature_names] for r in rows])[:, 1]
        ],
        abs=1e-5,
    )


def test_a_rollout_starts_stops_and_is_promoted_through_mlflow(
    registry: ModelRegistry, s3: Any, name: str, model_files: ModelFiles
) -> None:
    v1, v2 = register_pair(registry, name, model_files)
    registry.promote(name, v1, "production", force=True)
    key = f"feature:{FRAUD_SCHEMA.feature_names[0]}"

    first = registry.start_rollout(name, v2, mode="canary", key=key, reason="stronger", actor="ana")
    read = ManifestStore(S3Storage(s3), BUCKET).read(name, "production")
    assert read is not None and read.manifest.version == v1 and read.manifest.rollout == first
    assert first.candidate.artifact_uri == f"s3://{BUCKET}/models/{name}/{v2}/model.joblib"
    assert first.candidate.reference_profile_uri == f"s3://{BUCKET}/models/{name}/{v2}/reference_profile.json"
    with pytest.raises(RolloutError, match="already has a running rollout"):
        registry.start_rollout(name, v2, mode="ab")

    stopped = registry.stop_rollout(name, reason="pause", actor="bo")
    assert (stopped.state, stopped.share) == ("stopped", 0.0)
    second = registry.start_rollout(name, v2, mode="ab", share=0.3, actor="ana")
    registry.promote(name, v2, "staging", actor="cy")
    result = registry.promote_rollout(name, reason="better", actor="cy")

    assert manifest_version(s3, name) == v2 and result.rollout is not None
    assert registry.rollout_status(name).rollout is None
    history = [(r.rollout_id, r.action, r.actor) for r in registry.rollout_history(name)]
    assert history == [
        (first.id, "start", "ana"),
        (first.id, "stop", "bo"),
        (second.id, "start", "ana"),
        (second.id, "promote", "cy"),
    ]
    assert registry.get_version(name, v1).stage is Stage.ARCHIVED


def test_failed_promotion_leaves_the_previous_manifest_and_alias(
    registry: ModelRegistry, server: MlflowServer, s3: Any, name: str, model_files: ModelFiles
) -> None:
    v1, v2 = register_pair(registry, name, model_files)
    registry.promote(name, v1, "staging")
    registry.promote(name, v1, "production")
    registry.promote(name, v2, "staging")
    broken = ModelRegistry(server.url, models_bucket="no-such-bucket", storage=S3Storage(s3))

    with pytest.raises(PromotionError, match="no-such-bucket"):
        broken.promote(name, v2, "production")

    assert manifest_version(s3, name) == v1
    assert registry.get_version(name, v2).stage is Stage.STAGING
    assert MlflowClient(server.url).get_registered_model(name).aliases["production"] == v1


def test_unservable_version_cannot_reach_a_served_stage(
    registry: ModelRegistry, name: str, model_files: ModelFiles
) -> None:
    registry.register_model(model_path=model_files.weak, name=name)  # no schema, no training data
    with pytest.raises(NotServableError, match="input schema"):
        registry.promote(name, "1", "staging")
    assert registry.get_version(name, "1").stage is Stage.DEVELOPMENT


# -- sync -------------------------------------------------------------------------------------


def test_sync_follows_an_alias_set_directly_in_mlflow(
    registry: ModelRegistry, server: MlflowServer, s3: Any, name: str, model_files: ModelFiles
) -> None:
    v1, v2 = register_pair(registry, name, model_files)
    registry.promote(name, v1, "staging")
    registry.promote(name, v1, "production")
    MlflowClient(server.url).set_registered_model_alias(name, "production", v2)  # as in the MLflow UI
    rest = MlflowRestClient(server.url)

    report = reconcile_manifests(rest, *models_stores(s3), models=[name])

    production = next(a for a in report.actions if a.alias == "production")
    assert (production.action, production.version, production.previous_version) == ("published", v2, v1)
    assert manifest_version(s3, name) == v2
    info = registry.get_version(name, v2)
    assert info.stage is Stage.PRODUCTION and info.history[-1].actor == "registry-sync"
    assert registry.get_version(name, v1).stage is Stage.ARCHIVED
    again = reconcile_manifests(rest, *models_stores(s3), models=[name])
    assert {a.alias: a.action for a in again.actions} == {"staging": "no_alias", "production": "unchanged"}


def test_sync_with_mlflow_down_fails_fast_and_serving_keeps_its_manifest(
    registry: ModelRegistry, s3: Any, name: str, model_files: ModelFiles
) -> None:
    v1, _ = register_pair(registry, name, model_files)
    registry.promote(name, v1, "production", force=True)
    down = MlflowRestClient(f"http://127.0.0.1:{free_port()}", max_attempts=3, backoff=0.1)

    started = time.monotonic()
    with pytest.raises(TrackingServerUnavailable, match=r"127\.0\.0\.1"):
        reconcile_manifests(down, *models_stores(s3))

    assert time.monotonic() - started < 5
    assert manifest_version(s3, name) == v1


def test_client_on_an_unreachable_server_fails_in_seconds_naming_the_uri(s3: Any) -> None:
    uri = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()

    with pytest.raises(TrackingServerUnavailable, match=uri):
        ModelRegistry(uri).list_models()

    assert time.monotonic() - started < 20


# -- the issue's usage, as written ------------------------------------------------------------


def _issue_usage(tracking_uri: str) -> ModelRegistry:
    from modelwatch.registry import ModelRegistry, compare_model_versions

    registry = ModelRegistry(tracking_uri=tracking_uri)
    model_uri = registry.register_model(
        model_path="s3://models/model.pkl",
        name="fraud_detection",
        tags={"algorithm": "xgboost", "owner": "data-science-team"},
    )
    assert model_uri == "models:/fraud_detection/1"
    registry.register_model(model_path="s3://models/model.pkl", name="fraud_detection", tags={})
    registry.log_metrics("fraud_detection", "1", {"auc": 0.90})
    registry.log_metrics("fraud_detection", "2", {"auc": 0.93})
    comparison = compare_model_versions(
        registry, model_name="fraud_detection", version1="1", version2="2", metric="auc"
    )
    assert comparison.winner == "2"
    assert comparison.absolute_difference == pytest.approx(0.03)
    return registry


@pytest.fixture
def models_bucket_with_pickle(s3: Any, model_files: ModelFiles) -> None:
    s3.create_bucket(Bucket="models")
    s3.upload_file(str(model_files.weak), "models", "model.pkl")


@pytest.mark.usefixtures("models_bucket_with_pickle")
def test_issue_usage_against_the_local_server(server: MlflowServer) -> None:
    registry = _issue_usage(server.url)  # the only test using the name fraud_detection on this server

    assert isinstance(registry.backend, MlflowRestClient)  # http(s): the REST API, no MLflow client


@pytest.mark.usefixtures("models_bucket_with_pickle")
def test_issue_usage_against_a_sqlite_uri(tmp_path: Path) -> None:
    registry = _issue_usage(f"sqlite:///{tmp_path / 'mlflow.db'}")

    assert isinstance(registry.backend, MlflowClientBackend)

    assert (tmp_path / "artifacts").is_dir()


# -- command line -----------------------------------------------------------------------------


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_register_list_show_compare_promote(
    server: MlflowServer,
    s3: Any,
    name: str,
    model_files: ModelFiles,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    schema = tmp_path / "schema.json"
    schema.write_text(FRAUD_SCHEMA.model_dump_json())
    uri = ["--tracking-uri", server.url]
    for path, auc in ((model_files.weak, "0.70"), (model_files.strong, "0.80")):
        code, out, _ = run_cli(
            capsys, "registry", "register", *uri, "--model", str(path), "--name", name,
            "--schema", str(schema), "--metric", f"auc={auc}", "--tag", "team=risk",
            "--prediction-type", "probability",
        )  # fmt: skip
        assert code == 0 and "registered models:/" in out

    code, out, _ = run_cli(capsys, "registry", "list", *uri)
    assert code == 0 and name in out and "latest" in out
    code, out, _ = run_cli(capsys, "registry", "list", name, *uri, "--json")
    assert [v["version"] for v in json.loads(out)] == ["1", "2"]
    code, out, _ = run_cli(capsys, "registry", "show", name, "2", *uri)
    assert "tag.team" in out and "metric.auc" in out and "0.8000" in out
    code, out, _ = run_cli(capsys, "registry", "compare", name, "1", "2", "--metric", "auc", *uri)
    assert code == 0 and "winner" in out and "+14.29%" in out
    code, out, _ = run_cli(
        capsys, "registry", "compare", name, "1", "2", "--metric", "auc", "--min-absolute-change", "0.2", *uri
    )
    assert code == 1 and "gate FAILED" in out
    code, out, _ = run_cli(capsys, "registry", "compare", name, "1", "2", "--metric", "auc", "--json", *uri)
    assert json.loads(out)["winner"] == "2"
    code, out, err = run_cli(capsys, "registry", "promote", name, "2", "--to", "production", *uri)
    assert code == 2 and err.startswith("modelwatch: error: cannot move a version from development")
    assert err.count("\n") == 1
    run_cli(capsys, "registry", "promote", name, "2", "--to", "staging", "--bucket", BUCKET, *uri)
    code, out, _ = run_cli(
        capsys,
        "registry",
        "promote",
        name,
        "2",
        "--to",
        "production",
        "--bucket",
        BUCKET,
        "--reason",
        "auc",
        *uri,
    )
    assert code == 0 and f"serving manifest published: s3://{BUCKET}/manifests/{name}/production.json" in out
    code, out, _ = run_cli(capsys, "registry", "show", name, "production", *uri)
    assert "staging      production  root  auc" in out


def test_cli_errors_are_one_line(
    server: MlflowServer, name: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = run_cli(capsys, "registry", "show", name, "1", "--tracking-uri", server.url)
    assert (code, err) == (2, f"modelwatch: error: model '{name}' is not registered\n")

    down = f"http://127.0.0.1:{free_port()}"
    code, _, err = run_cli(capsys, "registry", "list", "--tracking-uri", down)
    assert code == 2 and err.startswith(f"modelwatch: error: MLflow tracking server {down} is unreachable")
    assert err.count("\n") == 1 and "Traceback" not in err

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    code, _, err = run_cli(capsys, "registry", "list")
    assert code == 2 and "MLFLOW_TRACKING_URI" in err


# -- the registry-sync Lambda handler -----------------------------------------------------------


def test_sync_handler_publishes_and_fails_clearly_when_mlflow_is_down(
    registry: ModelRegistry,
    server: MlflowServer,
    s3: Any,
    name: str,
    model_files: ModelFiles,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.util
    import sys

    from tests.integration.conftest import REPO, LambdaContext

    _, v2 = register_pair(registry, name, model_files)
    MlflowClient(server.url).set_registered_model_alias(name, "production", v2)

    def load(uri: str) -> Any:
        monkeypatch.setenv("MODELWATCH_MLFLOW_TRACKING_URI", uri)
        monkeypatch.setenv("MODELWATCH_MODELS_BUCKET", BUCKET)
        monkeypatch.setenv("MODELWATCH_MLFLOW_MAX_ATTEMPTS", "2")
        module_name = f"registry_sync_{uuid.uuid4().hex}"
        spec = importlib.util.spec_from_file_location(
            module_name, REPO / "functions/registry_sync/handler.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
        return module

    result = load(server.url).handler({"models": [name]}, LambdaContext())

    assert {a["alias"]: a["action"] for a in result["actions"]} == {
        "staging": "no_alias",
        "production": "published",
    }
    assert manifest_version(s3, name) == v2
    with pytest.raises(TrackingServerUnavailable):
        load(f"http://127.0.0.1:{free_port()}").handler({}, LambdaContext())
    assert manifest_version(s3, name) == v2
