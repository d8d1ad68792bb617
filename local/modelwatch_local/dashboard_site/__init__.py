"""The dashboards of ``dashboards/*.json`` drawn locally, without Grafana: a site on 127.0.0.1 and snapshots.

``page_model`` translates Grafana's JSON into what the pages draw, ``evaluation`` runs the panels'
queries against Prometheus (server-side), ``pages`` writes the HTML, ``server`` is the site and
``snapshots`` writes offline pages. A tool of the local harness, never shipped in a Lambda bundle.
"""

from modelwatch_local.dashboard_site.page_model import DashboardError
from modelwatch_local.dashboard_site.snapshots import write_snapshots
from modelwatch_local.paths import DASHBOARDS_DIR

__all__ = ["DASHBOARDS_DIR", "DashboardError", "write_snapshots"]
