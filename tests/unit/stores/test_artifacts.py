"""Artifacts: local paths pass through, s3:// objects are downloaded once; uploads and small reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelwatch.stores.artifacts import ArtifactStore
from modelwatch.stores.objects import InMemoryStorage, ObjectNotFound, ObjectStorage
from tests.unit.stores.conftest import BUCKET


def test_local_paths_pass_through(tmp_path: Path) -> None:
    model = tmp_path / "model.joblib"
    model.write_bytes(b"m")
    storage = InMemoryStorage()
    artifacts = ArtifactStore(storage, tmp_path / "cache")
    assert artifacts.fetch(str(model)) == model
    assert artifacts.fetch(f"file://{model}") == model
    assert storage.calls == {}


def test_a_missing_local_file_is_file_not_found(tmp_path: Path) -> None:
    artifacts = ArtifactStore(InMemoryStorage(), tmp_path / "cache")
    with pytest.raises(FileNotFoundError, match="artifact not found"):
        artifacts.fetch(str(tmp_path / "nope.joblib"))
    with pytest.raises(FileNotFoundError):
        artifacts.fetch(str(tmp_path))  # a directory is not an artifact


def test_an_s3_artifact_is_downloaded_once_into_the_cache(storage: ObjectStorage, tmp_path: Path) -> None:
    # Given an object and an empty cache
    storage.put(BUCKET, "models/fraud/1/model.joblib", b"the model")
    artifacts = ArtifactStore(storage, tmp_path / "cache")
    # When the same URI is fetched twice
    first = artifacts.fetch(f"s3://{BUCKET}/models/fraud/1/model.joblib")
    storage.put(BUCKET, "models/fraud/1/model.joblib", b"changed behind our back")
    second = artifacts.fetch(f"s3://{BUCKET}/models/fraud/1/model.joblib")
    # Then it is downloaded once, kept under its file name, with no partial file left behind
    assert first == second and first.read_bytes() == b"the model"
    assert first.name == "model.joblib" and first.is_relative_to(tmp_path / "cache")
    assert not list((tmp_path / "cache").rglob("*.partial"))


def test_versions_with_the_same_file_name_do_not_collide(tmp_path: Path) -> None:
    storage = InMemoryStorage()
    storage.put(BUCKET, "models/fraud/1/model.joblib", b"one")
    storage.put(BUCKET, "models/fraud/2/model.joblib", b"two")
    artifacts = ArtifactStore(storage, tmp_path / "cache")
    one = artifacts.fetch(f"s3://{BUCKET}/models/fraud/1/model.joblib")
    two = artifacts.fetch(f"s3://{BUCKET}/models/fraud/2/model.joblib")
    assert one != two and (one.read_bytes(), two.read_bytes()) == (b"one", b"two")
    assert storage.calls["get"] == 2


def test_a_missing_object_is_object_not_found_and_leaves_nothing_cached(
    storage: ObjectStorage, tmp_path: Path
) -> None:
    artifacts = ArtifactStore(storage, tmp_path / "cache")
    with pytest.raises(ObjectNotFound):
        artifacts.fetch(f"s3://{BUCKET}/models/ghost/1/model.joblib")
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]


def test_upload_put_text_and_read_bytes_round_trip(storage: ObjectStorage, tmp_path: Path) -> None:
    source = tmp_path / "model.onnx"
    source.write_bytes(b"onnx-bytes")
    artifacts = ArtifactStore(storage)

    model_uri = artifacts.upload(source, BUCKET, "models/fraud/4/model.onnx")
    profile_uri = artifacts.put_text(BUCKET, "models/fraud/4/reference_profile.json", '{"n_rows": 1}')

    assert model_uri == f"s3://{BUCKET}/models/fraud/4/model.onnx"
    assert artifacts.read_bytes(model_uri) == b"onnx-bytes"
    assert artifacts.read_bytes(profile_uri) == b'{"n_rows": 1}'
