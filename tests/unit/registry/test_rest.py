"""The light REST client: requests it makes, retries with backoff, typed errors; no socket opened."""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from modelwatch.registry import (
    ModelNotFoundError,
    RegistryError,
    TrackingServerUnavailable,
    VersionNotFoundError,
)
from modelwatch.registry.errors import RegistryConfigurationError
from modelwatch.registry.rest import MlflowRestClient


class Response(io.BytesIO):
    def __init__(self, body: bytes, status: int = 200) -> None:
        super().__init__(body)
        self.status = status

    def getcode(self) -> int:
        return self.status


def http_error(url: str, status: int, payload: dict[str, Any]) -> urllib.error.HTTPError:
    return urllib.error.HTTPError(url, status, "error", {}, io.BytesIO(json.dumps(payload).encode()))  # type: ignore[arg-type]


class FakeServer:
    """Stands in for ``urllib.request.urlopen``: answers from a script, records every request."""

    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers
        self.requests: list[urllib.request.Request] = []

    def __call__(self, request: urllib.request.Request, timeout: float) -> Any:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer


@pytest.fixture
def sleeps() -> list[float]:
    return []


def client(monkeypatch: pytest.MonkeyPatch, answers: list[Any], sleeps: list[float], **kwargs: Any) -> Any:
    server = FakeServer(answers)
    monkeypatch.setattr(urllib.request, "urlopen", server)
    rest = MlflowRestClient("http://ana:s3cret@mlflow.test:5000/", sleep=sleeps.append, **kwargs)
    return rest, server


MODEL = {
    "name": "fraud",
    "aliases": [{"alias": "production", "version": "2"}],
    "tags": [{"key": "modelwatch.managed", "value": "true"}],
    "last_updated_timestamp": "1795687200000",
}


def test_lists_models_across_pages_without_prompts(
    monkeypatch: pytest.MonkeyPatch, sleeps: list[float]
) -> None:
    page1 = Response(json.dumps({"registered_models": [MODEL], "next_page_token": "t2"}).encode())
    page2 = Response(json.dumps({"registered_models": [{**MODEL, "name": "churn", "aliases": []}]}).encode())
    rest, server = client(monkeypatch, [page1, page2], sleeps)

    models = rest.list_models()

    assert [(m.name, m.aliases) for m in models] == [("fraud", {"production": "2"}), ("churn", {})]
    assert models[0].tags == {"modelwatch.managed": "true"}
    first, second = server.requests
    assert first.full_url.startswith("http://mlflow.test:5000/api/2.0/mlflow/registered-models/search?")
    assert "prompt" in first.full_url and "page_token=t2" in second.full_url
    assert first.get_header("Authorization") == "Basic YW5hOnMzY3JldA=="
    assert rest.uri == "http://mlflow.test:5000"


def test_get_version(monkeypatch: pytest.MonkeyPatch, sleeps: list[float]) -> None:
    body = {
        "model_version": {
            "name": "fraud",
            "version": "3",
            "source": "mlflow-artifacts:/1/abc/artifacts/model",
            "run_id": "abc",
            "tags": [{"key": "modelwatch.flavor", "value": "sklearn"}],
            "aliases": ["staging"],
            "creation_timestamp": 1795687200000,
        }
    }
    rest, _ = client(monkeypatch, [Response(json.dumps(body).encode())], sleeps)

    version = rest.get_version("fraud", "3")

    assert (version.version, version.run_id, version.aliases) == ("3", "abc", ("staging",))
    assert version.tags == {"modelwatch.flavor": "sklearn"}
    assert version.created_at is not None and version.created_at.year == 2026


def test_missing_version_and_model_are_typed(monkeypatch: pytest.MonkeyPatch, sleeps: list[float]) -> None:
    missing = {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "not found"}
    url = "http://mlflow.test:5000/x"
    rest, _ = client(
        monkeypatch,
        [
            http_error(url, 404, missing),
            Response(json.dumps({"registered_model": MODEL}).encode()),
            http_error(url, 404, missing),
            http_error(url, 404, missing),
        ],
        sleeps,
    )

    with pytest.raises(VersionNotFoundError, match="no version '9'"):
        rest.get_version("fraud", "9")
    with pytest.raises(ModelNotFoundError, match="'nope'"):
        rest.get_version("nope", "1")


def test_retries_with_backoff_then_names_the_uri(
    monkeypatch: pytest.MonkeyPatch, sleeps: list[float]
) -> None:
    refused = urllib.error.URLError(ConnectionRefusedError(111, "Connection refused"))
    rest, server = client(monkeypatch, [refused] * 4, sleeps, max_attempts=4, backoff=0.5)

    with pytest.raises(TrackingServerUnavailable) as caught:
        rest.list_models()

    assert "http://mlflow.test:5000" in str(caught.value) and "s3cret" not in str(caught.value)
    assert "after 4 attempts" in str(caught.value)
    assert sleeps == [0.5, 1.0, 2.0]
    assert len(server.requests) == 4


def test_a_5xx_then_success_is_retried(monkeypatch: pytest.MonkeyPatch, sleeps: list[float]) -> None:
    url = "http://mlflow.test:5000/x"
    ok = Response(json.dumps({"registered_models": []}).encode())
    rest, _ = client(monkeypatch, [http_error(url, 503, {}), ok], sleeps)

    assert rest.list_models() == []
    assert sleeps == [0.5]


def test_refused_credentials(monkeypatch: pytest.MonkeyPatch, sleeps: list[float]) -> None:
    rest, _ = client(monkeypatch, [http_error("http://x", 401, {"error_code": "UNAUTHENTICATED"})], sleeps)

    with pytest.raises(RegistryError, match="refused the credentials"):
        rest.list_models()


def test_set_tag_posts_json(monkeypatch: pytest.MonkeyPatch, sleeps: list[float]) -> None:
    rest, server = client(monkeypatch, [Response(b"{}")], sleeps)

    rest.set_version_tag("fraud", "2", "modelwatch.stage", "production")

    (request,) = server.requests
    assert request.get_method() == "POST"
    assert request.full_url.endswith("/api/2.0/mlflow/model-versions/set-tag")
    assert json.loads(request.data) == {  # type: ignore[arg-type]
        "name": "fraud",
        "version": "2",
        "key": "modelwatch.stage",
        "value": "production",
    }


def test_downloads_a_version_artifact(
    monkeypatch: pytest.MonkeyPatch, sleeps: list[float], tmp_path: Path
) -> None:
    rest, server = client(monkeypatch, [Response(b"model bytes")], sleeps)

    path = rest.download_version_artifact("fraud", "2", "model.joblib", tmp_path)

    assert path.read_bytes() == b"model bytes"
    assert (
        "/model-versions/get-artifact?name=fraud&version=2&path=model.joblib" in server.requests[0].full_url
    )


def test_needs_an_http_uri() -> None:
    with pytest.raises(RegistryConfigurationError, match="http"):
        MlflowRestClient("sqlite:///x.db")
