"""Provisioning Grafana as code: a Prometheus data source and the dashboards, through Grafana's HTTP API.

Used by the ``grafana_provisioner`` custom resource of the observability stack, and by the
local stack when a Grafana server is on the machine (``GRAFANA_URL``): create the data source
if it is missing (updated when it differs), then upsert every ``dashboards/*.json`` into a
folder, overwriting earlier versions, and return where each dashboard is. In AWS the data
source is the AMP workspace, signed with SigV4 by the Grafana workspace's IAM role
(:func:`amp_datasource`); locally, the local Prometheus (:func:`prometheus_datasource`).
Access to an Amazon Managed Grafana workspace is a short-lived service-account token:
:func:`workspace_token` creates a service account and a token that lives minutes, and
deletes the account (and so the token) when provisioning ends, whatever happens. A local
Grafana takes a service-account token or basic auth.
"""

from __future__ import annotations

import base64
import copy
import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol
from urllib.parse import urlsplit

from modelwatch.observability import logger

DATASOURCE_UID: Final = "modelwatch-amp"
DATASOURCE_NAME: Final = "modelwatch AMP"
LOCAL_DATASOURCE_UID: Final = "modelwatch-prometheus"
LOCAL_DATASOURCE_NAME: Final = "modelwatch Prometheus"
FOLDER_UID: Final = "modelwatch"
FOLDER_TITLE: Final = "modelwatch"
# The export writes serving series every minute; Grafana's $__rate_interval is 4 x this.
SCRAPE_INTERVAL: Final = "60s"
# The local stack exports serving metrics every 15 s (``python -m modelwatch_local tick``).
LOCAL_SCRAPE_INTERVAL: Final = "15s"
TOKEN_SECONDS_TO_LIVE: Final = 900


class GrafanaError(RuntimeError):
    """Grafana answered an error; the message has the method, path, status and body."""


@dataclass(frozen=True)
class GrafanaResponse:
    status: int
    body: Any


class GrafanaTransport(Protocol):
    def request(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None
    ) -> GrafanaResponse: ...


class Urllib3GrafanaTransport:
    """HTTP with urllib3 (shipped with botocore in Lambda), with a timeout and no implicit retries."""

    def __init__(self, timeout: float = 15.0) -> None:
        import urllib3

        self._pool = urllib3.PoolManager(retries=False, timeout=timeout)

    def request(self, method: str, url: str, headers: dict[str, str], body: bytes | None) -> GrafanaResponse:
        response = self._pool.request(method, url, headers=headers, body=body)
        try:
            parsed = json.loads(response.data) if response.data else None
        except ValueError:
            parsed = response.data.decode(errors="replace")
        return GrafanaResponse(response.status, parsed)


