"""The rollout part of ``make demo``: a shadow test, a canary that climbs, a broken release rolled back.

Runs against the local stack once the registry demo has promoted a production version:

1. **shadow**: a retrained version (another seed and size, in :mod:`modelwatch_local.fraud`'s
   style) scores a copy of every request after the answer; the rollout job compares the two on
   the same requests (requests, errors, latency, agreement).
2. **canary**: the same version serves a stable, growing share of requests (20% -> 50% -> 100%,
   each step held a few seconds and a few dozen candidate requests, so it climbs in the demo's
   time); labels come back; the job prints the always-valid decision on error rate, latency and
   accuracy with its interval and sample sizes; at the last step the rollout is promoted.
3. **rollback**: a deliberately broken version (:class:`modelwatch_local.fraud.ForeignCardBug`:
   it raises on foreign-card transactions, so about a quarter of its requests fail while
   production answers them) goes out as a canary; the error-rate guardrail breaks, the rollout
   job sets its share to 0, ``RolloutRolledBack`` reaches the platform bus, and traffic is back
   on production.

The jobs run like the demo's other jobs: the demo invokes the rollout job's handler on demand
over a window it names (the traffic it just sent) instead of waiting for the dispatcher's
aligned windows to close. Serving follows the manifest the registry and the job write; the demo
checks that it has by sending a request whose id hashes into (or out of) the candidate's share.
"""

from __future__ import annotations

import json
import math
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from modelwatch.contracts import layout
from modelwatch.contracts.results import JobResult
from modelwatch.contracts.rollout import (
    VARIANTS,
    CanaryStep,
    Guardrails,
    Rollout,
    RolloutEvaluation,
    Variant,
    VariantWindow,
    WindowEvidence,
    assignment_point,
)
from modelwatch.registry import ModelRegistry
from modelwatch_local.fraud import (
    FRAUD_SCHEMA,
    TrainedModel,
    break_model,
    save_model,
    synthetic_transactions,
    train_fraud_model,
)
from modelwatch_local.monitoring_demo import send_labels
from modelwatch_local.paths import lake_dir
from modelwatch_local.scheduler import LocalScheduler
from modelwatch_local.stack import EVENTS_BUCKET, MODELS_BUCKET, PLATFORM_BUS, LocalStack

MODEL = "fraud_detection"
TRAINING_ROWS = 10_000
ALERTS_QUEUE = "modelwatch-demo-rollout-alerts"
ROLLED_BACK = "RolloutRolledBack"

# Small enough to climb in the demo's time; what a team would hold for hours is the default.
CANARY_STEPS = (
    CanaryStep(share=0.2, min_minutes=0.1, min_requests=25),
    CanaryStep(share=0.5, min_minutes=0.1, min_requests=25),
    CanaryStep(share=1.0, min_minutes=0.1, min_requests=25),
)
# Judged from 30 candidate requests on; latency only against an absolute limit (on a shared
# laptop a p99 ratio over a few dozen requests is noise), prediction drift with room for the
# small samples' own PSI.
GUARDRAILS = Guardrails(
    max_error_rate=0.05,
    max_p99_latency_ms=2000.0,
    max_latency_ratio=None,
    max_prediction_drift=0.5,
    metric_worse=True,
    min_requests=30,
)


@dataclass(frozen=True)
class SentRequest:
    """One predict request of the rollout phase, and what the API answered."""

    request_id: str
    labels: list[int]
    status: int
    latency_ms: float
    version: str | None
    variant: str | None


@dataclass
class RolloutTraffic:
    """The requests of one round of traffic."""

    requests: list[SentRequest] = field(default_factory=list)

    @property
    def variants(self) -> Counter[str]:
        return Counter(r.variant or "-" for r in self.requests if r.status == 200)

    @property
    def versions(self) -> Counter[str]:
        return Counter(r.version or "-" for r in self.requests if r.status == 200)

    @property
    def failed(self) -> int:
        return sum(1 for r in self.requests if r.status != 200)

    def labelled(self) -> list[tuple[str, list[int]]]:
        return [(r.request_id, r.labels) for r in self.requests if r.status == 200]

    def __iadd__(self, other: RolloutTraffic) -> RolloutTraffic:
        self.requests.extend(other.requests)
        return self


