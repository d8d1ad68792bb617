"""The Grafana provisioner custom resource against a fake Grafana HTTP server that records the calls."""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from infra.constructs.grafana import dashboards_hash
from modelwatch.metrics.grafana import DATASOURCE_UID

REPO = Path(__file__).resolve().parents[2]
DASHBOARDS = REPO / "dashboards"
AMP_ENDPOINT = "https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-123/"


@dataclass
class FakeGrafana:
    """Grafana's API as far as provisioning uses it; ``fail_dashboards`` answers 500 to upserts."""

    calls: list[tuple[str, str, str, Any]] = field(default_factory=list)
    datasources: dict[str, dict[str, Any]] = field(default_factory=dict)
    folders: set[str] = field(default_factory=set)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    fail_dashboards: bool = False
    url: str = ""

    def answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        if method == "GET" and path.startswith("/api/datasources/uid/"):
            found = self.datasources.get(path.rsplit("/", 1)[1])
            return (200, found) if found else (404, {"message": "Data source not found"})
        if method == "POST" and path == "/api/datasources":
            self.datasources[body["uid"]] = {**body, "id": len(self.datasources) + 1}
            return 200, {"message": "Datasource added"}
        if method == "PUT" and path.startswith("/api/datasources/uid/"):
            self.datasources[path.rsplit("/", 1)[1]] = body
            return 200, {"message": "Datasource updated"}
        if method == "GET" and path.startswith("/api/folders/"):
            uid = path.rsplit("/", 1)[1]
            return (200, {"uid": uid}) if uid in self.folders else (404, {"message": "folder not found"})
        if method == "POST" and path == "/api/folders":
            self.folders.add(body["uid"])
            return 200, {"uid": body["uid"]}
        if method == "POST" and path == "/api/dashboards/db":
            if self.fail_dashboards:
                return 500, {"message": "database is locked"}
            if body["folderUid"] not in self.folders:
                return 400, {"message": "folder not found"}
            self.dashboards[body["dashboard"]["uid"]] = body
            return 200, {"status": "success", "uid": body["dashboard"]["uid"]}
        return 404, {"message": "not found"}


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    fake = FakeGrafana()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            fake.calls.append((self.command, self.path, self.headers.get("Authorization", ""), body))
            status, answer = fake.answer(self.command, self.path, body)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = _serve

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()


class FakeGrafanaApi:
    """The boto3 ``grafana`` client's service-account calls, recorded."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def create_workspace_service_account(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("create_account", kwargs))
        return {"id": "sa-1", "name": kwargs["name"], "grafanaRole": kwargs["grafanaRole"]}

    def create_workspace_service_account_token(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("create_token", kwargs))
        return {"serviceAccountToken": {"id": "t-1", "key": "glsa_secret", "name": kwargs["name"]}}

    def delete_workspace_service_account(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("delete_account", kwargs))
        return {}


@pytest.fixture
def provisioner(monkeypatch: pytest.MonkeyPatch) -> tuple[ModuleType, FakeGrafanaApi]:
    path = REPO / "functions" / "grafana_provisioner" / "handler.py"
    name = f"grafana_provisioner_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    api = FakeGrafanaApi()
    monkeypatch.setattr(module, "DASHBOARDS_DIR", DASHBOARDS)
    monkeypatch.setattr(module.aws, "client", lambda service: api if service == "grafana" else None)
    return module, api


@dataclass
class Context:
    function_name: str = "grafana-provisioner"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:grafana-provisioner"
    aws_request_id: str = "req-1"


def _event(request_type: str, grafana: FakeGrafana) -> dict[str, Any]:
    return {
        "RequestType": request_type,
        "ResourceProperties": {
            "WorkspaceId": "g-abc123",
            "WorkspaceEndpoint": grafana.url,
            "PrometheusEndpoint": AMP_ENDPOINT,
            "Region": "eu-west-1",
            "DashboardsHash": dashboards_hash(DASHBOARDS),
        },
        **({"PhysicalResourceId": "g-abc123-modelwatch-dashboards"} if request_type != "Create" else {}),
    }


def test_create_provisions_the_datasource_and_every_dashboard_with_a_short_lived_token(
    grafana: FakeGrafana, provisioner: tuple[ModuleType, FakeGrafanaApi]
) -> None:
    module, api = provisioner

    response = module.handler(_event("Create", grafana), Context())

    assert [name for name, _ in api.calls] == ["create_account", "create_token", "delete_account"]
    assert api.calls[0][1]["grafanaRole"] == "ADMIN" and api.calls[0][1]["workspaceId"] == "g-abc123"
    assert 0 < api.calls[1][1]["secondsToLive"] <= 900
    assert {auth for _, _, auth, _ in grafana.calls} == {"Bearer glsa_secret"}
    datasource = grafana.datasources[DATASOURCE_UID]
    assert datasource["type"] == "prometheus" and datasource["url"] == AMP_ENDPOINT.rstrip("/")
    assert (
        datasource["jsonData"]["sigV4Auth"] is True and datasource["jsonData"]["sigV4Region"] == "eu-west-1"
    )
    files = {json.loads(p.read_text())["uid"] for p in DASHBOARDS.glob("*.json")}
    assert set(grafana.dashboards) == files and len(files) == 7
    for upsert in grafana.dashboards.values():
        assert upsert["overwrite"] is True and upsert["folderUid"] == "modelwatch"
        variable = next(v for v in upsert["dashboard"]["templating"]["list"] if v["name"] == "datasource")
        assert variable["current"]["value"] == DATASOURCE_UID
    assert response["PhysicalResourceId"] == "g-abc123-modelwatch-dashboards"
    assert response["Data"]["DataSource"] == "created"


def test_update_keeps_an_unchanged_datasource_and_upserts_the_dashboards_again(
    grafana: FakeGrafana, provisioner: tuple[ModuleType, FakeGrafanaApi]
) -> None:
    module, _ = provisioner
    module.handler(_event("Create", grafana), Context())
    grafana.calls.clear()

    response = module.handler(_event("Update", grafana), Context())

    methods = [(method, path) for method, path, _, _ in grafana.calls]
    assert ("POST", "/api/datasources") not in methods and ("POST", "/api/folders") not in methods
    assert methods.count(("POST", "/api/dashboards/db")) == 7
    assert response["Data"]["DataSource"] == "unchanged"


def test_a_grafana_error_fails_the_resource_and_still_deletes_the_service_account(
    grafana: FakeGrafana, provisioner: tuple[ModuleType, FakeGrafanaApi]
) -> None:
    module, api = provisioner
    grafana.fail_dashboards = True

    with pytest.raises(Exception, match="HTTP 500"):
        module.handler(_event("Create", grafana), Context())

    assert api.calls[-1][0] == "delete_account"


def test_delete_leaves_grafana_alone(
    grafana: FakeGrafana, provisioner: tuple[ModuleType, FakeGrafanaApi]
) -> None:
    module, api = provisioner

    response = module.handler(_event("Delete", grafana), Context())

    assert grafana.calls == [] and api.calls == []
    assert response["PhysicalResourceId"] == "g-abc123-modelwatch-dashboards"


def test_the_dashboards_hash_changes_when_a_dashboard_changes(tmp_path: Path) -> None:
    for path in DASHBOARDS.glob("*.json"):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    before = dashboards_hash(tmp_path)

    (tmp_path / "drift.json").write_text((tmp_path / "drift.json").read_text().replace("Drift", "Drift!", 1))

    assert dashboards_hash(tmp_path) != before
