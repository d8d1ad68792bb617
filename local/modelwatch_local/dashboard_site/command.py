"""``python -m modelwatch_local dashboards``: serve the dashboard site, or write snapshots and print them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from modelwatch_local.dashboard_site.evaluation import QueryError
from modelwatch_local.dashboard_site.page_model import DashboardError, load_dashboards
from modelwatch_local.dashboard_site.server import DEFAULT_PORT
from modelwatch_local.paths import DASHBOARDS_DIR
from modelwatch_local.processes import HOST, port_free

DEFAULT_PROMETHEUS = f"http://{HOST}:9090"


def main(argv: list[str]) -> int:
    """Serve the site (until interrupted) or, with ``--snapshot DIR``, write one page per dashboard.

    Errors (a dashboard that cannot be drawn, a port in use, Prometheus not answering for a
    snapshot) are one line on stderr and exit code 2.
    """
    parser = argparse.ArgumentParser(
        prog="python -m modelwatch_local dashboards",
        description="The dashboards of dashboards/*.json drawn against a Prometheus, at http://127.0.0.1:PORT.",
    )
    parser.add_argument("--prometheus-url", default=DEFAULT_PROMETHEUS, help="default: %(default)s")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="default: %(default)s")
    parser.add_argument("--dashboards-dir", type=Path, default=DASHBOARDS_DIR, help="default: dashboards/")
    parser.add_argument("--snapshot", type=Path, metavar="DIR", help="write offline pages to DIR and exit")
    parser.add_argument(
        "--var",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a template variable's value for the snapshots (repeatable; VALUE 'All', or a|b for several)",
    )
    args = parser.parse_args(argv)
    try:
        load_dashboards(args.dashboards_dir)  # a dashboard the site cannot draw stops it here, named
        if args.snapshot is not None:
            return _snapshots(args.prometheus_url, args.snapshot, args.dashboards_dir, args.var)
        if not port_free(args.port):
            raise DashboardError(f"port {HOST}:{args.port} is in use (is a stack up? try `make down`)")
        from modelwatch_local.dashboard_site.server import serve

        print(f"dashboards at http://{HOST}:{args.port} (Prometheus {args.prometheus_url})", flush=True)
        serve(args.prometheus_url, port=args.port, dashboards_dir=args.dashboards_dir)
        return 0
    except (DashboardError, QueryError) as error:
        print(f"modelwatch: error: {error}", file=sys.stderr)
        return 2


def _snapshots(prometheus_url: str, out_dir: Path, dashboards_dir: Path, pairs: list[str]) -> int:
    from modelwatch_local.dashboard_site.evaluation import Prometheus
    from modelwatch_local.dashboard_site.snapshots import write_snapshots

    variables = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise DashboardError(f"--var {pair!r}: expected NAME=VALUE")
        variables[name] = value
    probe = Prometheus(prometheus_url, timeout=5.0)
    try:
        probe.query("vector(1)", at=0)
    finally:
        probe.close()
    for page in write_snapshots(prometheus_url, out_dir, dashboards_dir, variables=variables):
        print(page)
    return 0