@dataclass
class RolloutPhase:
    """What one sub-phase did, for the summary, the exit code and the e2e test."""

    name: str
    rollout_id: str
    version: str
    prefix: str = "rollout"
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    traffic: RolloutTraffic = field(default_factory=RolloutTraffic)
    evaluations: list[RolloutEvaluation] = field(default_factory=list)
    shares: list[float] = field(default_factory=list)
    final_state: str = ""
    event_variants: dict[str, int] = field(default_factory=dict)

    @property
    def last(self) -> RolloutEvaluation | None:
        return self.evaluations[-1] if self.evaluations else None


@dataclass
class RolloutDemoResult:
    """The three sub-phases and whether each showed what it is for."""

    production_version: str
    shadow: RolloutPhase | None = None
    canary: RolloutPhase | None = None
    rollback: RolloutPhase | None = None
    alerts: list[dict[str, Any]] = field(default_factory=list)
    after_rollback: RolloutTraffic = field(default_factory=RolloutTraffic)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


# --- traffic ---------------------------------------------------------------------------------


def send_rollout_traffic(
    api_url: str,
    model: str,
    rows: Sequence[dict[str, Any]],
    labels: Sequence[int],
    requests: int,
    prefix: str,
    seed: int = 0,
    max_batch: int = 4,
    workers: int = 2,
) -> RolloutTraffic:
    """``requests`` valid predict requests (1 to ``max_batch`` rows each), each with its own request id.

    The request id is the rollout key (``x-request-id``), so which variant serves a request is the
    assignment hash of its id; the labels of each request's rows are kept for the feedback call.
    """
    rng = random.Random(seed)
    plan: list[tuple[str, list[dict[str, Any]], list[int]]] = []
    cursor = 0
    for number in range(requests):
        size = rng.randint(1, max_batch)
        indices = [(cursor + i) % len(rows) for i in range(size)]
        cursor += size
        request_id = f"{prefix}-{number:04d}-{uuid.uuid4().hex[:8]}"
        plan.append((request_id, [rows[i] for i in indices], [labels[i] for i in indices]))

    def send(client: httpx.Client, item: tuple[str, list[dict[str, Any]], list[int]]) -> SentRequest:
        request_id, batch, batch_labels = item
        started = time.perf_counter()
        response = client.post(
            f"/v1/models/{model}/predict", json={"instances": batch}, headers={"x-request-id": request_id}
        )
        elapsed = (time.perf_counter() - started) * 1000
        body = response.json() if response.status_code == 200 else {}
        return SentRequest(
            request_id=request_id,
            labels=batch_labels,
            status=response.status_code,
            latency_ms=elapsed,
            version=str(body["version"]) if "version" in body else None,
            variant=body.get("variant"),
        )

    traffic = RolloutTraffic()
    with httpx.Client(base_url=api_url, timeout=30.0) as client, ThreadPoolExecutor(workers) as pool:
        traffic.requests.extend(pool.map(lambda item: send(client, item), plan))
    return traffic


def _domestic_instance() -> dict[str, Any]:
    rows, _ = synthetic_transactions(50, seed=42)
    return next(row for row in rows if not row["is_foreign"])


def probe_request_id(rollout_id: str, low: float, high: float, prefix: str = "probe") -> str:
    """A request id whose assignment point in ``rollout_id`` falls in ``[low, high)``.

    Such a request is served by the candidate while the share is above ``high`` and by
    production while it is at or below ``low``: one answer tells which share serving applies.
    """
    for attempt in range(1_000_000):
        request_id = f"{prefix}-{attempt}"
        if low <= assignment_point(rollout_id, request_id) < high:
            return request_id
    raise RuntimeError(f"no request id hashes into [{low}, {high})")  # pragma: no cover


