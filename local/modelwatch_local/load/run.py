"""Run the load profile with Locust, reconcile what was captured, and write the report.

``python -m modelwatch_local load`` (``make load``) starts its own local stack on free ports
(moto_server and the API; no Prometheus, no MLflow), publishes the demo model, runs the profile
headless for a bounded time, reads every captured event back through ``modelwatch.stores``
(``LocalStack.events()``), the dead-letter queue and the API's log, and writes a JSON report.
``--ramp`` then finds the knee of the stack and of a bare FastAPI app serving the same model
(``ramp.py``). ``--host`` runs the same profile against a deployed API instead (SigV4 or JWT).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelwatch_local.load.ledger import LedgerEntry, read_ledger, summarize
from modelwatch_local.load.reconcile import Captured, read_bucket, read_dead_letters, read_log, reconcile
from modelwatch_local.load.stages import Stage, format_stages
from modelwatch_local.processes import StackError, spawn

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
MODEL = "fraud_detection"


@dataclass(frozen=True)
class LocustRun:
    """One headless run of the profile: where it went, with what shape, and its ledger."""

    host: str
    stages: list[Stage]
    ledger: Path
    log: Path
    run_id: str = field(default_factory=lambda: f"load-{uuid.uuid4().hex[:8]}")
    mix: str = "full"
    user_rate: float = 0.0
    max_batch: int = 20
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return sum(stage.seconds for stage in self.stages)

    @property
    def stop_file(self) -> Path:
        return self.ledger.with_suffix(".stop")

    def stop(self) -> None:
        """Ask the run to stop now: its users finish the request they are in, then Locust exits."""
        self.stop_file.touch()


def start_locust(run: LocustRun) -> Any:
    """Start Locust headless on ``run`` in a process of its own (gevent stays out of this one)."""
    run.ledger.parent.mkdir(parents=True, exist_ok=True)
    run.ledger.unlink(missing_ok=True)
    run.stop_file.unlink(missing_ok=True)
    env = {
        "MODELWATCH_LOAD_STOP_FILE": str(run.stop_file),
        "MODELWATCH_LOAD_LEDGER": str(run.ledger),
        "MODELWATCH_LOAD_STAGES": format_stages(run.stages),
        "MODELWATCH_LOAD_RUN_ID": run.run_id,
        "MODELWATCH_LOAD_MIX": run.mix,
        "MODELWATCH_LOAD_USER_RATE": str(run.user_rate),
        "MODELWATCH_LOAD_MAX_BATCH": str(run.max_batch),
        "MODELWATCH_LOAD_MODEL": MODEL,
        "PYTHONUNBUFFERED": "1",
        **run.extra_env,
    }
    args = [
        sys.executable, "-m", "locust",
        "-f", str(LOCUSTFILE),
        "--headless",
        "--host", run.host,
        "--only-summary",
        "--loglevel", "WARNING",
        "--exit-code-on-error", "0",
        "--stop-timeout", "60",
    ]  # fmt: skip
    return spawn(args, env, run.log)


def run_locust(run: LocustRun) -> list[LedgerEntry]:
    """Run the profile to its end and return its ledger.

    Raises
    ------
    StackError
        Locust exited with an error or overran its stages by more than a minute and a half.
    """
    process = start_locust(run)
    return finish_locust(run, process)


def finish_locust(run: LocustRun, process: Any, timeout: float | None = None) -> list[LedgerEntry]:
    """Wait for a started run to end (after its stages, or ``run.stop()``) and return its ledger."""
    timeout = run.seconds + 90 if timeout is None else timeout
    try:
        code = process.wait(timeout=timeout)
    except Exception:
        process.kill()
        process.wait()
        raise StackError(f"locust did not stop within {timeout:.0f} s (log: {run.log})") from None
    if code not in (0, 1):
        tail = run.log.read_text(errors="replace")[-2000:] if run.log.exists() else ""
        raise StackError(f"locust exited with code {code}; log {run.log}:\n{tail}")
    return read_ledger(run.ledger)


def machine_load() -> dict[str, Any]:
    """The machine's CPUs and load averages (1, 5, 15 min), to read the figures against."""
    one, five, fifteen = os.getloadavg()
    return {"cpus": os.cpu_count(), "load_average": [round(one, 2), round(five, 2), round(fifteen, 2)]}


def captured_everywhere(stack: Any) -> tuple[Captured, Captured, Captured]:
    """What the local stack captured: S3 (through ``modelwatch.stores``), the dead-letter queue, the log."""
    s3 = read_bucket(stack.events(), stack.storage(), stack.models)
    dlq = read_dead_letters(stack.boto3_client("sqs"), stack.dlq_url)
    log = read_log([stack.log_file("api")])
    return s3, dlq, log


