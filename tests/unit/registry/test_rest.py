"""The light REST client: requests it makes, retries with backoff, typed errors; no socket opened."""

from __future__ import annotations

import http.client
import io
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from modelwatch.registry import (
    ArtifactNotFoundError,
    ModelNotFoundError,
    RegistryError,
    TrackingServerUnavailable,
    VersionNotFoundError,
)
from modelwatch.registry import rest as rest_module
from modelwatch.registry.errors import RegistryConfigurationError
from modelwatch.registry.rest import MlflowRestClient
from tests.unit.registry.fakes import FakeServer, Response, http_error, ok


@pytest.fixture
def sleeps() -> list[float]:
    return []


def client(monkeypatch: pytest.MonkeyPatch, answers: list[Any], sleeps: list[float], **kwargs: Any) -> Any:
    server = FakeServer(answers)
    monkeypatch.setattr(rest_module, "urlopen", server)
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
            ok({"model_versions": [{"version": "2"}, {"version": "10"}, {"version": "1"}]}),
            http_error(url, 404, missing),
            http_error(url, 404, missing),
        ],
        sleeps,
    )

    with pytest.raises(VersionNotFoundError, match=r"no version '9' \(versions: 1, 2, 10\)"):
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


# -- the calls registration and promotion make ----------------------------------------------------

VERSION = {
    "name": "fraud",
    "version": "3",
    "source": "mlflow-artifacts:/1/abc/artifacts/model",
    "run_id": "abc",
    "status": "READY",
}
RUN = {
    "run": {
        "info": {"run_id": "abc", "experiment_id": "1", "artifact_uri": "mlflow-artifacts:/1/abc/artifacts"}
    }
}


def sent(server: FakeServer, index: int) -> Any:
    body = server.bodies[index]
    assert body is not None
    return json.loads(body)


def test_a_version_by_alias_comes_from_the_alias_route(
    monkeypatch: pytest.MonkeyPatch, sleeps: list[float]
) -> None:
    rest, server = client(
        monkeypatch, [ok({"model_version": {**VERSION, "aliases": ["production"]}})], sleeps
    )

    version = rest.get_version("fraud", "production")

    assert (version.version, version.aliases) == ("3", ("production",))
    assert (
        "/api/2.0/mlflow/registered-models/alias?name=fraud&alias=production" in server.requests[0].full_url
    )


def test_an_unknown_alias_is_a_missing_version_listing_the_versions(
    monkeypatch: pytest.MonkeyPatch, sleeps: list[float]
) -> None:
    unknown_alias = {
        "error_code": "INVALID_PARAMETER_VALUE",
        "message": "Registered model alias canary not found.",
    }
    rest, _ = client(
        monkeypatch,
        [
            http_error("http://x", 400, unknown_alias),
            ok({"registered_model": MODEL}),
            ok({"model_versions": [{"version": "1"}], "next_page_token": "p2"}),
            ok({"model_versions": [{"version": "2"}]}),
        ],
        sleeps,
    )

    with pytest.raises(VersionNotFoundError, match=r"no version 'canary' \(versions: 1, 2\)"):
        rest.get_version("fraud", "canary")


def test_create_or_tag_model_creates_or_tags_the_existing_one(
    monkeypatch: pytest.MonkeyPatch, sleeps: list[float]
) -> None:
    exists = {
        "error_code": "RESOURCE_ALREADY_EXISTS",
        "message": "Registered Model (name=fraud) already exists.",
    }
    rest, server = client(monkeypatch, [ok({}), http_error("http://x", 400, exists), ok({})], sleeps)

    rest.create_or_tag_model("fraud", {"modelwatch.managed": "true"})
    rest.create_or_tag_model("fraud", {"modelwatch.managed": "true"})

    assert server.requests[0].full_url.endswith("/registered-models/create")
    assert sent(server, 0) == {"name": "fraud", "tags": [{"key": "modelwatch.managed", "value": "true"}]}
    assert server.requests[2].full_url.endswith("/registered-models/set-tag")
    assert sent(server, 2) == {"name": "fraud", "key": "modelwatch.managed", "value": "true"}


def test_other_create_errors_are_raised(monkeypatch: pytest.MonkeyPatch, sleeps: list[float]) -> None:
    rest, _ = client(
        monkeypatch, [http_error("http://x", 400, {"error_code": "INVALID_PARAMETER_VALUE"})], sleeps
    )

    with pytest.raises(RegistryError, match="HTTP 400 INVALID_PARAMETER_VALUE"):
        rest.create_or_tag_model("fraud", {})


