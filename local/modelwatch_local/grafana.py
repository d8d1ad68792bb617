"""A real Grafana server on the machine (``GRAFANA_URL``), provisioned by ``make up`` like AWS's.

The very code of the ``grafana_provisioner`` custom resource (``modelwatch.metrics.grafana``)
creates a Prometheus data source pointing at the local Prometheus, the ``modelwatch`` folder,
and every ``dashboards/*.json``. Credentials: ``GRAFANA_TOKEN`` (a service-account token, Admin
or Editor), else basic auth ``GRAFANA_USER``/``GRAFANA_PASSWORD`` (default ``admin``/``admin``,
Grafana's first-run login). ``GRAFANA_PROMETHEUS_URL`` overrides the Prometheus URL the Grafana
server is given (it must reach it: a Grafana in a container does not see the host's 127.0.0.1).
A Grafana that cannot be provisioned is reported in one line; the stack runs on without it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from modelwatch.metrics.grafana import (
    GrafanaClient,
    GrafanaTransport,
    load_dashboards,
    prometheus_datasource,
    provision,
)
from modelwatch.observability import logger
from modelwatch_local.paths import DASHBOARDS_DIR

DEFAULT_USER = "admin"
DEFAULT_PASSWORD = "admin"  # Grafana's first-run default, which it asks to change at first login


@dataclass
class GrafanaOutcome:
    """What provisioning a local Grafana did: lines to print, and whether it succeeded."""

    ok: bool
    lines: list[str] = field(default_factory=list)


def provision_local_grafana(
    prometheus_url: str,
    environ: Mapping[str, str] | None = None,
    dashboards_dir: Path = DASHBOARDS_DIR,
    transport: GrafanaTransport | None = None,
) -> GrafanaOutcome | None:
    """Provision the Grafana at ``GRAFANA_URL`` with the local Prometheus and every dashboard.

    Parameters
    ----------
    prometheus_url
        The local Prometheus ("" when the stack runs without one: nothing can be provisioned).
    environ
        Where ``GRAFANA_*`` are read (default: the process environment).
    dashboards_dir
        The dashboards to provision (default: the repository's ``dashboards/``).
    transport
        The HTTP transport of the Grafana client (default: urllib3).

    Returns
    -------
    GrafanaOutcome or None
        None without ``GRAFANA_URL``; otherwise the lines to print (the dashboards' URLs, or one
        line saying why Grafana was not provisioned). Never raises for a failing Grafana.
    """
    env = os.environ if environ is None else environ
    url = env.get("GRAFANA_URL", "").strip()
    if not url:
        return None
    if not prometheus_url:
        return GrafanaOutcome(False, [f"Grafana {url}: not provisioned: the stack runs without Prometheus"])
    token = env.get("GRAFANA_TOKEN", "").strip()
    try:
        if token:
            client = GrafanaClient(url, token, transport)
        else:
            user = env.get("GRAFANA_USER") or DEFAULT_USER
            password = env.get("GRAFANA_PASSWORD") or DEFAULT_PASSWORD
            client = GrafanaClient(url, transport=transport, basic_auth=(user, password))
        dashboards = load_dashboards(dashboards_dir)
        datasource = prometheus_datasource(env.get("GRAFANA_PROMETHEUS_URL") or prometheus_url)
        result = provision(client, datasource, dashboards)
    except Exception as error:  # a Grafana that is down, refuses the login, or answers oddly
        reason = " ".join(str(error).split())[:300] or type(error).__name__
        return GrafanaOutcome(
            False, [f"Grafana {url}: not provisioned ({reason}); the stack runs without it"]
        )
    titles = {str(board["uid"]): str(board.get("title", board["uid"])) for board in dashboards}
    lines = [
        f"Grafana          {url}  (data source {datasource['name']!r} {result.datasource}, "
        f"{len(result.dashboards)} dashboards in folder 'modelwatch')"
    ]
    lines += [
        f"  {titles[uid]:<40} {result.urls.get(uid) or '(no URL answered)'}" for uid in result.dashboards
    ]
    return GrafanaOutcome(True, lines)


def report_local_grafana(prometheus_url: str) -> None:
    """Provision ``GRAFANA_URL`` if set and print the outcome (a failure on stderr, in one line)."""
    level = logger.log_level
    logger.setLevel("WARNING")  # the lines below say what happened; the library's JSON log is for Lambda
    try:
        outcome = provision_local_grafana(prometheus_url)
    finally:
        logger.setLevel(level)
    if outcome is not None:
        print("\n".join(outcome.lines), file=sys.stdout if outcome.ok else sys.stderr, flush=True)