@dataclass
class LoadOptions:
    """What ``python -m modelwatch_local load`` was asked to do."""

    duration: float = 20.0
    users: int = 8
    user_rate: float = 5.0
    max_batch: int = 20
    ramp: bool = False
    ramp_users: list[int] = field(default_factory=lambda: [1, 2, 4, 8, 16])
    ramp_step_seconds: float = 4.0
    report: Path = Path(".load/report.json")
    state_dir: Path = Path(".load")
    host: str | None = None
    auth: str = "none"
    events_bucket: str | None = None
    dlq_url: str | None = None
    settle_seconds: float = 90.0
    n_estimators: int = 50


def run_load(options: LoadOptions) -> dict[str, Any]:
    """Run the load test (and the ramp) and return the report (also written to ``options.report``)."""
    started = datetime.now(UTC)
    report: dict[str, Any] = {
        "report": "modelwatch load test",
        "started_at": started.isoformat(),
        "machine_before": machine_load(),
        "profile": {
            "locustfile": str(LOCUSTFILE.relative_to(LOCUSTFILE.parents[3])),
            "users": options.users,
            "user_rate_per_second": options.user_rate,
            "offered_requests_per_second": options.users * options.user_rate or None,
            "seconds": options.duration,
            "mix": {"predict_one": 6, "predict_batch": 2, "invalid": 1, "feedback": 1},
            "max_batch": options.max_batch,
        },
    }
    if options.host:
        report.update(_run_deployed(options))
    else:
        report.update(_run_local(options))
    report["machine_after"] = machine_load()
    report["verdict"] = _verdict(report)
    options.report.parent.mkdir(parents=True, exist_ok=True)
    options.report.write_text(json.dumps(report, indent=2))
    return report


def _run_local(options: LoadOptions) -> dict[str, Any]:
    from modelwatch_local.demo import publish_demo_model
    from modelwatch_local.processes import free_port
    from modelwatch_local.stack import start_stack, stop_stack

    state = options.state_dir.resolve()
    stack = start_stack(
        [MODEL],
        state_dir=state / "stack",
        moto_port=free_port(),
        api_port=free_port(),
        prometheus_port=None,
        mlflow_port=None,
    )
    try:
        publish_demo_model(stack, version="1", seed=0, n_estimators=options.n_estimators)
        _wait_served(stack.api_url)
        run = LocustRun(
            host=stack.api_url,
            stages=[Stage(options.users, options.duration)],
            ledger=state / "ledger.jsonl",
            log=state / "locust.log",
            user_rate=options.user_rate,
            max_batch=options.max_batch,
        )
        entries = run_locust(run)
        reading = time.perf_counter()
        s3, dlq, log = captured_everywhere(stack)
        result: dict[str, Any] = {
            "target": {"kind": "local stack", "api": stack.api_url, "aws": stack.moto_url},
            "load": summarize(entries),
            "reconciliation": {
                **reconcile(entries, s3, dlq, log),
                "read_back_seconds": round(time.perf_counter() - reading, 2),
                "source": "S3 through modelwatch.stores (LocalStack.events()), the capture DLQ, api.log",
            },
        }
        if options.ramp:
            from modelwatch_local.load.ramp import compare_knees

            artifact = next((Path(stack.state_dir) / "artifacts").glob("*.joblib"))
            result["ramp"] = compare_knees(
                stack.api_url, artifact, state, options.ramp_users, options.ramp_step_seconds
            )
        return result
    finally:
        stop_stack(stack)


def _wait_served(api_url: str, timeout: float = 30.0) -> None:
    import httpx

    from modelwatch_local.fraud import synthetic_transactions

    instance = synthetic_transactions(1, seed=5)[0][0]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            response = httpx.post(
                f"{api_url}/v1/models/{MODEL}/predict", json={"instances": [instance]}, timeout=10
            )
            if response.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise StackError(f"the API at {api_url} did not serve {MODEL} within {timeout:.0f} s")


def _run_deployed(options: LoadOptions) -> dict[str, Any]:
    """The profile against a deployed API, signed; reconciled when the events bucket is given."""
    assert options.host is not None
    state = options.state_dir.resolve()
    run = LocustRun(
        host=options.host.rstrip("/"),
        stages=[Stage(options.users, options.duration)],
        ledger=state / "ledger.jsonl",
        log=state / "locust.log",
        user_rate=options.user_rate,
        max_batch=options.max_batch,
        extra_env={"MODELWATCH_LOAD_AUTH": options.auth},
    )
    entries = run_locust(run)
    result: dict[str, Any] = {
        "target": {"kind": "deployed API", "api": run.host, "auth": options.auth},
        "load": summarize(entries),
    }
    if options.events_bucket:
        import boto3

        from modelwatch.stores.events import EventStore
        from modelwatch.stores.objects import S3Storage

        time.sleep(options.settle_seconds)  # Firehose buffers up to 60 s before it writes to S3
        storage = S3Storage(boto3.client("s3"))
        s3 = read_bucket(EventStore(storage, options.events_bucket), storage, [MODEL])
        dlq = read_dead_letters(boto3.client("sqs"), options.dlq_url) if options.dlq_url else Captured()
        result["reconciliation"] = {
            **reconcile(entries, s3, dlq, Captured()),
            "source": f"s3://{options.events_bucket} and the capture DLQ (the log is CloudWatch's)",
        }
    return result


