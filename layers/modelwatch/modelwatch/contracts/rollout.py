"""Rollouts as data: a candidate version beside production in a model's serving manifest.

A rollout compares one candidate version with the production version on live traffic:

- ``shadow``: the candidate scores a copy of (a sampled ``share`` of) the requests after the
  answer is sent; callers only ever see production's answer. Its predictions are captured as
  events of their own (``variant="candidate"``, ``served=False``) with the same request id and
  index as production's, so the two join.
- ``ab``: a stable ``share`` of requests (by a hash of the rollout ``key``) is served by the
  candidate; the answer and every event say which variant served it.
- ``canary``: ``ab`` whose share climbs through ``steps`` while the guardrails hold, and falls to
  0 the moment one breaks (the rollout job decides; serving follows the manifest).

The rollout lives in the production manifest (``ServingManifest.rollout``), written by the
registry (start, promote, stop) and by the rollout job (advance, roll back). Every change is a
``RolloutTransition`` in its ``history``: who, when, why. No I/O here: the documents, the key
rule and the assignment hash.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from modelwatch.contracts.names import check_model_name
from modelwatch.contracts.schema import InputSchema

RolloutMode = Literal["shadow", "ab", "canary"]
RolloutState = Literal["running", "rolled_back", "stopped", "promoted"]
# Which version of a rollout an event or a figure belongs to. Bounded: a Prometheus label.
Variant = Literal["production", "candidate"]
VARIANTS: Final[tuple[Variant, ...]] = ("production", "candidate")
Decision = Literal["candidate better", "candidate worse", "no difference yet"]
CandidateErrorPolicy = Literal["production", "error"]
BuiltinMetric = Literal["accuracy", "log_loss", "squared_error", "absolute_error"]
RolloutAction = Literal["start", "advance", "rollback", "stop", "promote", "fail"]

DEFAULT_CANARY_STEPS: Final[tuple[float, ...]] = (0.05, 0.25, 0.5, 1.0)
DEFAULT_ALPHA: Final = 0.05
# The rollout key: which part of a request decides its variant.
KEY_REQUEST_ID: Final = "request_id"
_KEY: Final = re.compile(r"^(request_id|header:[A-Za-z0-9-]{1,64}|feature:[A-Za-z0-9_.\-]{1,64})$")
_HASH_SPACE: Final = float(1 << 64)


def check_key(key: str) -> str:
    """``request_id``, ``header:<name>`` or ``feature:<name>``; ValueError otherwise."""
    if not _KEY.match(key):
        raise ValueError(
            f"rollout key {key!r} must be 'request_id', 'header:<header name>' or 'feature:<feature name>'"
        )
    return key.lower() if key.startswith("header:") else key


def key_feature(key: str) -> str | None:
    """The feature a ``feature:<name>`` key hashes (None for the other kinds)."""
    return key.split(":", 1)[1] if key.startswith("feature:") else None


def key_header(key: str) -> str | None:
    """The (lower-case) header a ``header:<name>`` key hashes (None for the other kinds)."""
    return key.split(":", 1)[1] if key.startswith("header:") else None


def assignment_point(rollout_id: str, key_value: str) -> float:
    """Where ``key_value`` falls in [0, 1): a BLAKE2b hash salted by the rollout.

    Stable for a key within a rollout (the same customer always gets the same variant) and
    independent across rollouts (the salt re-draws who is in the candidate's share).
    """
    digest = hashlib.blake2b(
        key_value.encode("utf-8", "surrogatepass"), digest_size=8, key=rollout_id.encode()[:64]
    )
    return int.from_bytes(digest.digest(), "big") / _HASH_SPACE


def assigned_variant(rollout_id: str, key_value: str, share: float) -> Variant:
    """``candidate`` for the keys whose point is below ``share``, else ``production``."""
    return "candidate" if assignment_point(rollout_id, key_value) < share else "production"


class CanaryStep(BaseModel):
    """One step of a canary: its share, held at least ``min_minutes`` and ``min_requests``."""

    model_config = ConfigDict(extra="forbid")

    share: float = Field(gt=0.0, le=1.0)
    min_minutes: float = Field(10.0, ge=0.0, description="Least time at this share before advancing.")
    min_requests: int = Field(
        200, ge=0, description="Least candidate requests at this share before advancing."
    )


class Guardrails(BaseModel):
    """What the candidate must keep to stay in the rollout; a breach rolls it back (share 0).

    Every limit is optional (None: not watched). Limits on rates and latency are judged once
    the candidate has ``min_requests`` requests since the rollout started.
    """

    model_config = ConfigDict(extra="forbid")

    max_error_rate: float | None = Field(
        0.05, ge=0.0, le=1.0, description="Share of the candidate's requests that failed."
    )
    max_p99_latency_ms: float | None = Field(None, gt=0.0, description="Candidate's p99 latency in a window.")
    max_latency_ratio: float | None = Field(
        2.0, gt=0.0, description="Candidate's p99 latency over production's, in the same window."
    )
    max_prediction_drift: float | None = Field(
        0.25,
        gt=0.0,
        description="Population stability index of the candidate's predictions against production's.",
    )
    metric_worse: bool = Field(
        True, description="Roll back when the labelled metric is worse with always-valid confidence."
    )
    min_requests: int = Field(100, ge=1)


class RolloutMetric(BaseModel):
    """The labelled metric the rollout compares: a built-in, or a SQL expression per labelled instance.

    An expression is Trino SQL over the columns ``prediction`` (double), ``label`` (double) and
    ``features`` (JSON text: ``CAST(json_extract_scalar(features, '$.amount') AS double)``), for
    example ``CASE WHEN prediction >= 0.5 AND label = 0 THEN -5 ELSE 0 END`` (a cost).
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field("accuracy", min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")
    builtin: BuiltinMetric | None = "accuracy"
    expression: str | None = Field(None, max_length=2000)
    higher_is_better: bool = True
    threshold: float = Field(0.5, description="Decision threshold of a probability (accuracy).")

    @model_validator(mode="after")
    def _one_definition(self) -> RolloutMetric:
        if (self.builtin is None) == (self.expression is None):
            raise ValueError("a rollout metric is either a builtin or an expression, exactly one")
        return self


class RolloutTransition(BaseModel):
    """One change of a rollout: the audit trail's unit, like a stage transition."""

    model_config = ConfigDict(extra="forbid")

    action: RolloutAction
    actor: str
    at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    from_share: float
    to_share: float
    reason: str = ""


class RolloutCandidate(BaseModel):
    """The candidate version, as serving loads it (its own artifact, schema and reference)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    version: str
    flavor: Literal["sklearn", "onnx"]
    artifact_uri: str
    input_schema: InputSchema
    prediction_type: Literal["probability", "label", "value"] = "value"
    reference_profile_uri: str | None = None
    source: dict[str, str] = Field(default_factory=dict)

    @field_validator("version")
    @classmethod
    def _version_name(cls, value: str) -> str:
        return check_model_name(value, "version")


class Rollout(BaseModel):
    """A rollout of ``candidate`` beside the manifest's production version."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[A-Za-z0-9_.\-]{1,128}$", description="Unique; salts the assignment hash.")
    mode: RolloutMode
    candidate: RolloutCandidate
    production_version: str = Field(description="The version the candidate is compared with.")
    share: float = Field(
        ge=0.0, le=1.0, description="Share of requests the candidate serves (shadow: scores)."
    )
    key: str = KEY_REQUEST_ID
    steps: list[CanaryStep] = Field(default_factory=list, description="Canary only: the shares to climb.")
    step: int = Field(0, ge=0, description="Canary: index of the current step in steps.")
    step_started_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    guardrails: Guardrails = Field(default_factory=Guardrails)
    metric: RolloutMetric = Field(default_factory=RolloutMetric)
    alpha: float = Field(DEFAULT_ALPHA, gt=0.0, lt=0.5, description="Error level of the always-valid tests.")
    on_candidate_error: CandidateErrorPolicy = Field(
        "production",
        description="ab/canary: answer a request the candidate fails with production's answer, or an error.",
    )
    state: RolloutState = "running"
    started_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    started_by: str = "unknown"
    reason: str = Field("", description="Why it is in its state (the last transition's reason).")
    history: list[RolloutTransition] = Field(default_factory=list)

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        return check_key(value)

    @model_validator(mode="after")
    def _consistent(self) -> Rollout:
        if self.mode == "canary":
            if not self.steps:
                raise ValueError("a canary needs at least one step")
            shares = [step.share for step in self.steps]
            if shares != sorted(shares) or len(set(shares)) != len(shares):
                raise ValueError(f"canary step shares must rise: {shares}")
            if self.step >= len(self.steps):
                raise ValueError(f"step {self.step} of a canary with {len(self.steps)} steps")
        elif self.steps:
            raise ValueError(f"steps are for a canary, not a {self.mode} rollout")
        if self.candidate.version == self.production_version:
            raise ValueError(f"the candidate is production's own version {self.production_version}")
        return self

    @property
    def active(self) -> bool:
        """Whether serving routes (or mirrors) traffic to the candidate."""
        return self.state == "running" and self.share > 0.0

    @property
    def serves_candidate(self) -> bool:
        """ab and canary answer some callers with the candidate; shadow never does."""
        return self.active and self.mode != "shadow"

    def with_transition(
        self, action: RolloutAction, actor: str, reason: str, *, share: float | None = None, **update: Any
    ) -> Rollout:
        """A copy with ``share`` (default: unchanged) and ``update`` applied, and the change recorded."""
        to_share = self.share if share is None else share
        record = RolloutTransition(
            action=action, actor=actor, from_share=self.share, to_share=to_share, reason=reason
        )
        changes = {"share": to_share, "reason": reason, "history": [*self.history, record], **update}
        return self.model_validate({**self.model_dump(), **changes})


# --- the rollout job's documents ----------------------------------------------------------------


class Moments(BaseModel):
    """Count, sum and sum of squares of one quantity: mergeable sufficient statistics of a mean."""

    model_config = ConfigDict(extra="forbid")

    n: int = 0
    total: float = 0.0
    total_sq: float = 0.0

    def __add__(self, other: Moments) -> Moments:
        return Moments(
            n=self.n + other.n, total=self.total + other.total, total_sq=self.total_sq + other.total_sq
        )

    @property
    def mean(self) -> float | None:
        return self.total / self.n if self.n else None

    @property
    def variance(self) -> float | None:
        """Unbiased sample variance (None below two observations)."""
        if self.n < 2:
            return None
        return max(0.0, (self.total_sq - self.total * self.total / self.n) / (self.n - 1))


class VariantWindow(BaseModel):
    """What one variant did in one window."""

    model_config = ConfigDict(extra="forbid")

    variant: Variant
    version: str
    requests: int = 0
    errors: int = 0
    instances: int = 0
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    latency_p99_ms: float | None = None
    error_moments: Moments = Field(default_factory=Moments, description="Per request: 1 failed, 0 served.")
    latency_moments: Moments = Field(default_factory=Moments, description="Per request, milliseconds.")
    metric_moments: Moments = Field(default_factory=Moments, description="Per labelled instance.")
    prediction_histogram: list[int] = Field(
        default_factory=list, description="Predictions per bin of the window's shared bins."
    )
    unavailable: int = Field(
        0, description="Requests routed to this variant while it could not be loaded (production answered)."
    )
    unavailable_reason: str | None = Field(None, description="Why it could not be loaded, as serving said.")


class Agreement(BaseModel):
    """Both variants on the same instances (shadow): identical decisions, score difference."""

    model_config = ConfigDict(extra="forbid")

    pairs: int = 0
    identical: int = 0
    absolute_difference_sum: float = 0.0

    @property
    def identical_share(self) -> float | None:
        return self.identical / self.pairs if self.pairs else None

    @property
    def mean_absolute_difference(self) -> float | None:
        return self.absolute_difference_sum / self.pairs if self.pairs else None


class WindowEvidence(BaseModel):
    """A rollout's evidence from one window: per variant, and between them."""

    model_config = ConfigDict(extra="forbid")

    window_start: datetime
    window_end: datetime
    share: float
    variants: dict[Variant, VariantWindow]
    agreement: Agreement = Field(default_factory=Agreement)
    histogram_edges: list[float] = Field(default_factory=list, description="Bin edges of the histograms.")
    histogram_labels: list[str] = Field(
        default_factory=list,
        description="Label models: the predicted value of each bin (the last bin holds every other value).",
    )


class SequentialTest(BaseModel):
    """An always-valid comparison of the candidate with production on one quantity."""

    model_config = ConfigDict(extra="forbid")

    quantity: str
    estimate: float | None = Field(None, description="Candidate's mean minus production's.")
    low: float | None = Field(None, description="Always-valid interval of the difference, low end.")
    high: float | None = None
    decision: Decision = "no difference yet"
    n_candidate: int = 0
    n_production: int = 0
    higher_is_better: bool = False
    alpha: float | None = Field(
        None, description="Level of the interval; a look at another level does not intersect with it."
    )
    effect_size: float | None = Field(
        None, description="Mixing scale in standard deviations (tau = effect_size x pooled sd)."
    )


class GuardrailCheck(BaseModel):
    """One guardrail against what the candidate did: ok, breached, or waiting for samples."""

    model_config = ConfigDict(extra="forbid")

    name: str
    state: Literal["ok", "breached", "waiting"]
    value: float | None = None
    limit: float | None = None
    detail: str = ""


EvaluationAction = Literal["hold", "advance", "rollback", "none"]


class VariantTotals(BaseModel):
    """A variant's figures accumulated since the rollout started (what the guardrails judge)."""

    model_config = ConfigDict(extra="forbid")

    version: str
    requests: int = 0
    errors: int = 0
    error_rate: float | None = None
    latency_p99_ms: float | None = Field(None, description="The latest window's p99 latency.")
    metric_mean: float | None = None
    labelled: int = 0


class RolloutEvaluation(BaseModel):
    """One evaluation of a rollout: the evidence, the always-valid tests, the guardrails and what follows.

    The rollout job's result (``JobResult.summary`` and ``details``) and what it exports.
    """

    model_config = ConfigDict(extra="forbid")

    rollout_id: str
    mode: RolloutMode
    candidate_version: str
    production_version: str
    action: EvaluationAction
    reason: str = ""
    share_before: float
    share_after: float
    state_after: RolloutState
    step: int | None = None
    totals: dict[Variant, VariantTotals] = Field(default_factory=dict)
    tests: dict[str, SequentialTest] = Field(
        default_factory=dict, description="error_rate, latency_ms, metric."
    )
    guardrails: list[GuardrailCheck] = Field(default_factory=list)
    prediction_drift: float | None = Field(
        None, description="PSI of candidate's predictions against production's."
    )
    agreement: Agreement = Field(default_factory=Agreement)
    windows: int = Field(0, description="Windows of evidence since the rollout started.")

    @property
    def breached(self) -> list[GuardrailCheck]:
        return [check for check in self.guardrails if check.state == "breached"]
