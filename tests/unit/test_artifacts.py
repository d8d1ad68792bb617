"""Fetching model artifacts: local paths pass through, s3:// objects are downloaded once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from modelwatch.artifacts import S3ArtifactFetcher, split_s3_uri


class CountingS3:
    """Writes a known body for every download and counts them."""

    def __init__(self) -> None:
        self.downloads: list[tuple[str, str]] = []

    def download_file(self, bucket: str, key: str, filename: str) -> None:
        self.downloads.append((bucket, key))
        Path(filename).write_bytes(f"{bucket}/{key}".encode())


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3://bucket/key", ("bucket", "key")),
        ("s3://bucket/models/fraud/1/model.joblib", ("bucket", "models/fraud/1/model.joblib")),
    ],
)
def test_split_s3_uri(uri: str, expected: tuple[str, str]) -> None:
    assert split_s3_uri(uri) == expected


@pytest.mark.parametrize(
    "uri", ["s3://bucket", "s3://bucket/", "s3:///key", "https://bucket/key", "/local/path"]
)
def test_split_s3_uri_rejects_other_uris(uri: str) -> None:
    with pytest.raises(ValueError, match="not an s3://bucket/key URI"):
        split_s3_uri(uri)


def test_local_paths_pass_through(tmp_path: Path) -> None:
    model = tmp_path / "model.joblib"
    model.write_bytes(b"m")
    s3 = CountingS3()
    fetcher = S3ArtifactFetcher(s3, tmp_path / "cache")
    assert fetcher.fetch(str(model)) == model
    assert fetcher.fetch(f"file://{model}") == model
    assert s3.downloads == []


def test_missing_local_file(tmp_path: Path) -> None:
    fetcher = S3ArtifactFetcher(CountingS3(), tmp_path / "cache")
    with pytest.raises(FileNotFoundError, match="artifact not found"):
        fetcher.fetch(str(tmp_path / "nope.joblib"))
    with pytest.raises(FileNotFoundError):
        fetcher.fetch(str(tmp_path))  # a directory is not an artifact


def test_s3_artifact_downloaded_once_into_the_cache(tmp_path: Path) -> None:
    # Given an empty cache
    s3 = CountingS3()
    fetcher = S3ArtifactFetcher(s3, tmp_path / "cache")
    # When the same URI is fetched twice
    first = fetcher.fetch("s3://models/models/fraud/1/model.joblib")
    second = fetcher.fetch("s3://models/models/fraud/1/model.joblib")
    # Then it is downloaded once, kept under its file name, with no partial file left behind
    assert s3.downloads == [("models", "models/fraud/1/model.joblib")]
    assert first == second
    assert first.name == "model.joblib"
    assert first.is_relative_to(tmp_path / "cache")
    assert first.read_bytes() == b"models/models/fraud/1/model.joblib"
    assert not list((tmp_path / "cache").rglob("*.partial"))


def test_versions_with_the_same_file_name_do_not_collide(tmp_path: Path) -> None:
    s3 = CountingS3()
    fetcher = S3ArtifactFetcher(s3, tmp_path / "cache")
    one = fetcher.fetch("s3://models/models/fraud/1/model.joblib")
    two = fetcher.fetch("s3://models/models/fraud/2/model.joblib")
    assert one != two
    assert one.read_bytes() != two.read_bytes()
    assert len(s3.downloads) == 2


def test_s3_artifact_with_moto(s3: Any, tmp_path: Path) -> None:
    s3.create_bucket(Bucket="models")
    s3.put_object(Bucket="models", Key="models/fraud/1/model.onnx", Body=b"onnx-bytes")
    path = S3ArtifactFetcher(s3, tmp_path).fetch("s3://models/models/fraud/1/model.onnx")
    assert path.read_bytes() == b"onnx-bytes"