def _verdict(report: dict[str, Any]) -> dict[str, Any]:
    reasons = []
    load = report.get("load", {})
    if not load.get("requests"):
        reasons.append("no request was sent")
    reconciliation = report.get("reconciliation")
    if reconciliation is not None:
        if reconciliation["lost"]:
            reasons.append(f"{reconciliation['lost']} events lost")
        if reconciliation["internal_errors"]:
            reasons.append(f"{reconciliation['internal_errors']} answers were 500")
    errors = {s: n for s, n in load.get("errors_by_status", {}).items() if s != "0"}
    if errors:
        reasons.append(f"unexpected answers: {errors}")
    return {"ok": not reasons, "reasons": reasons}


def parse_options(argv: list[str]) -> LoadOptions:
    parser = argparse.ArgumentParser(prog="python -m modelwatch_local load", description=__doc__)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load (default 20)")
    parser.add_argument("--users", type=int, default=8, help="simulated clients (default 8)")
    parser.add_argument(
        "--user-rate", type=float, default=5.0, help="requests per second per client; 0: no wait (default 5)"
    )
    parser.add_argument("--max-batch", type=int, default=20, help="largest batch of instances (default 20)")
    parser.add_argument("--ramp", action="store_true", help="also find the knee, against a bare app")
    parser.add_argument(
        "--ramp-users", default="1,2,4,8,16", help="clients at each ramp step (default 1,2,4,8,16)"
    )
    parser.add_argument("--ramp-step-seconds", type=float, default=4.0, help="seconds per ramp step")
    parser.add_argument("--report", type=Path, default=Path(".load/report.json"))
    parser.add_argument("--state-dir", type=Path, default=Path(".load"))
    parser.add_argument("--host", help="a deployed API's URL instead of the local stack")
    parser.add_argument("--auth", choices=["none", "sigv4", "jwt"], default="none")
    parser.add_argument("--events-bucket", help="deployed: reconcile against this events bucket")
    parser.add_argument("--dlq-url", help="deployed: and this capture dead-letter queue")
    parser.add_argument("--settle-seconds", type=float, default=90.0, help="deployed: wait for Firehose")
    args = parser.parse_args(argv)
    return LoadOptions(
        duration=args.duration,
        users=args.users,
        user_rate=args.user_rate,
        max_batch=args.max_batch,
        ramp=args.ramp,
        ramp_users=[int(u) for u in args.ramp_users.split(",")],
        ramp_step_seconds=args.ramp_step_seconds,
        report=args.report,
        state_dir=args.state_dir,
        host=args.host,
        auth=args.auth,
        events_bucket=args.events_bucket,
        dlq_url=args.dlq_url,
        settle_seconds=args.settle_seconds,
    )


def main(argv: list[str]) -> int:
    options = parse_options(argv)
    try:
        report = run_load(options)
    except StackError as error:
        print(f"modelwatch: error: {error}", file=sys.stderr)
        return 2
    print(format_summary(report))
    print(f"report: {options.report}")
    return 0 if report["verdict"]["ok"] else 1


def format_summary(report: dict[str, Any]) -> str:
    """The report's headline figures, for the terminal."""
    load = report["load"]
    latency = load["latency_ms"]
    lines = [
        f"== modelwatch load: {report['target']['kind']} ({report['target']['api']}) ==",
        f"requests      {load['requests']} in {load['seconds']} s: {load['requests_per_second']} per second",
        f"latency       p50 {latency['p50']} ms, p95 {latency['p95']} ms, p99 {latency['p99']} ms",
        f"statuses      {load['statuses']} (unexpected: {load['errors_by_status'] or 'none'})",
    ]
    reconciliation = report.get("reconciliation")
    if reconciliation:
        for kind in ("predictions", "rejections", "labels"):
            tally = reconciliation[kind]
            lines.append(
                f"{kind:<13} {tally['expected']} expected: {tally['captured']} in S3, "
                f"{tally['dead_lettered']} dead-lettered, {tally['logged']} logged, {tally['lost']} lost"
            )
    ramp = report.get("ramp")
    if ramp:
        lines.append(
            f"knee          stack {ramp['stack']['knee_requests_per_second']} req/s, bare app "
            f"{ramp['bare']['knee_requests_per_second']} req/s (ratio {ramp['knee_ratio']}; "
            f"p99 threshold: {ramp['threshold_rule']})"
        )
    machine = report["machine_before"]
    lines.append(f"machine       {machine['cpus']} CPUs, load average {machine['load_average']} before")
    lines.append(
        "verdict       "
        + ("ok" if report["verdict"]["ok"] else "FAILED: " + "; ".join(report["verdict"]["reasons"]))
    )
    return "\n".join(lines)
