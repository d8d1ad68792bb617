"""The rollout part of ``make demo``: a shadow test, a canary promoted, a broken release rolled back.

Runs on the local stack once a registered version serves production (the registry demo
promoted it), in three sub-phases over real HTTP:

1. **shadow**: a retrained version (another seed and size, trained like the others in
   :mod:`modelwatch_local.fraud`) scores a copy of every request after the answer; callers only
   ever see production. The rollout job compares the two on the same requests.
2. **canary**: the same version serves a stable share of requests (by the hash of the request id)
   that climbs 25% -> 100% once the step has lasted its minimum time and seen its minimum of
   candidate requests; labels come back; the job gives the always-valid decision on error rate,
   latency and accuracy (estimate, interval, sample sizes). Held at 100%, it is promoted.
3. **rollback**: a deliberately broken version (:class:`modelwatch_local.fraud.ForeignCardBug`:
   it raises on foreign-card transactions, so about a quarter of its requests fail and production
   answers them) goes out as a canary; once it has the guardrails' minimum of requests, the
   error-rate guardrail breaks, the job sets its share to 0 and ``RolloutRolledBack`` reaches the
   platform bus; traffic is back on production.

How the demo compresses time: the rollout job runs like the demo's other jobs, on demand over a
window the demo names, here one window per sub-phase from its first request on, re-run after
every round of traffic (the job replaces a window's own evidence, so nothing is counted twice).
In AWS the dispatcher runs it every ``rollout_window_minutes`` over aligned windows. A canary
step counts the candidate requests of the windows that start after the step did, so with one
window the demo's canary has two steps; with the dispatcher's windows it can have any number.
Serving follows the manifest the registry and the job write: the demo waits until ``/health``
reports the new share before it sends the next round.
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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from modelwatch.contracts.results import JobResult
from modelwatch.contracts.rollout import (
    VARIANTS,
    CanaryStep,
    Guardrails,
    Rollout,
    RolloutEvaluation,
    VariantWindow,
    WindowEvidence,
)
from modelwatch.registry import ModelRegistry
from modelwatch.stores.manifests import ManifestStore
from modelwatch.stores.rollout_evidence import rollout_evidence_store
from modelwatch_local.fraud import (
    FRAUD_SCHEMA,
    TrainedModel,
    break_model,
    save_model,
    synthetic_transactions,
    train_fraud_model,
)
from modelwatch_local.monitoring_demo import send_labels
from modelwatch_local.scheduler import LocalScheduler
from modelwatch_local.stack import EVENTS_BUCKET, MODELS_BUCKET, PLATFORM_BUS, LocalStack

MODEL = "fraud_detection"
TRAINING_ROWS = 10_000
ALERTS_QUEUE = "modelwatch-demo-rollout-alerts"
ALERTS_RULE = "modelwatch-demo-rollout-alerts"
ROLLED_BACK = "RolloutRolledBack"

# Held seconds and a few dozen candidate requests, so the canary climbs in the demo's time
# (a team would hold a step for many minutes: the default is 10 minutes and 200 requests).
CANARY_STEPS = (
    CanaryStep(share=0.25, min_minutes=0.1, min_requests=25),
    CanaryStep(share=1.0, min_minutes=0.1, min_requests=25),
)
# Judged from 20 candidate requests on. Latency against an absolute limit only: on a shared
# laptop the p99 ratio of a few dozen requests is noise. Prediction drift with room for the
# PSI that small samples have by themselves.
GUARDRAILS = Guardrails(
    max_error_rate=0.05,
    max_p99_latency_ms=2000.0,
    max_latency_ratio=None,
    max_prediction_drift=0.5,
    metric_worse=True,
    min_requests=20,
)
# The good canary's first round is small: its step waits for its sample size before advancing.
FIRST_ROUND_REQUESTS = 40


@dataclass(frozen=True)
class SentRequest:
    """One predict request of the rollout phase, and what the API answered."""

    request_id: str
    labels: list[int]
    status: int
    latency_ms: float
    version: str | None
    variant: str | None
    share: float = 0.0  # the candidate's share serving applied when it was sent


@dataclass
class RolloutTraffic:
    """Requests sent during a sub-phase."""

    requests: list[SentRequest] = field(default_factory=list)

    @property
    def variants(self) -> Counter[str]:
        """Answered requests by the variant the answer names."""
        return Counter(r.variant or "-" for r in self.requests if r.status == 200)

    @property
    def versions(self) -> Counter[str]:
        return Counter(r.version or "-" for r in self.requests if r.status == 200)

    @property
    def failed(self) -> int:
        """Requests the caller got an error for."""
        return sum(1 for r in self.requests if r.status != 200)

    def labelled(self) -> list[tuple[str, list[int]]]:
        return [(r.request_id, r.labels) for r in self.requests if r.status == 200]

    def describe(self) -> str:
        return ", ".join(f"{variant} {n}" for variant, n in sorted(self.variants.items()))


@dataclass
class RolloutPhase:
    """What one sub-phase did, for the summary, the exit code and the e2e test."""

    name: str
    rollout: Rollout
    prefix: str  # of the request ids of its traffic
    window_start: datetime  # of the rollout job's window: the sub-phase's first request
    traffic: RolloutTraffic = field(default_factory=RolloutTraffic)
    evaluations: list[RolloutEvaluation] = field(default_factory=list)
    shares: list[float] = field(default_factory=list)  # the candidate's share in each round
    final_state: str = ""  # the rollout's state when the sub-phase ended

    @property
    def last(self) -> RolloutEvaluation | None:
        return self.evaluations[-1] if self.evaluations else None


@dataclass
class RolloutDemoResult:
    """The three sub-phases and what the phase failed to show (nothing, when ``ok``)."""

    production_version: str
    candidate_version: str = ""
    broken_version: str = ""
    shadow: RolloutPhase | None = None
    canary: RolloutPhase | None = None
    rollback: RolloutPhase | None = None
    alerts: list[dict[str, Any]] = field(default_factory=list)
    after_rollback: RolloutTraffic = field(default_factory=RolloutTraffic)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


# --- traffic and serving ---------------------------------------------------------------------


def send_rollout_traffic(
    api_url: str,
    model: str,
    rows: Sequence[dict[str, Any]],
    labels: Sequence[int],
    requests: int,
    prefix: str,
    seed: int = 0,
    share: float = 0.0,
    max_batch: int = 6,
    workers: int = 2,
) -> RolloutTraffic:
    """``requests`` valid predict requests (1 to ``max_batch`` rows each), each with its own request id.

    The request id (``x-request-id``) is the rollout key, so the variant that serves a request is
    the assignment hash of its id. Each request keeps its rows' labels, for the feedback call.
    """
    rng = random.Random(seed)
    plan: list[tuple[str, list[dict[str, Any]], list[int]]] = []
    cursor = rng.randrange(len(rows))
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
            share=share,
        )

    traffic = RolloutTraffic()
    with httpx.Client(base_url=api_url, timeout=30.0) as client, ThreadPoolExecutor(workers) as pool:
        traffic.requests.extend(pool.map(lambda item: send(client, item), plan))
    return traffic


def _domestic_instance() -> dict[str, Any]:
    rows, _ = synthetic_transactions(50, seed=42)
    return next(row for row in rows if not row["is_foreign"])


def manifest_ttl_seconds(stack: LocalStack) -> float:
    """How long serving keeps a manifest before it reads it again."""
    return float(stack.serving_env()["MODELWATCH_MANIFEST_TTL_SECONDS"])


def serving_applies(health: dict[str, Any], model: str, rollout_id: str, share: float) -> bool:
    """Whether ``/health`` says serving routes (or mirrors) ``share`` of requests to the candidate.

    At share 0 (stopped, rolled back, promoted) the rollout is not active and no candidate is loaded.
    """
    candidate = (health.get("models", {}).get(model) or {}).get("candidate")
    if share <= 0.0:
        return candidate is None or candidate.get("rollout_id") != rollout_id
    return (
        candidate is not None
        and candidate.get("rollout_id") == rollout_id
        and math.isclose(float(candidate.get("share", -1.0)), share)
        and candidate.get("state") == "ready"
    )


def wait_for_serving(
    stack: LocalStack,
    model: str,
    ready: Callable[[dict[str, Any], dict[str, Any]], bool],
    timeout: float | None = None,
) -> float | None:
    """Send one domestic-card request and read ``/health`` until ``ready(answer, health)``.

    The request makes serving look at the manifest once its cache time is up (and load a
    candidate). Returns the seconds it took, None on timeout (default: ten cache times + 30 s).
    """
    timeout = timeout if timeout is not None else 10 * manifest_ttl_seconds(stack) + 30.0
    instance = _domestic_instance()
    started = time.monotonic()
    with httpx.Client(base_url=stack.api_url, timeout=30.0) as client:
        while time.monotonic() - started < timeout:
            answer = client.post(
                f"/v1/models/{model}/predict",
                json={"instances": [instance]},
                headers={"x-request-id": f"follow-{uuid.uuid4().hex[:12]}"},
            )
            health = client.get("/health").json()
            if answer.status_code == 200 and ready(answer.json(), health):
                return time.monotonic() - started
            time.sleep(0.25)
    return None


def follow_share(stack: LocalStack, rollout: Rollout, share: float, say: Callable[[str], None]) -> bool:
    """Wait until serving applies ``share`` of ``rollout``; say how long it took."""
    waited = wait_for_serving(
        stack, MODEL, lambda _answer, health: serving_applies(health, MODEL, rollout.id, share)
    )
    if waited is None:
        say(f"  FAILED: serving did not apply the candidate's share {share:.0%}")
        return False
    say(f"  serving applies the candidate's share {share:.0%} ({waited:.1f} s later, by /health)")
    return True


# --- the platform bus ------------------------------------------------------------------------


def subscribe_to_rollbacks(stack: LocalStack) -> str:
    """A queue subscribed to ``RolloutRolledBack`` on the platform bus (as a notification channel is)."""
    sqs = stack.boto3_client("sqs")
    url: str = sqs.create_queue(QueueName=ALERTS_QUEUE)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events = stack.boto3_client("events")
    events.put_rule(
        Name=ALERTS_RULE,
        EventBusName=PLATFORM_BUS,
        EventPattern=json.dumps({"source": ["modelwatch"], "detail-type": [ROLLED_BACK]}),
    )
    events.put_targets(Rule=ALERTS_RULE, EventBusName=PLATFORM_BUS, Targets=[{"Id": "queue", "Arn": arn}])
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
    key = str(output["result_uri"]).removeprefix(f"s3://{EVENTS_BUCKET}/")
    body = stack.boto3_client("s3").get_object(Bucket=EVENTS_BUCKET, Key=key)["Body"].read()
    return JobResult.model_validate_json(body)


def run_rollout_job(
    stack: LocalStack, scheduler: LocalScheduler, phase: RolloutPhase
) -> tuple[JobResult, RolloutEvaluation, list[WindowEvidence]]:
    """The rollout job over the phase's window, from its start to now (in whole minutes).

    Returns the stored result, the evaluation and the windows of evidence of the rollout.

    Raises
    ------
    RuntimeError
        The job did not evaluate the rollout (its result says why).
    """
    stack.wait_for_capture()  # every request sent so far is in the bucket
    minutes = max(1, math.ceil((datetime.now(UTC) - phase.window_start).total_seconds() / 60))
    result = _stored_result(stack, scheduler.run_job("rollout", MODEL, phase.window_start, minutes))
    document, _ = rollout_evidence_store(stack.storage(), EVENTS_BUCKET, MODEL, phase.rollout.id).load()
    if result.status != "ok" or document.latest is None:
        raise RuntimeError(
            f"the rollout job did not evaluate {phase.rollout.id}: {result.status}: {result.reason}"
        )
    return result, document.latest, document.in_order()


# --- printing --------------------------------------------------------------------------------


def _fmt(value: float | None, spec: str = ".1f") -> str:
    return "-" if value is None or math.isnan(value) else format(value, spec)


def _latest(windows: Sequence[WindowEvidence], variant: str) -> VariantWindow | None:
    for window in reversed(windows):
        for name, figures in window.variants.items():
            if name == variant and figures.requests:
                return figures
    return None


def variant_table(evaluation: RolloutEvaluation, windows: Sequence[WindowEvidence], metric: str) -> list[str]:
    """Both variants side by side since the rollout started; then agreement and prediction drift.

    Counts, error rate, labelled metric: since the start. Latency quantiles: the latest window's
    (in the demo, its one window: the whole sub-phase).
    """
    lines = [
        f"  {'variant':<11}{'version':>8}{'requests':>10}{'errors':>8}{'error rate':>12}"
        f"{'p50 ms':>8}{'p99 ms':>8}{'labelled':>10}{metric:>10}"
    ]
    for variant in VARIANTS:
        totals = evaluation.totals.get(variant)
        if totals is None:
            continue
        latest = _latest(windows, variant)
        lines.append(
            f"  {variant:<11}{totals.version:>8}{totals.requests:>10}{totals.errors:>8}"
            f"{_fmt(totals.error_rate, '.1%'):>12}{_fmt(latest.latency_p50_ms if latest else None):>8}"
            f"{_fmt(totals.latency_p99_ms):>8}{totals.labelled:>10}{_fmt(totals.metric_mean, '.4f'):>10}"
        )
    agreement = evaluation.agreement
    if agreement.pairs:
        lines.append(
            f"  agreement on the same instances: {agreement.pairs} pairs, "
            f"{_fmt(agreement.identical_share, '.1%')} identical decisions, mean |score difference| "
            f"{_fmt(agreement.mean_absolute_difference, '.4f')}"
        )
    if evaluation.prediction_drift is not None:
        lines.append(
            f"  prediction drift, candidate against production: PSI {evaluation.prediction_drift:.3f}"
        )
    return lines


def decision_lines(evaluation: RolloutEvaluation, alpha: float) -> list[str]:
    """The always-valid comparisons: estimate, interval, sample sizes and decision of each quantity."""
    lines = [f"  always-valid comparison (mSPRT, alpha {alpha:g}), candidate minus production:"]
    for name, test in evaluation.tests.items():
        interval = f"[{_fmt(test.low, '+.4g')}, {_fmt(test.high, '+.4g')}]"
        lines.append(
            f"    {name:<12}{_fmt(test.estimate, '+.4g'):>10}  interval {interval:<22} "
            f"n {test.n_candidate} vs {test.n_production}: {test.decision}"
        )
    return lines


def guardrail_lines(evaluation: RolloutEvaluation) -> list[str]:
    lines = ["  guardrails:"]
    lines.extend(f"    {check.name:<18}{check.state:<10}{check.detail}" for check in evaluation.guardrails)
    return lines


# --- the sub-phases --------------------------------------------------------------------------


def _register(
    registry: ModelRegistry, stack: LocalStack, trained: TrainedModel, label: str, description: str
) -> str:
    rows, _ = synthetic_transactions(TRAINING_ROWS, seed=1)
    path = save_model(trained, Path(stack.state_dir) / "registry" / f"rollout-{label}.joblib")
    uri = registry.register_model(
        model_path=str(path),
        name=MODEL,
        tags={"algorithm": "gradient_boosting", "demo": f"rollout: {label}"},
        flavor="sklearn",
        prediction_type="probability",
        input_schema=FRAUD_SCHEMA,
        training_data={name: [row[name] for row in rows] for name in FRAUD_SCHEMA.feature_names},
        metrics={"auc": trained.auc},
        description=description,
    )
    return uri.rsplit("/", 1)[-1]


def production_version(stack: LocalStack, model: str = MODEL) -> str:
    manifest = ManifestStore(stack.storage(), MODELS_BUCKET).current(model, "production")
    if manifest is None:
        raise RuntimeError(f"{model} has no production manifest: the rollout phase needs one")
    return manifest.version


def run_shadow(
    stack: LocalStack,
    scheduler: LocalScheduler,
    registry: ModelRegistry,
    version: str,
    say: Callable[[str], None],
    requests: int,
) -> RolloutPhase:
    """Shadow ``version`` beside production; print the per-variant table; stop the rollout."""
    rollout = registry.start_rollout(
        MODEL, version, mode="shadow", share=1.0, guardrails=GUARDRAILS, reason="make demo: shadow test"
    )
    say(f"started shadow rollout {rollout.id}: version {version} scores a copy of every request")
    follow_share(stack, rollout, 1.0, say)
    phase = RolloutPhase("shadow", rollout, "rollout-shadow", window_start=datetime.now(UTC))
    rows, labels = synthetic_transactions(2000, seed=31)
    phase.traffic = send_rollout_traffic(
        stack.api_url, MODEL, rows, labels, requests, phase.prefix, seed=31, share=1.0
    )
    say(
        f"  {len(phase.traffic.requests)} requests answered by {phase.traffic.describe()} "
        "(a shadow never answers a caller)"
    )
    _, evaluation, windows = run_rollout_job(stack, scheduler, phase)
    phase.evaluations.append(evaluation)
    say(f"  rollout job: {evaluation.action}: {evaluation.reason}")
    for line in variant_table(evaluation, windows, rollout.metric.name):
        say(line)
    stopped = registry.stop_rollout(MODEL, reason="shadow test done: a canary comes next")
    phase.final_state = stopped.state
    say(f"stopped the shadow rollout ({stopped.state}): {stopped.reason}")
    return phase


def _canary_rounds(
    stack: LocalStack,
    scheduler: LocalScheduler,
    phase: RolloutPhase,
    say: Callable[[str], None],
    requests_per_round: int,
    seed: int,
    first_round: int | None = None,
    max_rounds: int = 6,
) -> list[WindowEvidence]:
    """Rounds of traffic, labels and a rollout job run, until the canary holds at its top or rolls back."""
    rollout = phase.rollout
    rows, labels = synthetic_transactions(4000, seed=seed)
    share = rollout.share
    windows: list[WindowEvidence] = []
    for number in range(max_rounds):
        phase.shares.append(share)
        requests = first_round if number == 0 and first_round else requests_per_round
        sent = send_rollout_traffic(
            stack.api_url,
            MODEL,
            rows,
            labels,
            requests,
            f"{phase.prefix}-{number}",
            seed=seed + number,
            share=share,
        )
        phase.traffic.requests.extend(sent.requests)
        send_labels(stack.api_url, MODEL, sent.labelled())
        _, evaluation, windows = run_rollout_job(stack, scheduler, phase)
        phase.evaluations.append(evaluation)
        say(
            f"  at {share:.0%}: {requests} requests answered by {sent.describe()}, their labels sent; "
            f"rollout job: {evaluation.action.upper()}: {evaluation.reason}"
        )
        if evaluation.action in ("advance", "rollback"):
            share = evaluation.share_after
            if not follow_share(stack, rollout, share, say):
                break
            if evaluation.action == "rollback":
                break
        elif evaluation.action != "hold" or share >= rollout.steps[-1].share:
            break
    return windows


def _steps(steps: Sequence[CanaryStep]) -> str:
    return " -> ".join(f"{step.share:.0%}" for step in steps)


def run_canary(
    stack: LocalStack,
    scheduler: LocalScheduler,
    registry: ModelRegistry,
    version: str,
    say: Callable[[str], None],
    requests_per_round: int,
) -> RolloutPhase:
    """A canary of ``version`` that climbs its steps; its table and decision; its promotion."""
    rollout = registry.start_rollout(
        MODEL,
        version,
        mode="canary",
        steps=list(CANARY_STEPS),
        guardrails=GUARDRAILS,
        reason="make demo: canary after a clean shadow test",
    )
    step = CANARY_STEPS[0]
    say(
        f"started canary {rollout.id}: version {version} at {_steps(CANARY_STEPS)}, by the hash of the "
        f"request id; each step held {step.min_minutes * 60:.0f} s and {step.min_requests} candidate requests"
    )
    follow_share(stack, rollout, rollout.share, say)
    phase = RolloutPhase("canary", rollout, "rollout-canary", window_start=datetime.now(UTC))
    windows = _canary_rounds(
        stack, scheduler, phase, say, requests_per_round, seed=41, first_round=FIRST_ROUND_REQUESTS
    )
    last = phase.last
    if last is not None:
        say("per variant since the canary started (labels joined by request id and index):")
        for line in [
            *variant_table(last, windows, rollout.metric.name),
            *decision_lines(last, rollout.alpha),
            *guardrail_lines(last),
        ]:
            say(line)
    top = CANARY_STEPS[-1].share
    if (
        last is not None
        and last.action == "hold"
        and last.state_after == "running"
        and last.share_after >= top
    ):
        why = f"canary held at {top:.0%}, every guardrail holding"
        registry.promote(MODEL, version, "staging", reason=why)
        promoted = registry.promote_rollout(MODEL, reason=why)
        phase.final_state = promoted.rollout.state if promoted.rollout is not None else "promoted"
        say(
            f"promoted: version {version} is production now, development -> staging -> production "
            f"({promoted.manifest_uri}); the rollout is {phase.final_state}"
        )
    else:
        phase.final_state = last.state_after if last is not None else "unknown"
        if phase.final_state == "running":
            phase.final_state = registry.stop_rollout(MODEL, reason="make demo: the canary stalled").state
    return phase


def run_broken_canary(
    stack: LocalStack,
    scheduler: LocalScheduler,
    registry: ModelRegistry,
    version: str,
    say: Callable[[str], None],
    requests_per_round: int,
) -> RolloutPhase:
    """A canary of the broken ``version``, rolled back by its error-rate guardrail."""
    rollout = registry.start_rollout(
        MODEL,
        version,
        mode="canary",
        steps=list(CANARY_STEPS),
        guardrails=GUARDRAILS,
        on_candidate_error="production",
        reason="make demo: a release that fails on foreign cards",
    )
    say(
        f"started canary {rollout.id}: version {version} at {_steps(CANARY_STEPS)}; a request it fails "
        f"is answered by production (on_candidate_error=production) and counts against its error guardrail "
        f"(at most {GUARDRAILS.max_error_rate:.0%}, judged from {GUARDRAILS.min_requests} requests)"
    )
    follow_share(stack, rollout, rollout.share, say)
    phase = RolloutPhase("rollback", rollout, "rollout-broken", window_start=datetime.now(UTC))
    windows = _canary_rounds(stack, scheduler, phase, say, requests_per_round, seed=51)
    last = phase.last
    if last is not None:
        say("per variant since the canary started:")
        for line in [*variant_table(last, windows, rollout.metric.name), *guardrail_lines(last)]:
            say(line)
    current = registry.rollout_status(MODEL).rollout
    phase.final_state = current.state if current is not None else "none"
    if current is not None:
        say(f"rollout {current.id}: {current.state}, share {current.share:.0%}; its history:")
        for change in current.history:
            say(
                f"    {change.at:%H:%M:%S} {change.action:<9}{change.from_share:>5.0%} -> "
                f"{change.to_share:<5.0%} by {change.actor}: {change.reason}"
            )
    return phase


def run_rollout_demo(
    stack: LocalStack,
    scheduler: LocalScheduler,
    registry_uri: str,
    say: Callable[[str], None] = print,
    requests_per_round: int = 100,
    shadow_requests: int = 200,
    after_rollback_requests: int = 60,
) -> RolloutDemoResult:
    """Shadow, canary (promoted) and a broken canary (rolled back), over real HTTP on the local stack.

    Parameters
    ----------
    stack:
        The running local stack; ``fraud_detection``'s production manifest names a version of
        the registry at ``registry_uri``.
    scheduler:
        Invokes the rollout job's handler as Lambda would.
    registry_uri:
        The local MLflow server.
    say:
        Where progress lines go.
    requests_per_round, shadow_requests, after_rollback_requests:
        Requests of each canary round (the good canary's first has ``FIRST_ROUND_REQUESTS``), of
        the shadow test, and of the check that production answers everything after the rollback.

    Returns
    -------
    RolloutDemoResult
        ``ok`` when the shadow test captured both variants and answered only with production, the
        canary climbed to its last step and was promoted, and the broken version was rolled back
        by a guardrail, announced on the bus, with traffic back on production.
    """
    started = time.monotonic()
    registry = ModelRegistry(
        registry_uri, models_bucket=MODELS_BUCKET, events_bucket=EVENTS_BUCKET, storage=stack.storage()
    )
    result = RolloutDemoResult(production_version=production_version(stack))
    retrained = train_fraud_model(n=TRAINING_ROWS, seed=1, n_estimators=100)
    result.candidate_version = _register(
        registry,
        stack,
        retrained,
        "retrained",
        "GradientBoostingClassifier, 100 trees, retrained on other data",
    )
    result.broken_version = _register(
        registry,
        stack,
        break_model(retrained),
        "broken",
        "the retrained model with a bug: fails on foreign cards",
    )
    say(
        f"production serves version {result.production_version}; registered version "
        f"{result.candidate_version} (retrained on other data, 100 trees, hold-out AUC {retrained.auc:.4f}) "
        f"and version {result.broken_version} (the same with a bug: it raises on foreign-card transactions)"
    )
    alerts_queue = subscribe_to_rollbacks(stack)

    say("")
    say(f"-- shadow: version {result.candidate_version} beside version {result.production_version} --")
    result.shadow = run_shadow(stack, scheduler, registry, result.candidate_version, say, shadow_requests)
    say("")
    say(f"-- canary: version {result.candidate_version} --")
    result.canary = run_canary(stack, scheduler, registry, result.candidate_version, say, requests_per_round)
    if result.canary.final_state == "promoted":
        candidate = result.candidate_version
        waited = wait_for_serving(
            stack, MODEL, lambda answer, _health: str(answer.get("version")) == candidate
        )
        say(f"serving answers with version {candidate} as production, {_fmt(waited)} s after the promotion")
    say("")
    say(f"-- canary of the broken version {result.broken_version} --")
    result.rollback = run_broken_canary(
        stack, scheduler, registry, result.broken_version, say, requests_per_round
    )
    result.alerts = received_alerts(stack, alerts_queue)
    for alert in result.alerts:
        detail = alert.get("detail", {})
        say(
            f"platform bus: {alert.get('detail-type')} (source {alert.get('source')}) for "
            f"{detail.get('model')}, rollout {detail.get('rollout_id')}: {detail.get('reason')}"
        )
    rows, labels = synthetic_transactions(1000, seed=61)
    result.after_rollback = send_rollout_traffic(
        stack.api_url, MODEL, rows, labels, after_rollback_requests, "rollout-after", seed=61
    )
    after = result.after_rollback
    versions = ", ".join(f"{v} {n}" for v, n in sorted(after.versions.items()))
    say(
        f"after the rollback: {len(after.requests)} requests answered by {after.describe()} "
        f"(versions {versions}), {after.failed} errors"
    )
    result.failures = phase_failures(result)
    for failure in result.failures:
        say(f"FAILED: {failure}")
    say(f"(the rollout phase took {time.monotonic() - started:.0f} s)")
    return result


def phase_failures(result: RolloutDemoResult) -> list[str]:
    """What the phase should have shown and did not."""
    failures = []
    shadow, canary, rollback = result.shadow, result.canary, result.rollback
    shadow_totals = shadow.last.totals.get("candidate") if shadow is not None and shadow.last else None
    if shadow is None or shadow_totals is None or not shadow_totals.requests:
        failures.append("the rollout job found no shadow prediction of the candidate")
    elif set(shadow.traffic.variants) != {"production"}:
        failures.append(f"the shadow test answered callers with {dict(shadow.traffic.variants)}")
    if canary is None or canary.final_state != "promoted":
        failures.append("the canary was not promoted at its last step")
    elif not canary.traffic.variants.get("candidate"):
        failures.append("no canary request was answered by the candidate")
    if rollback is None or rollback.final_state != "rolled_back":
        failures.append("the broken version was not rolled back")
    if not any(alert.get("detail-type") == ROLLED_BACK for alert in result.alerts):
        failures.append(f"no {ROLLED_BACK} event reached the platform bus")
    after = result.after_rollback
    if set(after.variants) != {"production"} or after.failed:
        failures.append(f"after the rollback: answers {dict(after.variants)}, {after.failed} errors")
    elif (
        canary is not None
        and canary.final_state == "promoted"
        and set(after.versions) != {result.candidate_version}
    ):
        failures.append(f"after the rollback, production answers with {dict(after.versions)}")
    return failures