def wait_until_served(
    api_url: str,
    model: str,
    request_id: str,
    expect: Callable[[dict[str, Any]], bool],
    timeout: float = 60.0,
) -> float | None:
    """Send one (domestic-card) request with ``request_id`` until the answer satisfies ``expect``.

    Returns the seconds it took (the manifest's cache time in serving, plus loading the candidate),
    None on timeout.
    """
    instance = _domestic_instance()
    started = time.monotonic()
    with httpx.Client(base_url=api_url, timeout=30.0) as client:
        while time.monotonic() - started < timeout:
            response = client.post(
                f"/v1/models/{model}/predict",
                json={"instances": [instance]},
                headers={"x-request-id": request_id},
            )
            if response.status_code == 200 and expect(response.json()):
                return time.monotonic() - started
            time.sleep(0.25)
    return None


def manifest_ttl_seconds(stack: LocalStack) -> float:
    return float(stack.serving_env()["MODELWATCH_MANIFEST_TTL_SECONDS"])


# --- the platform bus ------------------------------------------------------------------------


def subscribe_to_rollbacks(stack: LocalStack) -> str:
    """A queue on the platform bus for ``RolloutRolledBack`` (as the notify function subscribes)."""
    sqs = stack.boto3_client("sqs")
    url: str = sqs.create_queue(QueueName=ALERTS_QUEUE)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events = stack.boto3_client("events")
    events.put_rule(
        Name="modelwatch-demo-rollout-alerts",
        EventBusName=PLATFORM_BUS,
        EventPattern=json.dumps({"source": ["modelwatch"], "detail-type": [ROLLED_BACK]}),
    )
    events.put_targets(
        Rule="modelwatch-demo-rollout-alerts", EventBusName=PLATFORM_BUS, Targets=[{"Id": "q", "Arn": arn}]
    )
    return url


def received_alerts(stack: LocalStack, queue_url: str, wait_seconds: float = 10.0) -> list[dict[str, Any]]:
    """The platform events that reached ``queue_url`` (waiting up to ``wait_seconds`` for the first)."""
    sqs = stack.boto3_client("sqs")
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + wait_seconds
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        )
        for message in messages:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        if (found and not messages) or time.monotonic() > deadline:
            return found


# --- the rollout job -------------------------------------------------------------------------


def _stored_result(stack: LocalStack, output: Any) -> JobResult:
    if isinstance(output, dict) and output.get("result_uri"):
        key = str(output["result_uri"]).removeprefix(f"s3://{EVENTS_BUCKET}/")
        body = stack.boto3_client("s3").get_object(Bucket=EVENTS_BUCKET, Key=key)["Body"].read()
        return JobResult.model_validate_json(body)
    return JobResult.model_validate(output)


def rollout_evidence(stack: LocalStack, model: str, rollout_id: str) -> dict[str, Any]:
    """The rollout job's state document of a rollout (its windows of evidence and latest evaluation)."""
    key = layout.rollout_evidence_key(model, rollout_id)
    try:
        body = stack.boto3_client("s3").get_object(Bucket=EVENTS_BUCKET, Key=key)["Body"].read()
    except Exception:  # no evaluation yet
        return {}
    document: dict[str, Any] = json.loads(body)
    return document


def _windows_of(document: dict[str, Any]) -> list[WindowEvidence]:
    windows = document.get("windows") or {}
    items = windows.values() if isinstance(windows, dict) else windows
    found = []
    for item in items:
        try:
            found.append(WindowEvidence.model_validate(item))
        except ValueError:
            continue
    return sorted(found, key=lambda w: w.window_start)


def evaluate_now(
    stack: LocalStack, scheduler: LocalScheduler, model: str, rollout_id: str, window_start: datetime
) -> tuple[RolloutEvaluation, list[WindowEvidence]]:
    """Run the rollout job over ``[window_start, now]`` (whole minutes) and read what it decided."""
    time.sleep(1.0)  # the window closes after the last event
    minutes = max(1, math.ceil((datetime.now(UTC) - window_start).total_seconds() / 60))
    result = _stored_result(stack, scheduler.run_job("rollout", model, window_start, minutes))
    document = rollout_evidence(stack, model, rollout_id)
    latest = document.get("latest")
    if latest is not None:
        evaluation = RolloutEvaluation.model_validate(latest)
    else:  # the result's details carry the evaluation too
        evaluation = RolloutEvaluation.model_validate(result.details.get("evaluation", result.details))
    return evaluation, _windows_of(document)