class GrafanaClient:
    """The few Grafana HTTP API calls provisioning needs, authenticated with a bearer token or basic auth.

    Raises
    ------
    ValueError
        Neither or both of ``token`` and ``basic_auth`` are given.
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        transport: GrafanaTransport | None = None,
        *,
        basic_auth: tuple[str, str] | None = None,
    ) -> None:
        if (token is None) == (basic_auth is None):
            raise ValueError("a Grafana client needs either a token or basic auth (user, password)")
        self.base_url = base_url.rstrip("/")
        if token is not None:
            self._authorization = f"Bearer {token}"
        else:
            assert basic_auth is not None
            pair = f"{basic_auth[0]}:{basic_auth[1]}".encode()
            self._authorization = f"Basic {base64.b64encode(pair).decode()}"
        self._transport = transport or Urllib3GrafanaTransport()

    def _call(self, method: str, path: str, body: Any = None, allow: tuple[int, ...] = ()) -> GrafanaResponse:
        headers = {"Authorization": self._authorization, "Accept": "application/json"}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body).encode()
        response = self._transport.request(method, f"{self.base_url}{path}", headers, data)
        if not 200 <= response.status < 300 and response.status not in allow:
            raise GrafanaError(f"{method} {path}: HTTP {response.status}: {str(response.body)[:500]}")
        return response

    def get_datasource(self, uid: str) -> dict[str, Any] | None:
        response = self._call("GET", f"/api/datasources/uid/{uid}", allow=(404,))
        return None if response.status == 404 else dict(response.body)

    def create_datasource(self, datasource: dict[str, Any]) -> None:
        self._call("POST", "/api/datasources", datasource)

    def update_datasource(self, uid: str, datasource: dict[str, Any]) -> None:
        self._call("PUT", f"/api/datasources/uid/{uid}", datasource)

    def ensure_folder(self, uid: str, title: str) -> None:
        if self._call("GET", f"/api/folders/{uid}", allow=(404,)).status == 404:
            self._call("POST", "/api/folders", {"uid": uid, "title": title})

    def upsert_dashboard(self, dashboard: dict[str, Any], folder_uid: str, message: str) -> str:
        """Create or overwrite ``dashboard``; return its path in Grafana (``/d/<uid>/<slug>``), or ""."""
        body = {"dashboard": dashboard, "folderUid": folder_uid, "overwrite": True, "message": message}
        answer = self._call("POST", "/api/dashboards/db", body).body
        return str(answer.get("url") or "") if isinstance(answer, dict) else ""

    def dashboard_url(self, path: str) -> str:
        """The browser URL of a dashboard path Grafana answered (it includes any sub-path of the server)."""
        if not path:
            return ""
        split = urlsplit(self.base_url)
        return f"{split.scheme}://{split.netloc}{path}"


def workspace_url(endpoint: str) -> str:
    """Return the base URL of a Grafana workspace from its endpoint (a host name, or a URL)."""
    return endpoint if endpoint.startswith(("https://", "http://")) else f"https://{endpoint}"


def amp_datasource(workspace_url: str, region: str) -> dict[str, Any]:
    """Return the Grafana data source of an AMP workspace, signed with the Grafana workspace's role.

    ``workspace_url`` is the AMP workspace's Prometheus endpoint
    (``https://aps-workspaces.<region>.amazonaws.com/workspaces/<id>/``).
    """
    return {
        "uid": DATASOURCE_UID,
        "name": DATASOURCE_NAME,
        "type": "prometheus",
        "access": "proxy",
        "url": workspace_url.rstrip("/"),
        "isDefault": True,
        "jsonData": {
            "httpMethod": "POST",
            "sigV4Auth": True,
            "sigV4AuthType": "ec2_iam_role",
            "sigV4Region": region,
            "timeInterval": SCRAPE_INTERVAL,
        },
    }


def prometheus_datasource(prometheus_url: str) -> dict[str, Any]:
    """Return the Grafana data source of a plain Prometheus (the local stack's), queried by Grafana's server.

    ``prometheus_url`` must be reachable from the Grafana server (``access: proxy``), e.g.
    ``http://127.0.0.1:9090`` when both run on one machine.
    """
    return {
        "uid": LOCAL_DATASOURCE_UID,
        "name": LOCAL_DATASOURCE_NAME,
        "type": "prometheus",
        "access": "proxy",
        "url": prometheus_url.rstrip("/"),
        "isDefault": True,
        "jsonData": {"httpMethod": "POST", "timeInterval": LOCAL_SCRAPE_INTERVAL},
    }


def load_dashboards(directory: Path) -> list[dict[str, Any]]:
    """Return every ``*.json`` dashboard of ``directory``, sorted by file name.

    Raises
    ------
    ValueError
        A file is not JSON or has no ``uid``, naming the file.
    """
    dashboards = []
    for path in sorted(directory.glob("*.json")):
        try:
            board = json.loads(path.read_text())
        except ValueError as error:
            raise ValueError(f"{path.name}: not valid JSON: {error}") from None
        if not isinstance(board, dict) or not board.get("uid"):
            raise ValueError(f"{path.name}: a dashboard needs a 'uid'")
        dashboards.append(board)
    return dashboards


def with_default_datasource(dashboard: dict[str, Any], uid: str, name: str) -> dict[str, Any]:
    """Return a copy whose ``datasource`` variable opens on the given data source; ``id`` removed."""
    board = copy.deepcopy(dashboard)
    board.pop("id", None)
    for variable in board.get("templating", {}).get("list", []):
        if variable.get("type") == "datasource":
            variable["current"] = {"selected": True, "text": name, "value": uid}
    return board


@dataclass
class ProvisionResult:
    """What provisioning did."""

    datasource: str = ""
    dashboards: list[str] = field(default_factory=list)
    urls: dict[str, str] = field(default_factory=dict)  # uid: the browser URL Grafana gave it ("" if none)


def provision(
    client: GrafanaClient,
    datasource: dict[str, Any],
    dashboards: Sequence[dict[str, Any]],
    *,
    folder_uid: str = FOLDER_UID,
    folder_title: str = FOLDER_TITLE,
    message: str = "provisioned by modelwatch",
) -> ProvisionResult:
    """Create or update the data source, then upsert every dashboard into the folder.

    Raises
    ------
    GrafanaError
        Grafana refused a call (the message names it).
    """
    result = ProvisionResult()
    existing = client.get_datasource(datasource["uid"])
    if existing is None:
        client.create_datasource(datasource)
        result.datasource = "created"
    elif any(existing.get(k) != v for k, v in datasource.items() if k != "jsonData") or any(
        existing.get("jsonData", {}).get(k) != v for k, v in datasource["jsonData"].items()
    ):
        client.update_datasource(datasource["uid"], {**existing, **datasource})
        result.datasource = "updated"
    else:
        result.datasource = "unchanged"
    client.ensure_folder(folder_uid, folder_title)
    for dashboard in dashboards:
        board = with_default_datasource(dashboard, datasource["uid"], datasource["name"])
        path = client.upsert_dashboard(board, folder_uid, message)
        result.dashboards.append(str(board["uid"]))
        result.urls[str(board["uid"])] = client.dashboard_url(path)
    logger.info(
        "grafana provisioned", extra={"datasource": result.datasource, "dashboards": result.dashboards}
    )
    return result


@contextmanager
def workspace_token(
    grafana_api: Any,
    workspace_id: str,
    name: str,
    seconds_to_live: int = TOKEN_SECONDS_TO_LIVE,
    clock: Callable[[], float] = time.time,
) -> Iterator[str]:
    """Yield a short-lived admin token of an Amazon Managed Grafana workspace; delete its account after.

    ``grafana_api`` is a boto3 ``grafana`` client. The service account is named ``name`` plus
    a time suffix, so a retried provisioning never collides with a leftover one.
    """
    account = grafana_api.create_workspace_service_account(
        workspaceId=workspace_id, grafanaRole="ADMIN", name=f"{name}-{int(clock())}"
    )
    try:
        token = grafana_api.create_workspace_service_account_token(
            workspaceId=workspace_id,
            serviceAccountId=account["id"],
            name=f"{name}-token",
            secondsToLive=seconds_to_live,
        )
        yield str(token["serviceAccountToken"]["key"])
    finally:
        grafana_api.delete_workspace_service_account(workspaceId=workspace_id, serviceAccountId=account["id"])
