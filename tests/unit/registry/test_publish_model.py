"""Publishing a model: artifact first, manifest last, names checked before anything is written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from modelwatch.contracts.schema import InputSchema
from modelwatch.registry.publishing import publish_model
from modelwatch.stores.manifests import ManifestStore
from modelwatch.stores.objects import InMemoryStorage, S3Storage

BUCKET = "models-bucket"


class RecordingStorage(InMemoryStorage):
    """In-memory storage that records the order of its writes."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[tuple[str, str, str]] = []

    def upload(self, bucket: str, key: str, path: Path) -> None:
        self.writes.append(("upload", bucket, key))
        super().upload(bucket, key, path)

    def put(self, bucket: str, key: str, body: bytes, content_type: str = "", **conditions: Any) -> str:
        if not self.writes or self.writes[-1] != ("upload", bucket, key):
            self.writes.append(("put", bucket, key))
        return super().put(bucket, key, body, content_type, **conditions)


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "anything.bin"
    path.write_bytes(b"model bytes")
    return path


def test_artifact_is_uploaded_before_the_manifest(model_file: Path, numeric_schema: InputSchema) -> None:
    storage = RecordingStorage()
    manifest = publish_model(model_file, "fraud", "3", "onnx", numeric_schema, BUCKET, storage=storage)
    assert storage.writes == [
        ("upload", BUCKET, "models/fraud/3/model.onnx"),
        ("put", BUCKET, "models/fraud/3/manifest.json"),
        ("put", BUCKET, "manifests/fraud/production.json"),
    ]
    assert manifest.artifact_uri == f"s3://{BUCKET}/models/fraud/3/model.onnx"
    assert manifest.source == {"publisher": "modelwatch publish"}
    assert manifest.reference_profile_uri is None


def test_reference_profile_is_stored_with_the_version_before_the_manifest(
    model_file: Path, numeric_schema: InputSchema
) -> None:
    storage = RecordingStorage()
    manifest = publish_model(
        model_file,
        "fraud",
        "4",
        "onnx",
        numeric_schema,
        BUCKET,
        storage=storage,
        reference_profile_json='{"n_rows": 3}',
    )
    assert storage.writes == [
        ("upload", BUCKET, "models/fraud/4/model.onnx"),
        ("put", BUCKET, "models/fraud/4/reference_profile.json"),
        ("put", BUCKET, "models/fraud/4/manifest.json"),
        ("put", BUCKET, "manifests/fraud/production.json"),
    ]
    assert storage.body(BUCKET, "models/fraud/4/reference_profile.json") == b'{"n_rows": 3}'
    assert manifest.reference_profile_uri == f"s3://{BUCKET}/models/fraud/4/reference_profile.json"


def test_publish_with_moto_is_readable_by_serving(
    s3: Any, model_file: Path, numeric_schema: InputSchema
) -> None:
    # Given a models bucket
    s3.create_bucket(Bucket=BUCKET)
    # When a sklearn model is published under "staging"
    published = publish_model(
        model_file,
        "fraud",
        "7",
        "sklearn",
        numeric_schema,
        BUCKET,
        alias="staging",
        prediction_type="probability",
        source={"run": "abc"},
        storage=S3Storage(s3),
    )
    # Then serving's manifest store reads exactly what was published, and the artifact exists
    read = ManifestStore(S3Storage(s3), BUCKET).read("fraud", "staging")
    assert read is not None
    assert read.manifest == published
    assert (read.manifest.version, read.manifest.flavor, read.manifest.prediction_type) == (
        "7",
        "sklearn",
        "probability",
    )
    body = s3.get_object(Bucket=BUCKET, Key="models/fraud/7/model.joblib")["Body"].read()
    assert body == b"model bytes"


def test_missing_model_file_writes_nothing(tmp_path: Path, numeric_schema: InputSchema) -> None:
    storage = RecordingStorage()
    with pytest.raises(FileNotFoundError, match="model file not found"):
        publish_model(
            tmp_path / "missing.joblib", "fraud", "1", "sklearn", numeric_schema, BUCKET, storage=storage
        )
    assert storage.writes == [] and storage.calls == {}


@pytest.mark.parametrize(
    ("name", "version", "alias"),
    [("bad name", "1", "production"), ("fraud", "1/2", "production"), ("fraud", "1", "-prod")],
)
def test_bad_names_write_nothing(
    model_file: Path, numeric_schema: InputSchema, name: str, version: str, alias: str
) -> None:
    storage = RecordingStorage()
    with pytest.raises(ValidationError):
        publish_model(
            model_file, name, version, "sklearn", numeric_schema, BUCKET, alias=alias, storage=storage
        )
    assert storage.writes == [] and storage.calls == {}
