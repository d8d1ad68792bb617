"""Ramp mode: more and more clients until p99 latency passes its threshold; the stack next to a bare app.

Each step runs so many closed-loop clients (each sends its next request when answered) for so
many seconds, with predictions only (one instance, or a batch), so both targets get the same
requests. The *knee* is the throughput of the last step whose p99 stays under the threshold.

The threshold is **5 x the p50 of the single-client step of the same target**: with one client
there is no queue, so its p50 is the service time; a p99 five times the service time means a slow
request spends most of its time queued behind others, i.e. the server is saturated. Being relative
to each target's own service time, it finds each one's saturation point on a host whose speed
varies by a third or more from one minute to the next; the ratio of the two knees (stack / bare)
is the figure to read, not either number alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from modelwatch_local.load.ledger import LedgerEntry, quantile
from modelwatch_local.load.run import LocustRun, machine_load, run_locust
from modelwatch_local.load.stages import Stage
from modelwatch_local.processes import HOST, free_port, spawn, terminate, wait_http

THRESHOLD_FACTOR: Final = 5.0
THRESHOLD_FLOOR_MS: Final = 10.0  # below this, timer noise and the client's own scheduling dominate
THRESHOLD_RULE: Final = (
    f"p99 > {THRESHOLD_FACTOR:g} x the single-client p50 (at least {THRESHOLD_FLOOR_MS:g} ms)"
)


def analyse_ramp(entries: list[LedgerEntry], stages: list[Stage]) -> dict[str, Any]:
    """Per step: clients, throughput, p50/p99; the threshold; the knee (None when never passed)."""
    steps = []
    for index, stage in enumerate(stages):
        answered = [e for e in entries if e.stage == index and e.status == 200]
        latencies = [e.ms for e in answered]
        span = (max(e.end for e in answered) - min(e.t for e in answered)) if len(answered) > 1 else 0.0
        steps.append({
            "clients": stage.users,
            "requests": len(answered),
            "errors": sum(1 for e in entries if e.stage == index and e.status != 200),
            "requests_per_second": round(len(answered) / span, 1) if span > 0 else None,
            "p50_ms": quantile(latencies, 0.5),
            "p99_ms": quantile(latencies, 0.99),
        })  # fmt: skip
    base = steps[0]["p50_ms"] if steps and steps[0]["p50_ms"] is not None else None
    threshold = max(THRESHOLD_FACTOR * base, THRESHOLD_FLOOR_MS) if base is not None else None
    knee: dict[str, Any] | None = None
    passed_at: dict[str, Any] | None = None
    for step in steps:
        if step["p99_ms"] is None or threshold is None:
            continue
        if step["p99_ms"] > threshold:
            passed_at = step
            break
        knee = step
    rates = [s["requests_per_second"] for s in steps if s["requests_per_second"] is not None]
    return {
        "steps": steps,
        "threshold_ms": round(threshold, 2) if threshold is not None else None,
        "knee_requests_per_second": knee["requests_per_second"] if knee and passed_at else None,
        "knee_clients": knee["clients"] if knee and passed_at else None,
        "threshold_passed_at_clients": passed_at["clients"] if passed_at else None,
        "max_requests_per_second": max(rates) if rates else None,
    }


def ramp(host: str, label: str, state: Path, users: list[int], step_seconds: float) -> dict[str, Any]:
    """Ramp ``host`` through ``users`` clients, ``step_seconds`` each; return the analysis."""
    stages = [Stage(u, step_seconds) for u in users]
    run = LocustRun(
        host=host,
        stages=stages,
        ledger=state / f"ramp-{label}.jsonl",
        log=state / f"locust-ramp-{label}.log",
        mix="predict",
        user_rate=0.0,
        max_batch=8,
    )
    before = machine_load()
    entries = run_locust(run)
    return {**analyse_ramp(entries, stages), "machine_before": before, "machine_after": machine_load()}


def compare_knees(
    stack_url: str, artifact: Path, state: Path, users: list[int], step_seconds: float
) -> dict[str, Any]:
    """Ramp the stack, then a bare app serving ``artifact`` on a free port; their knees and ratios."""
    stack = ramp(stack_url, "stack", state, users, step_seconds)
    port = free_port()
    log = state / "bare-app.log"
    from modelwatch_local.stack import api_command

    process = spawn(
        api_command(port, "modelwatch_local.load.bare_app:app"),
        {"MODELWATCH_BARE_ARTIFACT": str(artifact)},
        log,
    )
    try:
        url = f"http://{HOST}:{port}"
        wait_http(f"{url}/openapi.json", process, "bare app", 60.0, log)
        bare = ramp(url, "bare", state, users, step_seconds)
    finally:
        terminate(process.pid)

    def ratio(a: float | None, b: float | None) -> float | None:
        return round(a / b, 3) if a is not None and b else None

    return {
        "threshold_rule": THRESHOLD_RULE,
        "step_seconds": step_seconds,
        "clients": users,
        "mix": "predictions only: one instance (3 in 4), batches of 2-8 (1 in 4)",
        "stack": stack,
        "bare": bare,
        "knee_ratio": ratio(stack["knee_requests_per_second"], bare["knee_requests_per_second"]),
        "max_throughput_ratio": ratio(stack["max_requests_per_second"], bare["max_requests_per_second"]),
        "single_client_p50_ratio": ratio(stack["steps"][0]["p50_ms"], bare["steps"][0]["p50_ms"]),
    }
