"""Unit-test fixtures: no network, fake AWS credentials, tiny trained models, fakes of the seams."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.httpsession  # noqa: F401  (urllib3 probes IPv6 with a socket when first imported)
import joblib
import numpy as np
import pytest
import pytest_socket

from modelwatch.contracts.manifest import ServingManifest
from modelwatch.contracts.schema import FeatureSpec, FeatureType, InputSchema
from tests.unit.fakes import FakeClock, FakeManifestSource


@pytest.fixture(autouse=True)
def _no_network() -> Iterator[None]:
    # Inet sockets are blocked; AF_UNIX stays allowed because asyncio's event loop
    # (under fastapi's TestClient) needs a local socketpair for its self-pipe.
    pytest_socket.disable_socket(allow_unix_socket=True)
    yield
    pytest_socket.enable_socket()


@pytest.fixture(autouse=True)
def _fake_aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Fake credentials and region for every test; no endpoint override; no MODELWATCH_* leaking in."""
    for name in list(os.environ):
        if name.startswith(("MODELWATCH_", "AWS_")):
            monkeypatch.delenv(name)
    nowhere = tmp_path_factory.getbasetemp() / "no-aws-config"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(nowhere))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(nowhere))


@pytest.fixture
def s3() -> Iterator[Any]:
    """A moto (in-process) S3 client."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        yield boto3.client("s3", region_name="us-east-1")


FEATURES = ["amount", "hour", "is_foreign"]


@pytest.fixture(scope="session")
def numeric_schema() -> InputSchema:
    return InputSchema(
        features=[
            FeatureSpec(name="amount", type=FeatureType.NUMBER, minimum=0.0),
            FeatureSpec(name="hour", type=FeatureType.INTEGER, minimum=0, maximum=23),
            FeatureSpec(name="is_foreign", type=FeatureType.BOOLEAN),
        ]
    )


@dataclass(frozen=True)
class TrainingData:
    matrix: Any  # (200, 3) float64, columns in FEATURES order
    labels: Any
    rows: list[dict[str, Any]]


@pytest.fixture(scope="session")
def training_data() -> TrainingData:
    rng = np.random.default_rng(7)
    amount = rng.lognormal(3.0, 1.0, size=200).round(2)
    hour = rng.integers(0, 24, size=200)
    foreign = rng.random(200) < 0.3
    labels = ((amount > 30) ^ foreign).astype(int)
    matrix = np.column_stack([amount, hour, foreign]).astype(np.float64)
    rows = [
        {"amount": float(a), "hour": int(h), "is_foreign": bool(f)}
        for a, h, f in zip(amount, hour, foreign, strict=True)
    ]
    return TrainingData(matrix, labels, rows)


@dataclass(frozen=True)
class TrainedFile:
    path: Path
    estimator: Any


@pytest.fixture(scope="session")
def sklearn_classifier(training_data: TrainingData, tmp_path_factory: pytest.TempPathFactory) -> TrainedFile:
    """A LogisticRegression on 200 rows, saved with joblib."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(max_iter=500).fit(training_data.matrix, training_data.labels)
    path = tmp_path_factory.mktemp("sklearn") / "model.joblib"
    joblib.dump(model, path)
    return TrainedFile(path, model)


@pytest.fixture(scope="session")
def onnx_classifier(
    sklearn_classifier: TrainedFile, training_data: TrainingData, tmp_path_factory: pytest.TempPathFactory
) -> TrainedFile:
    """The same classifier converted to ONNX (one float tensor in, no ZipMap)."""
    from skl2onnx import to_onnx

    model = sklearn_classifier.estimator
    onnx_model = to_onnx(
        model, training_data.matrix[:1].astype(np.float32), options={id(model): {"zipmap": False}}
    )
    path = tmp_path_factory.mktemp("onnx") / "model.onnx"
    path.write_bytes(onnx_model.SerializeToString())
    return TrainedFile(path, model)


@pytest.fixture(scope="session")
def garbage_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("garbage") / "model.bin"
    path.write_bytes(b"this is not a model at all\x00\x01\x02")
    return path


@pytest.fixture
def make_manifest(numeric_schema: InputSchema) -> Any:
    """Build a valid manifest; keyword arguments override the defaults."""

    def _make(**overrides: Any) -> ServingManifest:
        values: dict[str, Any] = {
            "model": "fraud",
            "version": "1",
            "flavor": "sklearn",
            "artifact_uri": "/nonexistent/model.joblib",
            "input_schema": numeric_schema,
            "prediction_type": "probability",
        }
        values.update(overrides)
        return ServingManifest(**values)

    return _make


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def manifests() -> FakeManifestSource:
    return FakeManifestSource()