def test_create_version_waits_until_it_is_ready(monkeypatch: pytest.MonkeyPatch, sleeps: list[float]) -> None:
    pending = {**VERSION, "status": "PENDING_REGISTRATION"}
    rest, server = client(
        monkeypatch,
        [ok({"model_version": pending}), ok({"model_version": pending}), ok({"model_version": VERSION})],
        sleeps,
        poll_interval=2.0,
    )

    version = rest.create_version(
        "fraud", "mlflow-artifacts:/1/abc/artifacts/model", "abc", {"modelwatch.stage": "development"}, "v3"
    )

    assert version.version == "3"
    assert sent(server, 0) == {
        "name": "fraud",
        "source": "mlflow-artifacts:/1/abc/artifacts/model",
        "run_id": "abc",
        "tags": [{"key": "modelwatch.stage", "value": "development"}],
        "description": "v3",
    }
    assert [r.full_url.split("?")[0].rsplit("/", 1)[-1] for r in server.requests] == ["create", "get", "get"]
    assert sleeps == [2.0]  # one look right away, then one every poll interval


def test_create_version_reports_a_failed_registration(
    monkeypatch: pytest.MonkeyPatch, sleeps: list[float]
) -> None:
    failed = {**VERSION, "status": "FAILED_REGISTRATION", "status_message": "copy failed"}
    rest, _ = client(monkeypatch, [ok({"model_version": failed})], sleeps)

    with pytest.raises(RegistryError, match="FAILED_REGISTRATION: copy failed"):
        rest.create_version("fraud", "s", "abc", {})


def test_create_version_gives_up_after_the_wait(monkeypatch: pytest.MonkeyPatch, sleeps: list[float]) -> None:
    pending = {**VERSION, "status": "PENDING_REGISTRATION"}
    now = [0.0]

    def tick(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    server = FakeServer([ok({"model_version": pending}) for _ in range(10)])
    monkeypatch.setattr(rest_module, "urlopen", server)
    rest = MlflowRestClient(
        "http://mlflow.test:5000", sleep=tick, clock=lambda: now[0], await_creation_for=5, poll_interval=2
    )

    with pytest.raises(RegistryError, match="still PENDING_REGISTRATION after 5 s"):
        rest.create_version("fraud", "s", "abc", {})
    assert sum(sleeps) <= 8


def test_aliases_are_set_and_deleted(monkeypatch: pytest.MonkeyPatch, sleeps: list[float]) -> None:
    rest, server = client(monkeypatch, [ok({}), ok({})], sleeps)

    rest.set_alias("fraud", "production", "3")
    rest.delete_alias("fraud", "staging")

    first, second = server.requests
    assert (first.get_method(), second.get_method()) == ("POST", "DELETE")
    assert first.full_url.endswith("/api/2.0/mlflow/registered-models/alias")
    assert sent(server, 0) == {"name": "fraud", "alias": "production", "version": "3"}
    assert sent(server, 1) == {"name": "fraud", "alias": "staging"}


def test_the_experiment_is_found_or_created(monkeypatch: pytest.MonkeyPatch, sleeps: list[float]) -> None:
    missing = {"error_code": "RESOURCE_DOES_NOT_EXIST"}
    exists = {"error_code": "RESOURCE_ALREADY_EXISTS"}
    rest, server = client(
        monkeypatch,
        [
            ok({"experiment": {"experiment_id": "7"}}),
            http_error("http://x", 404, missing),
            ok({"experiment_id": "8"}),
            http_error("http://x", 404, missing),
            http_error("http://x", 400, exists),  # created meanwhile by another registration
            ok({"experiment": {"experiment_id": "9"}}),
        ],
        sleeps,
    )

    assert rest.get_or_create_experiment("modelwatch-registry") == "7"
    assert rest.get_or_create_experiment("modelwatch-registry") == "8"
    assert rest.get_or_create_experiment("modelwatch-registry") == "9"
    assert "experiments/get-by-name?experiment_name=modelwatch-registry" in server.requests[0].full_url
    assert sent(server, 2) == {"name": "modelwatch-registry"}


def test_a_run_is_created_gets_metrics_and_ends(monkeypatch: pytest.MonkeyPatch, sleeps: list[float]) -> None:
    rest, server = client(monkeypatch, [ok(RUN), ok({}), ok({})], sleeps)

    run = rest.create_run("1", "register-fraud", {"modelwatch.model_name": "fraud"})
    rest.log_metric(run.run_id, "auc", 0.91)
    rest.finish_run(run.run_id, "FAILED")

    assert (run.run_id, run.experiment_id, run.artifact_uri) == (
        "abc",
        "1",
        "mlflow-artifacts:/1/abc/artifacts",
    )
    created, metric, ended = (sent(server, i) for i in range(3))
    assert created["run_name"] == "register-fraud" and created["experiment_id"] == "1"
    assert created["tags"] == [{"key": "modelwatch.model_name", "value": "fraud"}]
    assert {k: metric[k] for k in ("run_id", "key", "value", "step")} == {
        "run_id": "abc",
        "key": "auc",
        "value": 0.91,
        "step": 0,
    }
    assert (ended["status"], ended["run_id"]) == ("FAILED", "abc") and ended["end_time"] > 0
    assert [r.full_url.rsplit("/", 1)[-1] for r in server.requests] == ["create", "log-metric", "update"]


def test_run_metrics_and_a_missing_run(monkeypatch: pytest.MonkeyPatch, sleeps: list[float]) -> None:
    metrics = {"metrics": [{"key": "auc", "value": 0.9, "step": 0}, {"key": "f1", "value": 0.5}]}
    rest, _ = client(
        monkeypatch,
        [
            ok({"run": {**RUN["run"], "data": metrics}}),
            http_error("http://x", 404, {"error_code": "RESOURCE_DOES_NOT_EXIST"}),
        ],
        sleeps,
    )

    assert rest.get_run_metrics("abc") == {"auc": 0.9, "f1": 0.5}
    with pytest.raises(RegistryError, match="run nope not found"):
        rest.get_run_metrics("nope")


def test_artifacts_are_uploaded_file_by_file_through_the_proxy(
    monkeypatch: pytest.MonkeyPatch, sleeps: list[float], tmp_path: Path
) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "model.joblib").write_bytes(b"model bytes")
    (tmp_path / "sub" / "input schema.json").write_text("{}")
    rest, server = client(monkeypatch, [ok(RUN), ok({}), http_error("http://x", 503, {}), ok({})], sleeps)

    rest.log_artifacts("abc", tmp_path, "model")

    urls = [r.full_url for r in server.requests[1:]]
    proxy = "http://mlflow.test:5000/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts/model"
    assert urls == [
        f"{proxy}/model.joblib",
        f"{proxy}/sub/input%20schema.json",
        f"{proxy}/sub/input%20schema.json",
    ]
    assert {r.get_method() for r in server.requests[1:]} == {"PUT"}
    assert server.bodies[1:] == [b"model bytes", b"{}", b"{}"]  # the retry sends the whole file again
    upload = server.requests[1]
    assert upload.get_header("Content-length") == "11"
    assert upload.get_header("Authorization") == "Basic YW5hOnMzY3JldA=="
    assert sleeps == [0.5]


