"""The ``modelwatch`` command line: publish against moto in-process; user errors are one line, exit 2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from modelwatch.cli import main
from modelwatch.cli.errors import EXIT_USAGE
from modelwatch.contracts.schema import InputSchema
from modelwatch.stores.manifests import ManifestStore
from modelwatch.stores.objects import S3Storage

BUCKET = "models-bucket"


@pytest.fixture
def schema_file(tmp_path: Path, numeric_schema: InputSchema) -> Path:
    path = tmp_path / "schema.json"
    path.write_text(numeric_schema.model_dump_json())
    return path


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "model.joblib"
    path.write_bytes(b"model")
    return path


def publish_args(model_file: Path, schema_file: Path, **overrides: str) -> list[str]:
    options = {
        "--model-file": str(model_file),
        "--name": "fraud",
        "--version": "3",
        "--flavor": "sklearn",
        "--schema": str(schema_file),
        "--bucket": BUCKET,
    }
    options.update(overrides)
    return ["publish", *[part for pair in options.items() for part in pair]]


def assert_one_error_line(capsys: pytest.CaptureFixture[str], *fragments: str) -> str:
    err = capsys.readouterr().err
    assert err.endswith("\n")
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("modelwatch: error: ")
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def test_publish_happy_path(
    s3: Any,
    model_file: Path,
    schema_file: Path,
    numeric_schema: InputSchema,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a models bucket
    s3.create_bucket(Bucket=BUCKET)
    # When a model is published from the command line
    code = main(
        publish_args(model_file, schema_file, **{"--prediction-type": "probability", "--alias": "canary"})
    )
    # Then it succeeds, prints what it published, and serving can read it
    captured = capsys.readouterr()
    assert code == 0
    assert captured.err == ""
    published = json.loads(captured.out)["published"]
    assert (published["model"], published["version"], published["alias"], published["flavor"]) == (
        "fraud",
        "3",
        "canary",
        "sklearn",
    )
    assert published["artifact_uri"] == f"s3://{BUCKET}/models/fraud/3/model.joblib"
    assert "input_schema" not in published
    read = ManifestStore(S3Storage(s3), BUCKET).read("fraud", "canary")
    assert read is not None
    assert read.manifest.input_schema == numeric_schema
    assert read.manifest.prediction_type == "probability"
    assert s3.get_object(Bucket=BUCKET, Key="models/fraud/3/model.joblib")["Body"].read() == b"model"


def test_missing_schema_file(
    s3: Any, model_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(publish_args(model_file, tmp_path / "nope.json"))
    assert code == EXIT_USAGE
    assert_one_error_line(capsys, "cannot read schema", "nope.json", "No such file")


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("{not json", "Invalid JSON"),
        ('{"features": []}', "features"),
        ('{"features": [{"name": "a", "type": "decimal"}]}', "features.0.type"),
        (
            '{"features": [{"name": "a", "type": "number"}, {"name": "a", "type": "number"}]}',
            "declared twice",
        ),
    ],
)
def test_invalid_schema(
    s3: Any, model_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, fragment: str
) -> None:
    schema = tmp_path / "schema.json"
    schema.write_text(content)
    assert main(publish_args(model_file, schema)) == EXIT_USAGE
    assert_one_error_line(capsys, "invalid schema", fragment)


@pytest.mark.parametrize(
    ("option", "value", "fragment"),
    [
        ("--name", "bad name", "invalid model name"),
        ("--version", "v/1", "invalid version"),
        ("--alias", ".hidden", "invalid alias"),
    ],
)
def test_bad_names(
    s3: Any,
    model_file: Path,
    schema_file: Path,
    capsys: pytest.CaptureFixture[str],
    option: str,
    value: str,
    fragment: str,
) -> None:
    s3.create_bucket(Bucket=BUCKET)
    assert main(publish_args(model_file, schema_file, **{option: value})) == EXIT_USAGE
    assert_one_error_line(capsys, fragment)
    assert s3.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0


def test_missing_model_file(
    s3: Any, schema_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(publish_args(tmp_path / "missing.joblib", schema_file)) == EXIT_USAGE
    assert_one_error_line(capsys, "model file not found", "missing.joblib")


def test_missing_bucket_is_one_line(
    s3: Any, model_file: Path, schema_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(publish_args(model_file, schema_file, **{"--bucket": "no-such-bucket"})) == EXIT_USAGE
    assert_one_error_line(capsys, "NoSuchBucket")


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        ([], "required: command"),
        (["serve"], "invalid choice"),
        (["publish", "--name", "fraud"], "the following arguments are required"),
        (
            [
                "publish",
                "--model-file",
                "m",
                "--name",
                "n",
                "--version",
                "1",
                "--flavor",
                "pytorch",
                "--schema",
                "s",
                "--bucket",
                "b",
            ],
            "argument --flavor: invalid choice",
        ),
        (
            [
                "publish",
                "--model-file",
                "m",
                "--name",
                "n",
                "--version",
                "1",
                "--flavor",
                "onnx",
                "--schema",
                "s",
                "--bucket",
                "b",
                "--prediction-type",
                "logit",
            ],
            "--prediction-type",
        ),
    ],
)
def test_usage_errors_exit_2(argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == EXIT_USAGE
    assert_one_error_line(capsys, fragment)
