"""``make up`` with ``GRAFANA_URL``: the local Grafana provisioned by the AWS provisioner's code.

No Grafana server can be installed here, so a stand-in HTTP server on 127.0.0.1 plays the
endpoints the provisioner calls, with the request and response shapes Grafana documents
(Data source API: ``GET /api/datasources/uid/:uid`` answers the data source or 404,
``POST /api/datasources`` ``{"datasource", "id", "message": "Datasource added", "name"}``;
Folder API: ``GET /api/folders/:uid`` the folder or 404 ``{"message": "folder not found"}``,
``POST /api/folders`` the folder with its ``url``; Dashboard API: ``POST /api/dashboards/db``
``{"id", "uid", "url": "<sub-path>/d/<uid>/<slug>", "status": "success", "version", "slug"}``,
412 when the dashboard exists and ``overwrite`` is false). It checks the credentials (basic auth
or a bearer token; 401 otherwise) and serves under a sub-path, as a Grafana with
``root_url = .../grafana`` and ``serve_from_sub_path`` does. References:
https://grafana.com/docs/grafana/latest/developers/http_api/data_source/,
https://grafana.com/docs/grafana/latest/developers/http_api/folder/,
https://grafana.com/docs/grafana/latest/developers/http_api/dashboard/ (legacy ``/api`` endpoints).
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from modelwatch_local.grafana import provision_local_grafana

from modelwatch.metrics.grafana import LOCAL_DATASOURCE_UID, load_dashboards

REPO = Path(__file__).resolve().parents[2]
DASHBOARDS = REPO / "dashboards"
SUB_PATH = "/grafana"
PROMETHEUS = "http://127.0.0.1:9090"


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


@dataclass
class StandInGrafana:
    """Grafana's HTTP API as far as the provisioner uses it, in memory."""

    user: str = "admin"
    password: str = "admin"
    token: str = "glsa_local_token"
    datasources: dict[str, dict[str, Any]] = field(default_factory=dict)
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    url: str = ""

    def authorised(self, header: str) -> bool:
        basic = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        return header in (f"Basic {basic}", f"Bearer {self.token}")

    def answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        if method == "GET" and path.startswith("/api/datasources/uid/"):
            found = self.datasources.get(path.rsplit("/", 1)[1])
            return (200, found) if found else (404, {"message": "Data source not found"})
        if method == "POST" and path == "/api/datasources":
            if any(d["name"] == body["name"] for d in self.datasources.values()):
                return 409, {"message": "data source with the same name already exists"}
            stored = {**body, "id": len(self.datasources) + 1, "orgId": 1, "readOnly": False}
            self.datasources[body["uid"]] = stored
            return 200, {
                "datasource": stored,
                "id": stored["id"],
                "message": "Datasource added",
                "name": body["name"],
            }
        if method == "PUT" and path.startswith("/api/datasources/uid/"):
            uid = path.rsplit("/", 1)[1]
            self.datasources[uid] = body
            return 200, {
                "datasource": body,
                "id": body.get("id"),
                "message": "Datasource updated",
                "name": body["name"],
            }
        if method == "GET" and path.startswith("/api/folders/"):
            found = self.folders.get(path.rsplit("/", 1)[1])
            return (200, found) if found else (404, {"message": "folder not found", "status": "not-found"})
        if method == "POST" and path == "/api/folders":
            if body["uid"] in self.folders:
                return 409, {"message": "a folder with the same uid already exists"}
            folder = {
                "id": len(self.folders) + 1,
                "uid": body["uid"],
                "title": body["title"],
                "url": f"{SUB_PATH}/dashboards/f/{body['uid']}/{_slug(body['title'])}",
                "version": 1,
            }
            self.folders[body["uid"]] = folder
            return 200, folder
        if method == "POST" and path == "/api/dashboards/db":
            board = body["dashboard"]
            if body.get("folderUid") not in self.folders:
                return 400, {"message": "folder not found"}
            if board.get("id") is not None:
                return 400, {"message": "dashboard id must be null to create or overwrite by uid"}
            if board["uid"] in self.dashboards and not body.get("overwrite"):
                return 412, {
                    "message": "A dashboard with the same uid already exists",
                    "status": "name-exists",
                }
            version = self.dashboards.get(board["uid"], {}).get("version", 0) + 1
            self.dashboards[board["uid"]] = {**body, "version": version}
            slug = _slug(board["title"])
            return 200, {
                "id": len(self.dashboards),
                "uid": board["uid"],
                "url": f"{SUB_PATH}/d/{board['uid']}/{slug}",
                "status": "success",
                "version": version,
                "slug": slug,
            }
        return 404, {"message": "Not found"}


