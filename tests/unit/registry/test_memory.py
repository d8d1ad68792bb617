"""The in-memory registry backend behaves like MLflow where the registry relies on it."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelwatch.registry import (
    ArtifactNotFoundError,
    InMemoryRegistryBackend,
    ModelNotFoundError,
    RegistryError,
    TrackingServerUnavailable,
    VersionNotFoundError,
)


@pytest.fixture
def backend() -> InMemoryRegistryBackend:
    return InMemoryRegistryBackend()


def test_a_version_created_from_a_run_reads_the_run_files(
    backend: InMemoryRegistryBackend, tmp_path: Path
) -> None:
    (tmp_path / "staged" / "sub").mkdir(parents=True)
    (tmp_path / "staged" / "model.joblib").write_bytes(b"m")
    (tmp_path / "staged" / "sub" / "notes.txt").write_bytes(b"n")
    run = backend.create_run(backend.get_or_create_experiment("modelwatch-registry"), "register", {})
    backend.log_artifacts(run.run_id, tmp_path / "staged", "model")
    backend.create_or_tag_model("fraud", {"modelwatch.managed": "true"})

    version = backend.create_version("fraud", f"{run.artifact_uri}/model", run.run_id, {"k": "v"}, "first")

    assert (version.version, version.run_id, version.description) == ("1", run.run_id, "first")
    assert (
        backend.download_version_artifact("fraud", "1", "model.joblib", tmp_path / "a").read_bytes() == b"m"
    )
    tree = backend.download_version_files("fraud", "1", "", tmp_path / "b")
    assert (tree / "sub" / "notes.txt").read_bytes() == b"n"
    single = backend.download_run_artifacts(run.run_id, "model/sub/notes.txt", tmp_path / "c")
    assert single == tmp_path / "c" / "notes.txt"
    with pytest.raises(ArtifactNotFoundError):
        backend.download_version_artifact("fraud", "1", "missing.bin", tmp_path)


def test_aliases_resolve_and_show_on_their_version(backend: InMemoryRegistryBackend) -> None:
    backend.add_version("fraud", "1", {}, {})
    backend.add_version("fraud", "2", {}, {})
    backend.set_alias("fraud", "production", "2")

    assert backend.get_version("fraud", "production").version == "2"
    assert backend.get_version("fraud", "2").aliases == ("production",)
    backend.delete_alias("fraud", "production")
    with pytest.raises(VersionNotFoundError, match=r"'production' \(versions: 1, 2\)"):
        backend.get_version("fraud", "production")
    with pytest.raises(VersionNotFoundError):
        backend.set_alias("fraud", "staging", "9")


def test_create_or_tag_keeps_versions_and_adds_tags(backend: InMemoryRegistryBackend) -> None:
    backend.add_version("fraud", "1", {}, {}, managed=False)

    backend.create_or_tag_model("fraud", {"modelwatch.managed": "true"})

    assert backend.get_model("fraud").tags == {"modelwatch.managed": "true"}
    assert backend.version_numbers("fraud") == ["1"]
    with pytest.raises(ModelNotFoundError):
        backend.set_model_tag("nope", "k", "v")


def test_runs_keep_metrics_and_status(backend: InMemoryRegistryBackend) -> None:
    run = backend.create_run(backend.get_or_create_experiment("e"), "r", {})
    backend.log_metric(run.run_id, "auc", 0.5)
    backend.log_metric(run.run_id, "auc", 0.6)
    backend.finish_run(run.run_id, "FAILED")

    assert backend.get_run_metrics(run.run_id) == {"auc": 0.6}
    assert backend.run_status(run.run_id) == "FAILED"
    assert backend.get_or_create_experiment("e") == run.experiment_id
    with pytest.raises(RegistryError, match="run nope not found"):
        backend.get_run_metrics("nope")


def test_down_makes_every_call_fail_like_a_dead_server(
    backend: InMemoryRegistryBackend, tmp_path: Path
) -> None:
    backend.add_version("fraud", "1", {}, {"model.joblib": b"m"})
    backend.down = True

    calls = [
        backend.list_models,
        lambda: backend.get_model("fraud"),
        lambda: backend.create_or_tag_model("fraud", {}),
        lambda: backend.set_model_tag("fraud", "k", "v"),
        lambda: backend.version_numbers("fraud"),
        lambda: backend.get_version("fraud", "1"),
        lambda: backend.create_version("fraud", "s", "r", {}),
        lambda: backend.set_version_tag("fraud", "1", "k", "v"),
        lambda: backend.download_version_artifact("fraud", "1", "model.joblib", tmp_path),
        lambda: backend.download_version_files("fraud", "1", "", tmp_path),
        lambda: backend.set_alias("fraud", "production", "1"),
        lambda: backend.delete_alias("fraud", "production"),
        lambda: backend.get_or_create_experiment("e"),
        lambda: backend.create_run("1", "r", {}),
        lambda: backend.log_artifacts("r0001", tmp_path, "model"),
        lambda: backend.log_metric("r0001", "auc", 1.0),
        lambda: backend.finish_run("r0001"),
        lambda: backend.get_run_metrics("r0001"),
        lambda: backend.download_run_artifacts("r0001", "", tmp_path),
    ]
    for call in calls:
        with pytest.raises(TrackingServerUnavailable, match="memory://mlflow is unreachable"):
            call()