# --- printing --------------------------------------------------------------------------------


def _fmt(value: float | None, spec: str = ".1f") -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def _latest_window(windows: Sequence[WindowEvidence], variant: Variant) -> VariantWindow | None:
    for window in reversed(windows):
        figures = window.variants.get(variant)
        if figures is not None and figures.requests:
            return figures
    return None


def variant_table(evaluation: RolloutEvaluation, windows: Sequence[WindowEvidence], metric: str) -> list[str]:
    """The per-variant table: requests, errors, latency, labelled metric; then the agreement line."""
    header = (
        f"  {'variant':<11}{'version':>8}{'requests':>10}{'errors':>8}{'err rate':>10}"
        f"{'p50 ms':>8}{'p99 ms':>8}{'labelled':>10}{metric:>10}"
    )
    lines = [header]
    for variant in VARIANTS:
        totals = evaluation.totals.get(variant)
        if totals is None:
            continue
        latest = _latest_window(windows, variant)
        lines.append(
            f"  {variant:<11}{totals.version:>8}{totals.requests:>10}{totals.errors:>8}"
            f"{_fmt(totals.error_rate, '.1%'):>10}"
            f"{_fmt(latest.latency_p50_ms if latest else None):>8}{_fmt(totals.latency_p99_ms):>8}"
            f"{totals.labelled:>10}{_fmt(totals.metric_mean, '.4f'):>10}"
        )
    agreement = evaluation.agreement
    if agreement.pairs:
        lines.append(
            f"  agreement on the same instances: {agreement.pairs} pairs, "
            f"{_fmt(agreement.identical_share, '.1%')} identical decisions, mean |score difference| "
            f"{_fmt(agreement.mean_absolute_difference, '.4f')}"
        )
    if evaluation.prediction_drift is not None:
        lines.append(f"  prediction drift (PSI, candidate vs production): {evaluation.prediction_drift:.3f}")
    return lines


def decision_lines(evaluation: RolloutEvaluation, alpha: float) -> list[str]:
    """The always-valid comparisons: estimate, interval, sample sizes, decision."""
    lines = [f"  always-valid comparison (mSPRT, alpha {alpha:g}; candidate minus production):"]
    for name, test in evaluation.tests.items():
        interval = f"[{_fmt(test.low, '+.4f')}, {_fmt(test.high, '+.4f')}]"
        lines.append(
            f"    {name:<12} {_fmt(test.estimate, '+.4f'):>9}  interval {interval:<22} "
            f"n {test.n_candidate} vs {test.n_production}: {test.decision}"
        )
    return lines


def guardrail_lines(evaluation: RolloutEvaluation) -> list[str]:
    return [f"    {check.name:<18}{check.state:<10}{check.detail}" for check in evaluation.guardrails]


# --- SQL over what serving captured ----------------------------------------------------------


def captured_by_variant(stack: LocalStack, model: str, prefix: str, since: datetime) -> dict[str, int]:
    """Events and candidate failures of the requests whose id starts with ``prefix``, by variant.

    Read with the platform's SQL (DuckDB over the local bucket; Athena in AWS), as
    ``modelwatch sql`` would: ``{"production served": n, "candidate shadow": n, ...}``.
    """
    from modelwatch.stores.sql import DuckDBEngine, ObjectLake, Query, TableScan

    stack.wait_for_capture()
    stack.partition_deliveries()
    until = datetime.now(UTC) + timedelta(minutes=1)
    engine = DuckDBEngine(
        lake_dir(stack.state_dir), lake=ObjectLake(stack.storage(), EVENTS_BUCKET, lake_dir(stack.state_dir))
    )
    pattern = prefix.replace("'", "") + "-%"
    events = engine.run(
        Query(
            sql=(
                "SELECT coalesce(variant, 'production') AS variant, coalesce(served, true) AS served, "
                f"count(*) AS n FROM events WHERE model = '{model}' AND request_id LIKE '{pattern}' "
                "GROUP BY 1, 2"
            ),
            description="rollout demo: events by variant",
            scans=(TableScan("events", model, since, until),),
        )
    )
    rejected = engine.run(
        Query(
            sql=(
                f"SELECT count(*) AS n FROM rejected WHERE model = '{model}' "
                f"AND request_id LIKE '{pattern}' AND reason = 'candidate_failed'"
            ),
            description="rollout demo: candidate failures",
            scans=(TableScan("rejected", model, since, until),),
        )
    )
    counts = {
        f"{row['variant']} {'served' if row['served'] else 'shadow'}": int(row["n"]) for row in events.rows
    }
    failures = int(rejected.rows[0]["n"]) if rejected.rows else 0
    if failures:
        counts["candidate failed"] = failures
    return counts