@pytest.fixture
def grafana() -> Iterator[StandInGrafana]:
    stand_in = StandInGrafana()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            path = self.path.removeprefix(SUB_PATH)
            stand_in.calls.append((self.command, path))
            if not self.path.startswith(f"{SUB_PATH}/api/"):
                status, answer = 404, {"message": "Not found"}
            elif not stand_in.authorised(self.headers.get("Authorization", "")):
                status, answer = 401, {"message": "Invalid username or password"}
            else:
                status, answer = stand_in.answer(self.command, path, body)
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
    stand_in.url = f"http://127.0.0.1:{server.server_address[1]}{SUB_PATH}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield stand_in
    server.shutdown()
    server.server_close()


def test_every_dashboard_lands_in_the_folder_on_the_local_prometheus_with_basic_auth(
    grafana: StandInGrafana,
) -> None:
    outcome = provision_local_grafana(PROMETHEUS, {"GRAFANA_URL": grafana.url})  # admin/admin by default

    assert outcome is not None and outcome.ok, outcome
    expected = {board["uid"]: board for board in load_dashboards(DASHBOARDS)}
    assert len(expected) == 7
    # the data source: a plain Prometheus at the local one, queried by Grafana's server
    datasource = grafana.datasources[LOCAL_DATASOURCE_UID]
    assert (datasource["type"], datasource["url"], datasource["access"]) == (
        "prometheus",
        PROMETHEUS,
        "proxy",
    )
    assert "sigV4Auth" not in datasource["jsonData"]
    # every dashboard, in the modelwatch folder, its datasource variable on that data source
    assert set(grafana.dashboards) == set(expected)
    for uid, stored in grafana.dashboards.items():
        assert stored["folderUid"] == "modelwatch" and stored["overwrite"] is True
        (variable,) = [v for v in stored["dashboard"]["templating"]["list"] if v["type"] == "datasource"]
        assert variable["current"]["value"] == LOCAL_DATASOURCE_UID
        refs = _datasource_refs(stored["dashboard"]["panels"])
        assert refs and all(ref == {"type": "prometheus", "uid": "${datasource}"} for ref in refs), uid
        assert stored["dashboard"]["panels"] == expected[uid]["panels"]  # the very dashboards of the repo
    assert set(grafana.folders) == {"modelwatch"}
    # the printed URLs: where Grafana said each dashboard is, under its sub-path
    origin = grafana.url.removesuffix(SUB_PATH)
    for uid in expected:
        slug = _slug(expected[uid]["title"])
        assert any(line.endswith(f"{origin}{SUB_PATH}/d/{uid}/{slug}") for line in outcome.lines), (
            outcome.lines
        )
    assert "created" in outcome.lines[0] and "7 dashboards" in outcome.lines[0]


def test_a_second_up_overwrites_the_dashboards_and_keeps_the_data_source(grafana: StandInGrafana) -> None:
    env = {"GRAFANA_URL": grafana.url, "GRAFANA_TOKEN": grafana.token}
    first = provision_local_grafana(PROMETHEUS, env)
    second = provision_local_grafana(PROMETHEUS, env)

    assert first is not None and second is not None and first.ok and second.ok
    assert "unchanged" in second.lines[0]
    assert {stored["version"] for stored in grafana.dashboards.values()} == {2}
    assert [c for c in grafana.calls if c == ("POST", "/api/datasources")] == [("POST", "/api/datasources")]
    assert [c for c in grafana.calls if c == ("POST", "/api/folders")] == [("POST", "/api/folders")]


