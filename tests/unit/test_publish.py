"""Publishing a model: artifact first, manifest last, names checked before anything is written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from modelwatch.manifest import S3ManifestStore
from modelwatch.publish import publish_manifest, publish_model
from modelwatch.schema import InputSchema

BUCKET = "models-bucket"


class RecordingS3:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []

    def upload_file(self, filename: str, bucket: str, key: str) -> None:
        self.calls.append(("upload_file", bucket, key))

    def put_object(self, Bucket: str, Key: str, Body: bytes, ContentType: str) -> dict[str, Any]:
        self.calls.append(("put_object", Bucket, Key))
        return {}


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "anything.bin"
    path.write_bytes(b"model bytes")
    return path


def test_artifact_is_uploaded_before_the_manifest(model_file: Path, numeric_schema: InputSchema) -> None:
    s3 = RecordingS3()
    manifest = publish_model(model_file, "fraud", "3", "onnx", numeric_schema, BUCKET, s3_client=s3)
    assert s3.calls == [
        ("upload_file", BUCKET, "models/fraud/3/model.onnx"),
        ("put_object", BUCKET, "models/fraud/3/manifest.json"),
        ("put_object", BUCKET, "manifests/fraud/production.json"),
    ]
    assert manifest.artifact_uri == f"s3://{BUCKET}/models/fraud/3/model.onnx"
    assert manifest.source == {"publisher": "modelwatch publish"}
    assert manifest.reference_profile_uri is None


def test_reference_profile_is_stored_with_the_version_before_the_manifest(
    model_file: Path, numeric_schema: InputSchema
) -> None:
    s3 = RecordingS3()
    manifest = publish_model(
        model_file,
        "fraud",
        "4",
        "onnx",
        numeric_schema,
        BUCKET,
        s3_client=s3,
        reference_profile_json='{"n_rows": 3}',
    )
    assert s3.calls == [
        ("upload_file", BUCKET, "models/fraud/4/model.onnx"),
        ("put_object", BUCKET, "models/fraud/4/reference_profile.json"),
        ("put_object", BUCKET, "models/fraud/4/manifest.json"),
        ("put_object", BUCKET, "manifests/fraud/production.json"),
    ]
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
        s3_client=s3,
    )
    # Then serving's manifest store reads exactly what was published, and the artifact exists
    read = S3ManifestStore(s3, BUCKET).read("fraud", "staging")
    assert read is not None
    assert read.manifest == published
    assert (read.manifest.version, read.manifest.flavor, read.manifest.prediction_type) == (
        "7",
        "sklearn",
        "probability",
    )
    body = s3.get_object(Bucket=BUCKET, Key="models/fraud/7/model.joblib")["Body"].read()
    assert body == b"model bytes"


def test_publish_manifest_returns_its_uri(s3: Any, make_manifest: Any) -> None:
    s3.create_bucket(Bucket=BUCKET)
    uri = publish_manifest(s3, BUCKET, make_manifest(), prefix="serving")
    assert uri == f"s3://{BUCKET}/serving/fraud/production.json"
    assert S3ManifestStore(s3, BUCKET, "serving").read("fraud", "production") is not None


def test_missing_model_file_writes_nothing(tmp_path: Path, numeric_schema: InputSchema) -> None:
    s3 = RecordingS3()
    with pytest.raises(FileNotFoundError, match="model file not found"):
        publish_model(
            tmp_path / "missing.joblib", "fraud", "1", "sklearn", numeric_schema, BUCKET, s3_client=s3
        )
    assert s3.calls == []


@pytest.mark.parametrize(
    ("name", "version", "alias"),
    [("bad name", "1", "production"), ("fraud", "1/2", "production"), ("fraud", "1", "-prod")],
)
def test_bad_names_write_nothing(
    model_file: Path, numeric_schema: InputSchema, name: str, version: str, alias: str
) -> None:
    s3 = RecordingS3()
    with pytest.raises(ValidationError):
        publish_model(model_file, name, version, "sklearn", numeric_schema, BUCKET, alias=alias, s3_client=s3)
    assert s3.calls == []