def test_artifacts_the_proxy_cannot_reach_are_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, sleeps: list[float], tmp_path: Path
) -> None:
    elsewhere = {"run": {"info": {**RUN["run"]["info"], "artifact_uri": "s3://artifacts/1/abc/artifacts"}}}
    rest, _ = client(monkeypatch, [ok(elsewhere), ok(elsewhere)], sleeps)

    with pytest.raises(
        RegistryConfigurationError, match=r"run abc keeps its artifacts at 's3://.*cannot reach"
    ):
        rest.log_artifacts("abc", tmp_path, "model")
    with pytest.raises(RegistryConfigurationError, match="--artifacts-destination"):
        rest.download_run_artifacts("abc", "model", tmp_path)


def test_run_artifacts_download_as_a_tree(
    monkeypatch: pytest.MonkeyPatch, sleeps: list[float], tmp_path: Path
) -> None:
    rest, server = client(
        monkeypatch,
        [
            ok(RUN),
            ok({"files": [{"path": "model.joblib", "is_dir": False}, {"path": "extra", "is_dir": True}]}),
            Response(b"model bytes"),
            ok({"files": [{"path": "notes.txt", "is_dir": False, "file_size": 2}]}),
            Response(b"hi"),
        ],
        sleeps,
    )

    local = rest.download_run_artifacts("abc", "model", tmp_path)

    assert local == tmp_path / "model"
    assert (local / "model.joblib").read_bytes() == b"model bytes"
    assert (local / "extra" / "notes.txt").read_bytes() == b"hi"
    listing = server.requests[1].full_url
    assert (
        listing
        == "http://mlflow.test:5000/api/2.0/mlflow-artifacts/artifacts?path=1%2Fabc%2Fartifacts%2Fmodel"
    )
    assert server.requests[2].full_url.endswith(
        "/mlflow-artifacts/artifacts/1/abc/artifacts/model/model.joblib"
    )