def test_a_prometheus_url_override_is_what_grafana_is_given(grafana: StandInGrafana) -> None:
    env = {"GRAFANA_URL": grafana.url, "GRAFANA_PROMETHEUS_URL": "http://host.docker.internal:9090/"}
    outcome = provision_local_grafana(PROMETHEUS, env)

    assert outcome is not None and outcome.ok
    assert grafana.datasources[LOCAL_DATASOURCE_UID]["url"] == "http://host.docker.internal:9090"


def test_wrong_credentials_are_one_line_and_nothing_is_provisioned(grafana: StandInGrafana) -> None:
    env = {"GRAFANA_URL": grafana.url, "GRAFANA_USER": "admin", "GRAFANA_PASSWORD": "wrong"}
    outcome = provision_local_grafana(PROMETHEUS, env)

    assert outcome is not None and not outcome.ok
    (line,) = outcome.lines
    assert line.startswith(f"Grafana {grafana.url}: not provisioned (") and "HTTP 401" in line
    assert not grafana.datasources and not grafana.dashboards


def test_a_grafana_that_is_not_there_is_one_line() -> None:
    with ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler) as probe:
        closed = f"http://127.0.0.1:{probe.server_address[1]}"  # bound, then closed: nothing listens
    outcome = provision_local_grafana(PROMETHEUS, {"GRAFANA_URL": closed})

    assert outcome is not None and not outcome.ok
    assert len(outcome.lines) == 1 and "not provisioned" in outcome.lines[0]


def test_without_grafana_url_nothing_happens_and_without_prometheus_it_says_so() -> None:
    assert provision_local_grafana(PROMETHEUS, {}) is None
    outcome = provision_local_grafana("", {"GRAFANA_URL": "http://127.0.0.1:3001"})
    assert outcome is not None and not outcome.ok and "without Prometheus" in outcome.lines[0]


def test_report_prints_the_failure_on_stderr_in_one_line_and_exits_cleanly(grafana: StandInGrafana) -> None:
    # What `make up` runs, in a process of its own: a refused login prints one line and returns.
    script = "from modelwatch_local.grafana import report_local_grafana; report_local_grafana('http://127.0.0.1:9090')"
    env = {"GRAFANA_URL": grafana.url, "GRAFANA_PASSWORD": "wrong", "PATH": "/usr/bin:/bin"}
    env["PYTHONPATH"] = f"{REPO}:{REPO / 'layers' / 'modelwatch'}:{REPO / 'local'}"
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)

    assert done.returncode == 0
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and "not provisioned" in done.stderr


def test_report_prints_the_urls_and_no_json_log_line(grafana: StandInGrafana) -> None:
    script = "from modelwatch_local.grafana import report_local_grafana; report_local_grafana('http://127.0.0.1:9090')"
    env = {"GRAFANA_URL": grafana.url, "PATH": "/usr/bin:/bin"}
    env["PYTHONPATH"] = f"{REPO}:{REPO / 'layers' / 'modelwatch'}:{REPO / 'local'}"
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 8 and lines[0].startswith("Grafana ")
    assert not any(line.lstrip().startswith("{") for line in lines), lines


def _datasource_refs(panels: list[dict[str, Any]]) -> list[Any]:
    refs: list[Any] = []
    for panel in panels:
        if "datasource" in panel:
            refs.append(panel["datasource"])
        refs += [target["datasource"] for target in panel.get("targets", []) if "datasource" in target]
        refs += _datasource_refs(panel.get("panels", []))
    return refs


def test_a_client_takes_a_token_or_basic_auth_not_both_nor_neither() -> None:
    from modelwatch.metrics.grafana import GrafanaClient

    with pytest.raises(ValueError, match="either a token or basic auth"):
        GrafanaClient("http://127.0.0.1:3001")
    with pytest.raises(ValueError, match="either a token or basic auth"):
        GrafanaClient("http://127.0.0.1:3001", "token", basic_auth=("admin", "admin"))