# --- the phase -------------------------------------------------------------------------------


def _register(
    registry: ModelRegistry, stack: LocalStack, trained: TrainedModel, label: str, description: str
) -> str:
    rows, _ = synthetic_transactions(TRAINING_ROWS, seed=0)
    columns = {name: [row[name] for row in rows] for name in FRAUD_SCHEMA.feature_names}
    path = save_model(trained, Path(stack.state_dir) / "registry" / f"rollout-{label}.joblib")
    uri = registry.register_model(
        model_path=str(path),
        name=MODEL,
        tags={"algorithm": "gradient_boosting", "purpose": f"rollout demo: {label}"},
        flavor="sklearn",
        prediction_type="probability",
        input_schema=FRAUD_SCHEMA,
        training_data=columns,
        metrics={"auc": trained.auc},
        description=description,
    )
    return uri.rsplit("/", 1)[-1]


def _production_version(stack: LocalStack, model: str) -> str:
    from modelwatch.stores.manifests import ManifestStore

    read = ManifestStore(stack.storage(), MODELS_BUCKET).read(model, "production")
    assert read is not None  # no ETag given: a manifest or ManifestNotFound
    return read.manifest.version


def _rows(n: int, seed: int) -> tuple[list[dict[str, Any]], list[int]]:
    return synthetic_transactions(n, seed=seed)


def run_shadow(
    stack: LocalStack,
    scheduler: LocalScheduler,
    registry: ModelRegistry,
    version: str,
    say: Callable[[str], None],
    requests: int,
) -> RolloutPhase:
    rollout = registry.start_rollout(
        MODEL, version, mode="shadow", share=1.0, guardrails=GUARDRAILS, reason="make demo: shadow test"
    )
    phase = RolloutPhase("shadow", rollout.id, version, prefix="rollout-shadow")
    say(f"started shadow rollout {rollout.id}: version {version} scores a copy of every request")
    time.sleep(manifest_ttl_seconds(stack) + 1.0)  # serving re-reads the manifest (and loads the candidate)
    started = datetime.now(UTC) - timedelta(seconds=1)
    rows, labels = _rows(2000, seed=31)
    phase.traffic = send_rollout_traffic(stack.api_url, MODEL, rows, labels, requests, phase.prefix, seed=31)
    say(
        f"sent {len(phase.traffic.requests)} requests: answered by "
        + ", ".join(f"{v} ({n})" for v, n in sorted(phase.traffic.variants.items()))
        + " (shadow: callers only ever see production)"
    )
    evaluation, windows = evaluate_now(stack, scheduler, MODEL, rollout.id, started)
    phase.evaluations.append(evaluation)
    phase.event_variants = captured_by_variant(stack, MODEL, phase.prefix, phase.started_at)
    say(f"rollout job over the window: {evaluation.action}: {evaluation.reason}")
    for line in variant_table(evaluation, windows, rollout.metric.name):
        say(line)
    say(
        "  events captured: "
        + ", ".join(f"{k} {n}" for k, n in sorted(phase.event_variants.items()))
        + " (shadow predictions carry variant=candidate, served=false, and production's request id)"
    )
    stopped = registry.stop_rollout(MODEL, reason="shadow test done: the canary comes next")
    phase.final_state = getattr(stopped, "state", "stopped")
    return phase


