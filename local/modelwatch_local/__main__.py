"""``python -m modelwatch_local up|down|demo|load|chaos|dashboards``: the local stack from the Makefile."""

from __future__ import annotations

import argparse
import sys
import time

from modelwatch_local.grafana import report_local_grafana
from modelwatch_local.log_files import SERVICE_LOGS, logs_dir
from modelwatch_local.paths import cli_env_file
from modelwatch_local.processes import StackError
from modelwatch_local.stack import load_running_stack, start_stack, start_ticker, stop_stack


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "load":
        from modelwatch_local.load.run import main as load_main

        return load_main(argv[1:])
    if argv and argv[0] == "chaos":
        from modelwatch_local.chaos.run import main as chaos_main

        return chaos_main(argv[1:])
    if argv and argv[0] == "dashboards":
        from modelwatch_local.dashboard_site.command import main as dashboards_main

        return dashboards_main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m modelwatch_local")
    parser.add_argument("command", choices=["up", "down", "demo", "tick"])
    parser.add_argument("--state-dir", default=".local")
    parser.add_argument("--requests", type=int, default=2000, help="demo: number of requests")
    parser.add_argument("--moto-port", type=int, default=5100)
    parser.add_argument("--api-port", type=int, default=8000)
    parser.add_argument("--prometheus-port", type=int, default=9090)
    parser.add_argument("--mlflow-port", type=int, default=5000)
    parser.add_argument("--dashboards-port", type=int, default=3000, help="the dashboard site's port")
    parser.add_argument("--every", type=float, default=15.0, help="tick: seconds between metrics exports")
    args = parser.parse_args(argv)
    try:
        if args.command == "demo":
            from modelwatch_local.demo import run_demo

            return run_demo(
                requests=args.requests,
                state_dir=args.state_dir,
                moto_port=args.moto_port,
                api_port=args.api_port,
                prometheus_port=args.prometheus_port,
                mlflow_port=args.mlflow_port,
                dashboards_port=args.dashboards_port,
            )
        if args.command == "tick":
            return _tick(args.state_dir, args.every)
        if args.command == "up":
            from modelwatch_local.demo import MODEL, SERVICES, publish_demo_model
            from modelwatch_local.report import Report

            report = Report(1, sys.stdout, sys.stderr)
            with report.progress("starting the local stack", len(SERVICES), "services") as bar:
                stack = start_stack(
                    [MODEL],
                    state_dir=args.state_dir,
                    moto_port=args.moto_port,
                    api_port=args.api_port,
                    prometheus_port=args.prometheus_port,
                    mlflow_port=args.mlflow_port,
                    dashboards_port=args.dashboards_port,
                    on_ready=report.tick(bar, {key: f"{label} ready" for key, label in SERVICES.items()}),
                )
            publish_demo_model(stack, version="0", seed=0)
            start_ticker(stack)
            print(f"prediction API   {stack.api_url}  (docs {stack.api_url}/docs)")
            print(f"AWS stand-in     {stack.moto_url}  (moto_server: S3, Firehose, SQS, EventBridge)")
            print(f"Prometheus       {stack.prometheus_url}  (serving metrics exported every 15 s)")
            print(f"Dashboards       {stack.dashboards_url}  (dashboards/*.json drawn against Prometheus)")
            report_local_grafana(stack.prometheus_url)  # only with GRAFANA_URL set
            print(
                f"MLflow           {stack.mlflow_url}  (tracking URI and UI: export MLFLOW_TRACKING_URI=...)"
            )
            print(
                f"try: curl -s -X POST {stack.api_url}/v1/models/{MODEL}/predict "
                '-H \'content-type: application/json\' -d \'{"instances": [{"amount": 120.0, '
                '"merchant_risk": 0.2, "hour": 3, "account_age_days": 30, "is_foreign": true, '
                '"channel": "online"}]}\''
            )
            print(
                f"SQL              . {cli_env_file(stack.state_dir)} && modelwatch sql "
                f"\"SELECT version, count(*) AS n FROM events WHERE model = '{MODEL}' GROUP BY version\""
            )
            print(f"logs             {logs_summary(stack.state_dir)}")
            print("stop with: make down")
            return 0
        running = load_running_stack(args.state_dir)
        if running is None:
            print("no local stack is running", file=sys.stderr)
            return 0
        stop_stack(running, keep_lake=True)
        print("local stack stopped")
        print(
            f"what it captured stays queryable: . {cli_env_file(running.state_dir)} "
            "&& modelwatch sql --no-sync ..."
        )
        return 0
    except StackError as error:
        print(f"modelwatch: error: {error}", file=sys.stderr)
        return 2


def logs_summary(state_dir: str) -> str:
    """Where the stack's processes log: ``.local/logs/ (moto_server.log, api.log, ...)``."""
    from modelwatch_local.report import shown_path

    names = ", ".join(f"{name}.log" for name in SERVICE_LOGS.values())
    return f"{shown_path(logs_dir(state_dir))}/ ({names}: one file per process)"


# The job dispatcher's schedule in AWS (infra.constants.JOB_DISPATCH_EVERY_MINUTES).
DISPATCH_EVERY_SECONDS = 300.0


def _tick(state_dir: str, every: float) -> int:
    """Export serving metrics every ``every`` seconds, as the one-minute schedule does in AWS, and
    run the job dispatcher (then the jobs it queued) every five minutes, as its schedule does."""
    from modelwatch_local.scheduler import LocalScheduler

    stack = load_running_stack(state_dir)
    if stack is None:
        print("modelwatch: error: no local stack is running", file=sys.stderr)
        return 2
    scheduler = LocalScheduler(stack)
    dispatched_at = 0.0
    while True:
        try:
            scheduler.export_metrics()
        except Exception as error:  # keep ticking; the next export catches up
            print(f"metrics export failed: {error}", file=sys.stderr, flush=True)
        if time.monotonic() - dispatched_at >= DISPATCH_EVERY_SECONDS:
            dispatched_at = time.monotonic()
            try:
                scheduler.run_due_jobs()
            except Exception as error:  # the next dispatch catches up (at most 3 windows)
                print(f"job dispatch failed: {error}", file=sys.stderr, flush=True)
        time.sleep(every)


if __name__ == "__main__":
    sys.exit(main())