def test_a_single_run_file_and_a_missing_one(
    monkeypatch: pytest.MonkeyPatch, sleeps: list[float], tmp_path: Path
) -> None:
    rest, _ = client(
        monkeypatch,
        [ok(RUN), ok({}), Response(b"model bytes"), ok(RUN), ok({}), http_error("http://x", 404, {})],
        sleeps,
    )

    local = rest.download_run_artifacts("abc", "out/model.joblib", tmp_path)
    with pytest.raises(ArtifactNotFoundError):
        rest.download_run_artifacts("abc", "out/nothing.joblib", tmp_path)

    assert local == tmp_path / "model.joblib" and local.read_bytes() == b"model bytes"


def test_an_unsafe_listing_is_refused(
    monkeypatch: pytest.MonkeyPatch, sleeps: list[float], tmp_path: Path
) -> None:
    rest, _ = client(monkeypatch, [ok(RUN), ok({"files": [{"path": "../../etc", "is_dir": True}]})], sleeps)

    with pytest.raises(RegistryError, match="unsafe artifact path"):
        rest.download_run_artifacts("abc", "", tmp_path)


def test_version_files_come_from_the_version_download_uri(
    monkeypatch: pytest.MonkeyPatch, sleeps: list[float], tmp_path: Path
) -> None:
    rest, server = client(
        monkeypatch,
        [
            ok({"artifact_uri": "mlflow-artifacts:/1/abc/artifacts/model"}),
            ok({"files": [{"path": "model.joblib", "is_dir": False}]}),
            Response(b"model bytes"),
            ok({"artifact_uri": "runs:/abc/model"}),
            ok(RUN),
            ok({}),
            Response(b"{}"),
        ],
        sleeps,
    )

    directory = rest.download_version_files("fraud", "3", "", tmp_path / "all")
    schema = rest.download_version_files("fraud", "4", "input_schema.json", tmp_path / "one")

    assert (directory / "model.joblib").read_bytes() == b"model bytes"
    assert "model-versions/get-download-uri?name=fraud&version=3" in server.requests[0].full_url
    assert schema.read_bytes() == b"{}"
    assert server.requests[6].full_url.endswith("/artifacts/1/abc/artifacts/model/input_schema.json")


def test_a_bearer_token(monkeypatch: pytest.MonkeyPatch) -> None:
    server = FakeServer([ok({"registered_models": []})])
    monkeypatch.setattr(rest_module, "urlopen", server)

    MlflowRestClient("https://mlflow.test", token="t0k", timeout=2.5).list_models()

    assert server.requests[0].get_header("Authorization") == "Bearer t0k"
    assert server.timeouts == [2.5]


# -- redirects: credentials stay on their origin ---------------------------------------------------


def _redirect(url: str, to: str, code: int = 302) -> urllib.request.Request | None:
    request = urllib.request.Request(url, headers={"Authorization": "Basic YW5hOnMzY3JldA=="})
    handler = rest_module.SameOriginCredentials()
    return handler.redirect_request(request, io.BytesIO(), code, "Found", http.client.HTTPMessage(), to)


@pytest.mark.parametrize(
    "to",
    [
        "http://mlflow.test:5000/other",
        "http://MLFLOW.test:5000/other",
    ],
)
def test_a_same_origin_redirect_keeps_the_credentials(to: str) -> None:
    redirected = _redirect("http://mlflow.test:5000/api", to)

    assert redirected is not None
    assert redirected.get_header("Authorization") == "Basic YW5hOnMzY3JldA=="


def test_default_ports_are_the_same_origin() -> None:
    redirected = _redirect("https://mlflow.test/api", "https://mlflow.test:443/other", 307)

    assert redirected is not None and redirected.has_header("Authorization")


@pytest.mark.parametrize(
    "to",
    [
        "http://elsewhere.test:5000/api",  # host
        "http://mlflow.test:5001/api",  # port
        "https://mlflow.test:5000/api",  # scheme
        "https://mlflow.test/api",  # an upgrade is another origin too
    ],
)
def test_a_redirect_to_another_origin_drops_the_credentials(to: str) -> None:
    redirected = _redirect("http://mlflow.test:5000/api", to)

    assert redirected is not None
    assert redirected.full_url == to
    assert not redirected.has_header("Authorization")


def test_an_https_to_http_redirect_is_refused() -> None:
    with pytest.raises(rest_module.InsecureRedirectError, match="never downgraded"):
        _redirect("https://mlflow.test/api", "http://mlflow.test/api")