def _follow(
    stack: LocalStack, rollout_id: str, share_before: float, share_after: float, say: Callable[[str], None]
) -> datetime:
    """Wait until serving routes by ``share_after``; return when the new share's evidence starts.

    Probes with a request id that hashes between the two shares: the candidate serves it only
    under the higher one, so one answer tells which share serving applies.
    """
    low, high = sorted((share_before, share_after))
    request_id = probe_request_id(rollout_id, low, high, prefix=f"probe-{rollout_id[:8]}-{high:g}")
    expected = "candidate" if share_after > share_before else "production"
    timeout = 10 * manifest_ttl_seconds(stack) + 30.0
    waited = wait_until_served(
        stack.api_url, MODEL, request_id, lambda body: body.get("variant") == expected, timeout
    )
    if waited is None:
        say(f"  FAILED: serving did not apply the share {share_after:.0%} within {timeout:.0f} s")
    else:
        say(
            f"  serving applies {share_after:.0%} {waited:.1f} s later (request {request_id} "
            f"answered by the {expected})"
        )
    return datetime.now(UTC)


def _canary_rounds(
    stack: LocalStack,
    scheduler: LocalScheduler,
    rollout: Rollout,
    phase: RolloutPhase,
    say: Callable[[str], None],
    requests_per_round: int,
    seed: int,
    max_rounds: int,
) -> list[WindowEvidence]:
    """Traffic, labels and one rollout job run per round, until the canary holds at its top or rolls back."""
    rows, labels = _rows(4000, seed=seed)
    share = rollout.share
    window_start = _follow(stack, rollout.id, 0.0, share, say)
    windows: list[WindowEvidence] = []
    for round_number in range(max_rounds):
        phase.shares.append(share)
        sent = send_rollout_traffic(
            stack.api_url,
            MODEL,
            rows,
            labels,
            requests_per_round,
            f"{phase.prefix}-{round_number}",
            seed=seed + round_number,
        )
        phase.traffic += sent
        send_labels(stack.api_url, MODEL, sent.labelled())
        evaluation, windows = evaluate_now(stack, scheduler, MODEL, rollout.id, window_start)
        phase.evaluations.append(evaluation)
        answered = ", ".join(f"{v} {n}" for v, n in sorted(sent.variants.items()))
        say(
            f"  at {share:.0%}: {len(sent.requests)} requests answered by {answered}; labels sent; "
            f"rollout job: {evaluation.action.upper()}: {evaluation.reason}"
        )
        if evaluation.action == "advance":
            window_start = _follow(stack, rollout.id, share, evaluation.share_after, say)
            share = evaluation.share_after
        elif evaluation.action == "rollback":
            phase.shares.append(evaluation.share_after)
            _follow(stack, rollout.id, share, evaluation.share_after, say)
            break
        elif share >= rollout.steps[-1].share or evaluation.action == "none":
            break
    return windows


def run_canary(
    stack: LocalStack,
    scheduler: LocalScheduler,
    registry: ModelRegistry,
    version: str,
    say: Callable[[str], None],
    requests_per_round: int,
    max_rounds: int = 6,
) -> RolloutPhase:
    """A canary of ``version`` that climbs its steps, then its promotion (or its stop)."""
    rollout = registry.start_rollout(
        MODEL,
        version,
        mode="canary",
        steps=list(CANARY_STEPS),
        guardrails=GUARDRAILS,
        reason="make demo: canary after a clean shadow test",
    )
    phase = RolloutPhase("canary", rollout.id, version, prefix="rollout-canary")
    steps = " -> ".join(f"{step.share:.0%}" for step in CANARY_STEPS)
    say(
        f"started canary {rollout.id}: version {version} at {steps}, each step held at least "
        f"{CANARY_STEPS[0].min_minutes * 60:.0f} s and {CANARY_STEPS[0].min_requests} candidate requests"
    )
    windows = _canary_rounds(stack, scheduler, rollout, phase, say, requests_per_round, 41, max_rounds)
    last = phase.last
    if last is not None:
        say(f"per variant, since the canary started ({last.windows} windows of evidence):")
        for line in variant_table(last, windows, rollout.metric.name):
            say(line)
        for line in decision_lines(last, rollout.alpha):
            say(line)
        say("  guardrails:")
        for line in guardrail_lines(last):
            say(line)
    top = CANARY_STEPS[-1].share
    if last is not None and last.action == "hold" and last.share_after >= top:
        registry.promote_rollout(MODEL, reason=f"canary held at {top:.0%} with every guardrail holding")
        phase.final_state = "promoted"
        say(f"promoted version {version} at the end of its canary: it is production now")
    else:
        registry.stop_rollout(MODEL, reason="make demo: the canary did not reach its last step")
        phase.final_state = "stopped"
        say(f"FAILED: the canary did not reach {top:.0%}: {last.reason if last else 'no evaluation'}")
    phase.event_variants = captured_by_variant(stack, MODEL, phase.prefix, phase.started_at)
    return phase


def run_broken_canary(
    stack: LocalStack,
    scheduler: LocalScheduler,
    registry: ModelRegistry,
    version: str,
    say: Callable[[str], None],
    requests_per_round: int,
    alerts_queue: str,
    max_rounds: int = 4,
) -> tuple[RolloutPhase, list[dict[str, Any]]]:
    """A canary of the broken ``version``: the error-rate guardrail breaks and the job rolls it back."""
    rollout = registry.start_rollout(
        MODEL,
        version,
        mode="canary",
        steps=list(CANARY_STEPS),
        guardrails=GUARDRAILS,
        on_candidate_error="production",
        reason="make demo: a release that fails on foreign cards",
    )
    phase = RolloutPhase("rollback", rollout.id, version, prefix="rollout-broken")
    say(
        f"started canary {rollout.id}: version {version} at {CANARY_STEPS[0].share:.0%}; a request it "
        "fails is answered by production (on_candidate_error=production) and counts against it"
    )
    windows = _canary_rounds(stack, scheduler, rollout, phase, say, requests_per_round, 51, max_rounds)
    last = phase.last
    alerts: list[dict[str, Any]] = []
    if last is not None and last.action == "rollback":
        say("per variant, since the canary started:")
        for line in variant_table(last, windows, rollout.metric.name):
            say(line)
        say("  guardrails:")
        for line in guardrail_lines(last):
            say(line)
        alerts = received_alerts(stack, alerts_queue)
        for alert in alerts:
            detail = alert.get("detail", {})
            say(
                f"platform bus: {alert.get('detail-type')} for {detail.get('model')} "
                f"(source {alert.get('source')}): {detail.get('reason', '')}"
            )
    status = registry.rollout_status(MODEL)
    current = status.rollout
    phase.final_state = current.state if current is not None else "none"
    if current is not None:
        say(f"rollout {current.id}: state {current.state}, share {current.share:.0%}; its history:")
        for transition in current.history:
            say(
                f"    {transition.at:%H:%M:%S} {transition.action:<9} {transition.from_share:>5.0%} -> "
                f"{transition.to_share:<5.0%} by {transition.actor}: {transition.reason}"
            )
    phase.event_variants = captured_by_variant(stack, MODEL, phase.prefix, phase.started_at)
    return phase, alerts


def run_rollout_demo(
    stack: LocalStack,
    scheduler: LocalScheduler,
    registry_uri: str,
    say: Callable[[str], None] = print,
    requests_per_round: int = 150,
    shadow_requests: int = 300,
) -> RolloutDemoResult:
    """Shadow, canary (promoted) and a broken canary (rolled back), over real HTTP on the local stack.

    Parameters
    ----------
    stack:
        The running local stack; its production manifest of ``fraud_detection`` names a registered
        version (the registry demo promoted it).
    scheduler:
        Invokes the rollout job's handler (``functions/rollout/handler.py``).
    registry_uri:
        The local MLflow server.
    say:
        Where progress lines go.
    requests_per_round, shadow_requests:
        Traffic of each canary round, and of the shadow test.

    Returns
    -------
    RolloutDemoResult
        ``ok`` when the shadow test captured both variants, the canary climbed to its last step
        and was promoted, and the broken version was rolled back with traffic back on production.
    """
    registry = ModelRegistry(registry_uri, models_bucket=MODELS_BUCKET, storage=stack.storage())
    result = RolloutDemoResult(production_version=_production_version(stack, MODEL))
    say("")
    say("== modelwatch demo: rollouts ==")
    retrained = train_fraud_model(n=TRAINING_ROWS, seed=1, n_estimators=100)
    candidate = _register(
        registry, stack, retrained, "retrained", "GradientBoostingClassifier, 100 trees, retrained (seed 1)"
    )
    broken = _register(
        registry,
        stack,
        break_model(retrained),
        "broken",
        "the retrained model with a bug: it fails on foreign-card transactions",
    )
    say(
        f"production serves version {result.production_version}; registered version {candidate} "
        f"(retrained on other data, 100 trees, hold-out AUC {retrained.auc:.4f}) and version {broken} "
        "(the same model with a bug: it raises on foreign-card transactions)"
    )
    alerts_queue = subscribe_to_rollbacks(stack)

    say("")
    say(f"-- shadow: version {candidate} beside version {result.production_version} --")
    result.shadow = run_shadow(stack, scheduler, registry, candidate, say, shadow_requests)
    say("")
    say(f"-- canary: version {candidate} --")
    result.canary = run_canary(stack, scheduler, registry, candidate, say, requests_per_round)
    if result.canary.final_state == "promoted":
        waited = wait_until_served(
            stack.api_url, MODEL, "after-promotion", lambda body: str(body.get("version")) == candidate
        )
        say(f"serving answers with version {candidate} {_fmt(waited)} s after the promotion")
    say("")
    say(f"-- canary of the broken version {broken} --")
    result.rollback, result.alerts = run_broken_canary(
        stack, scheduler, registry, broken, say, requests_per_round, alerts_queue
    )
    rows, labels = _rows(1000, seed=61)
    result.after_rollback = send_rollout_traffic(
        stack.api_url, MODEL, rows, labels, 100, "rollout-after", seed=61
    )
    answered = ", ".join(f"{v} {n}" for v, n in sorted(result.after_rollback.variants.items()))
    versions = ", ".join(f"{v} {n}" for v, n in sorted(result.after_rollback.versions.items()))
    say(f"after the rollback: 100 requests answered by {answered} (versions: {versions})")
    result.failures = _failures(result, candidate)
    for failure in result.failures:
        say(f"FAILED: {failure}")
    return result


def _failures(result: RolloutDemoResult, candidate: str) -> list[str]:
    """What the phase should have shown and did not."""
    failures = []
    shadow, canary, rollback = result.shadow, result.canary, result.rollback
    if shadow is None or not shadow.event_variants.get("candidate shadow"):
        failures.append("the shadow test captured no candidate predictions")
    if shadow is not None and set(shadow.traffic.variants) - {"production"}:
        failures.append(f"a shadow test answered callers with {dict(shadow.traffic.variants)}")
    if canary is None or canary.final_state != "promoted":
        failures.append("the canary did not climb to its last step")
    if canary is not None and not canary.traffic.variants.get("candidate"):
        failures.append("no canary request was answered by the candidate")
    if rollback is None or rollback.final_state != "rolled_back":
        failures.append("the broken version was not rolled back")
    if not any(alert.get("detail-type") == ROLLED_BACK for alert in result.alerts):
        failures.append(f"no {ROLLED_BACK} event reached the platform bus")
    if set(result.after_rollback.variants) != {"production"} or result.after_rollback.failed:
        failures.append(f"after the rollback, answers came from {dict(result.after_rollback.variants)}")
    if (
        canary is not None
        and canary.final_state == "promoted"
        and set(result.after_rollback.versions) != {candidate}
    ):
        failures.append(f"after the rollback, production is not version {candidate}")
    return failures
