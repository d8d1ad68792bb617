"""The metric catalogue as code: every metric modelwatch writes, its type, labels, unit and meaning.

This module is the single source of the catalogue: ``docs/metrics.md`` is rendered
from it by :func:`render_markdown` (a test checks the two agree), the dashboards
and rules may only use metrics named here (also tested), and every sample written
by modelwatch is built through :meth:`MetricSpec.sample`, which refuses labels the catalogue does not declare.

Label cardinality is bounded by construction; each label states its bound.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, get_args

from modelwatch.contracts.events import RejectionReason
from modelwatch.contracts.sample import Sample


class MetricType(StrEnum):
    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"


@dataclass(frozen=True)
class LabelSpec:
    """A label and the bound on the values it takes."""

    name: str
    bound: str


@dataclass(frozen=True)
class MetricSpec:
    """One metric of the catalogue.

    Parameters
    ----------
    name
        Prometheus name; counters end in ``_total``, units are a suffix (``_seconds``, ``_ratio``).
    type
        Counter, gauge or histogram.
    labels
        The labels every series of the metric carries, no more and no fewer.
    unit
        Unit of the value (``1`` for counts and verdicts).
    help
        What the value means.
    source
        What writes it (``metrics_export``, ``drift job``, ...).
    buckets
        Upper bounds of a histogram's buckets (``+Inf`` is implied).
    """

    name: str
    type: MetricType
    labels: tuple[LabelSpec, ...]
    unit: str
    help: str
    source: str
    buckets: tuple[float, ...] = ()

    @property
    def label_names(self) -> tuple[str, ...]:
        return tuple(label.name for label in self.labels)

    @property
    def series_names(self) -> tuple[str, ...]:
        """Names of the series the metric is stored as (a histogram has three)."""
        if self.type is MetricType.HISTOGRAM:
            return (f"{self.name}_bucket", f"{self.name}_sum", f"{self.name}_count")
        return (self.name,)

    def check_labels(self, labels: Mapping[str, str]) -> None:
        """Raise ``ValueError`` unless ``labels`` are exactly the declared ones."""
        if set(labels) != set(self.label_names):
            raise ValueError(f"{self.name} takes labels {sorted(self.label_names)}, got {sorted(labels)}")

    def sample(self, value: float, timestamp_s: float, **labels: str) -> Sample:
        """Return a sample of this (counter or gauge) metric, its labels checked.

        Raises
        ------
        ValueError
            A label is missing or not declared, or the metric is a histogram.
        """
        if self.type is MetricType.HISTOGRAM:
            raise ValueError(f"{self.name} is a histogram: use histogram_samples")
        self.check_labels(labels)
        return Sample.of(self.name, value, timestamp_s, labels)

    def histogram_samples(
        self,
        bucket_counts: Mapping[float, float],
        total: float,
        count: float,
        timestamp_s: float,
        **labels: str,
    ) -> list[Sample]:
        """Return the ``_bucket`` (cumulative, with ``+Inf``), ``_sum`` and ``_count`` samples.

        ``bucket_counts`` maps each declared upper bound to the cumulative count at or below it.
        """
        if self.type is not MetricType.HISTOGRAM:
            raise ValueError(f"{self.name} is not a histogram")
        self.check_labels(labels)
        samples = [
            Sample.of(
                f"{self.name}_bucket",
                bucket_counts.get(bound, 0.0),
                timestamp_s,
                {**labels, "le": format_le(bound)},
            )
            for bound in self.buckets
        ]
        samples.append(Sample.of(f"{self.name}_bucket", count, timestamp_s, {**labels, "le": "+Inf"}))
        samples.append(Sample.of(f"{self.name}_sum", total, timestamp_s, labels))
        samples.append(Sample.of(f"{self.name}_count", count, timestamp_s, labels))
        return samples


def format_le(bound: float) -> str:
    """Render a bucket bound the way Prometheus client libraries do (``0.25``, ``1.0``)."""
    return repr(float(bound))


REJECTION_REASONS: Final[tuple[str, ...]] = get_args(RejectionReason)
UNKNOWN_MODEL_LABEL: Final = "_unknown"
NO_VERSION_LABEL: Final = "_none"
JOBS: Final = ("drift", "quality", "performance", "rollout", "metrics_export")

MODEL = LabelSpec(
    "model",
    "served models (the `models` of the configuration); a request rejected for an unknown model "
    "is counted under `_unknown`",
)
VERSION = LabelSpec(
    "version",
    "versions with traffic or a monitoring result in the retention period (a handful per model); "
    "`_none` when unknown",
)
FEATURE = LabelSpec("feature", "features of the model's input schema (bounded by schema size)")
METHOD = LabelSpec("method", "statistical tests of the drift registry (about ten)")
REASON = LabelSpec("reason", "closed set: " + ", ".join(f"`{r}`" for r in REJECTION_REASONS))
CHECK = LabelSpec("check", "data-quality checks of the quality job (closed set, about ten)")
PERF_METRIC = LabelSpec(
    "metric", "performance metrics of the prediction type (accuracy, auc, f1, rmse, ...; about ten)"
)
JOB = LabelSpec("job", "closed set: " + ", ".join(f"`{j}`" for j in JOBS))
STREAM = LabelSpec("stream", "capture streams: one per served model plus the rejected stream")
OUTCOME = LabelSpec("outcome", "closed set: `dead_lettered`, `logged`")
QUEUE_STATE = LabelSpec("state", "closed set: `visible`, `in_flight`")
DEAD_LETTER_STATES: Final = ("visible", "in_flight")
VARIANT = LabelSpec("variant", "closed set: `production`, `candidate` (the two sides of a rollout)")
GUARDRAIL = LabelSpec(
    "guardrail",
    "the rollout's guardrails (closed set: `error_rate`, `p99_latency_ms`, `latency_ratio`, "
    "`prediction_drift`, `<metric>_worse`)",
)
ROLLOUT_TEST = LabelSpec(
    "test", "the rollout's always-valid tests: `error_rate`, `latency_ms` and its labelled metric's name (3)"
)
ROLLOUT_METRIC = LabelSpec("metric", "the rollout's labelled metric's name (one per rollout)")
QUANTILE = LabelSpec("quantile", "closed set: `0.5`, `0.99`")

LATENCY_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

PREDICTIONS_TOTAL = MetricSpec(
    "modelwatch_predictions_total", MetricType.COUNTER, (MODEL, VERSION), "1",
    "Instances served (one per captured prediction event).", "metrics_export (captured events)",
)  # fmt: skip
PREDICTION_REQUESTS_TOTAL = MetricSpec(
    "modelwatch_prediction_requests_total", MetricType.COUNTER, (MODEL, VERSION), "1",
    "Prediction requests served (a request carries one or more instances).",
    "metrics_export (captured events)",
)  # fmt: skip
REJECTIONS_TOTAL = MetricSpec(
    "modelwatch_rejections_total", MetricType.COUNTER, (MODEL, VERSION, REASON), "1",
    "Requests not served, by reason (4xx and 503 answers; one per request).",
    "metrics_export (captured events)",
)  # fmt: skip
PREDICTION_LATENCY = MetricSpec(
    "modelwatch_prediction_latency_seconds", MetricType.HISTOGRAM, (MODEL, VERSION), "seconds",
    "Time the API spent on a served request, capture excluded (one observation per request).",
    "metrics_export (captured events)", LATENCY_BUCKETS,
)  # fmt: skip
CAPTURE_FAILURES_TOTAL = MetricSpec(
    "modelwatch_capture_failures_total", MetricType.COUNTER, (STREAM, OUTCOME), "1",
    "Event records Firehose refused after retries: dead-lettered to SQS, or kept in the log only.",
    "metrics_export (CloudWatch metric CaptureFailures)",
)  # fmt: skip
LAST_EVENT_TIMESTAMP = MetricSpec(
    "modelwatch_last_event_timestamp_seconds", MetricType.GAUGE, (MODEL, VERSION), "seconds",
    "Unix time of the newest captured prediction event (how fresh the serving metrics are).",
    "metrics_export (captured events)",
)  # fmt: skip
FEATURE_DRIFT_SCORE = MetricSpec(
    "modelwatch_feature_drift_score", MetricType.GAUGE, (MODEL, VERSION, FEATURE, METHOD), "1",
    "Drift statistic or effect size of a feature, window against reference (scale depends on method).",
    "drift job",
)  # fmt: skip
FEATURE_DRIFT_P_VALUE = MetricSpec(
    "modelwatch_feature_drift_p_value", MetricType.GAUGE, (MODEL, VERSION, FEATURE, METHOD), "1",
    "p-value of the feature's drift test after false-discovery-rate control (NaN for distance methods).",
    "drift job",
)  # fmt: skip
FEATURE_DRIFT_DETECTED = MetricSpec(
    "modelwatch_feature_drift_detected", MetricType.GAUGE, (MODEL, VERSION, FEATURE, METHOD), "1",
    "1 when the feature drifted (significant and above the effect-size floor), else 0.", "drift job",
)  # fmt: skip
DATASET_DRIFT_SHARE = MetricSpec(
    "modelwatch_dataset_drift_share", MetricType.GAUGE, (MODEL, VERSION), "ratio",
    "Share of the schema's features that drifted in the window (0 to 1).", "drift job",
)  # fmt: skip
DATASET_DRIFT_DETECTED = MetricSpec(
    "modelwatch_dataset_drift_detected", MetricType.GAUGE, (MODEL, VERSION), "1",
    "1 when the drifted share reaches the dataset-drift threshold, else 0.", "drift job",
)  # fmt: skip
DATA_QUALITY_RATE = MetricSpec(
    "modelwatch_data_quality_rate", MetricType.GAUGE, (MODEL, VERSION, FEATURE, CHECK), "ratio",
    "Share of the window's rows failing a check on a feature (missing, out of range, unseen category, ...).",
    "quality job",
)  # fmt: skip
DATA_QUALITY_FAILED = MetricSpec(
    "modelwatch_data_quality_check_failed", MetricType.GAUGE, (MODEL, VERSION, FEATURE, CHECK), "1",
    "1 when the check's rate is above its threshold, else 0.", "quality job",
)  # fmt: skip
MODEL_PERFORMANCE = MetricSpec(
    "modelwatch_model_performance", MetricType.GAUGE, (MODEL, VERSION, PERF_METRIC), "1",
    "A performance metric on the window's labelled predictions.", "performance job",
)  # fmt: skip
MODEL_PERFORMANCE_THRESHOLD = MetricSpec(
    "modelwatch_model_performance_threshold", MetricType.GAUGE, (MODEL, VERSION, PERF_METRIC), "1",
    "The configured bound of the performance metric (a floor, or a ceiling for error metrics).",
    "performance job",
)  # fmt: skip
MODEL_PERFORMANCE_DEGRADED = MetricSpec(
    "modelwatch_model_performance_degraded", MetricType.GAUGE, (MODEL, VERSION, PERF_METRIC), "1",
    "1 when the metric is on the wrong side of its threshold, else 0.", "performance job",
)  # fmt: skip
MONITORING_WINDOW_ROWS = MetricSpec(
    "modelwatch_monitoring_window_rows", MetricType.GAUGE, (JOB, MODEL, VERSION), "1",
    "Rows (instances) in the window a monitoring job evaluated.", "drift, quality and performance jobs",
)  # fmt: skip
JOB_DURATION = MetricSpec(
    "modelwatch_job_duration_seconds", MetricType.GAUGE, (JOB, MODEL), "seconds",
    "Wall time of the job's last run.", "every job",
)  # fmt: skip
JOB_LAST_SUCCESS = MetricSpec(
    "modelwatch_job_last_success_timestamp_seconds", MetricType.GAUGE, (JOB, MODEL), "seconds",
    "Unix time the job last succeeded (pushed by successful runs only).", "every job",
)  # fmt: skip
JOB_LAST_RUN_SUCCESS = MetricSpec(
    "modelwatch_job_last_run_success", MetricType.GAUGE, (JOB, MODEL), "1",
    "1 when the job's last run succeeded, 0 when it failed.", "every job",
)  # fmt: skip
JOB_SCHEDULE = MetricSpec(
    "modelwatch_job_schedule_seconds", MetricType.GAUGE, (JOB, MODEL), "seconds",
    "The job's schedule period, so rules can tell how late a success is.", "every job",
)  # fmt: skip
CAPTURE_DEAD_LETTER_MESSAGES = MetricSpec(
    "modelwatch_capture_dead_letter_messages", MetricType.GAUGE, (QUEUE_STATE,), "1",
    "Messages in the capture dead-letter queue: waiting (`visible`), or received by a replay and not yet "
    "deleted (`in_flight`); events there are missing from S3 until `modelwatch capture replay` runs.",
    "metrics_export (SQS queue attributes)",
)  # fmt: skip
MODEL_PUBLISHED_TIMESTAMP = MetricSpec(
    "modelwatch_model_published_timestamp_seconds", MetricType.GAUGE, (MODEL, VERSION), "seconds",
    "Unix time the version published under the serving alias was published (its manifest's `created_at`): "
    "one series per model, the version serving should answer with.",
    "metrics_export (serving manifests)",
)  # fmt: skip
ROLLOUT_WINDOW_REQUESTS = MetricSpec(
    "modelwatch_rollout_window_requests", MetricType.GAUGE, (MODEL, VERSION, VARIANT), "1",
    "Requests a rollout's variant served in the rollout job's last window (its errors included; shadow: "
    "the requests the candidate scored).", "rollout job",
)  # fmt: skip
ROLLOUT_WINDOW_ERRORS = MetricSpec(
    "modelwatch_rollout_window_errors", MetricType.GAUGE, (MODEL, VERSION, VARIANT), "1",
    "Requests a rollout's variant failed in the rollout job's last window.", "rollout job",
)  # fmt: skip
ROLLOUT_ERROR_RATE = MetricSpec(
    "modelwatch_rollout_error_rate_ratio", MetricType.GAUGE, (MODEL, VERSION, VARIANT), "ratio",
    "Share of a variant's requests that failed since the rollout started (what the guardrail judges).",
    "rollout job",
)  # fmt: skip
ROLLOUT_LATENCY = MetricSpec(
    "modelwatch_rollout_latency_seconds", MetricType.GAUGE, (MODEL, VERSION, VARIANT, QUANTILE), "seconds",
    "A quantile of a variant's request latency in the rollout job's last window.", "rollout job",
)  # fmt: skip
ROLLOUT_METRIC_MEAN = MetricSpec(
    "modelwatch_rollout_metric_mean", MetricType.GAUGE, (MODEL, VERSION, VARIANT, ROLLOUT_METRIC), "1",
    "Mean of the rollout's labelled metric per labelled instance of a variant, since the rollout started.",
    "rollout job",
)  # fmt: skip
ROLLOUT_PREDICTION_DRIFT = MetricSpec(
    "modelwatch_rollout_prediction_drift_psi", MetricType.GAUGE, (MODEL, VERSION), "1",
    "Population stability index of the candidate's predictions against production's, since the rollout "
    "started (`version`: the candidate's).", "rollout job",
)  # fmt: skip
ROLLOUT_AGREEMENT = MetricSpec(
    "modelwatch_rollout_agreement_ratio", MetricType.GAUGE, (MODEL, VERSION), "ratio",
    "Shadow: share of paired instances on which the candidate's decision equals production's, since the "
    "rollout started.", "rollout job",
)  # fmt: skip
ROLLOUT_MEAN_ABSOLUTE_DIFFERENCE = MetricSpec(
    "modelwatch_rollout_mean_absolute_difference", MetricType.GAUGE, (MODEL, VERSION), "1",
    "Shadow: mean absolute difference of the candidate's and production's scores on the same instances.",
    "rollout job",
)  # fmt: skip
ROLLOUT_SHARE = MetricSpec(
    "modelwatch_rollout_share_ratio", MetricType.GAUGE, (MODEL, VERSION), "ratio",
    "Share of requests the candidate serves (shadow: scores) after the rollout job's evaluation.",
    "rollout job",
)  # fmt: skip
ROLLOUT_GUARDRAIL_STATE = MetricSpec(
    "modelwatch_rollout_guardrail_state", MetricType.GAUGE, (MODEL, VERSION, GUARDRAIL), "1",
    "A guardrail's state: 0 ok, 1 breached, -1 waiting for samples.", "rollout job",
)  # fmt: skip
ROLLOUT_GUARDRAIL_VALUE = MetricSpec(
    "modelwatch_rollout_guardrail_value", MetricType.GAUGE, (MODEL, VERSION, GUARDRAIL), "1",
    "What the guardrail judged (its unit: errors per request, ms, a ratio, PSI, a metric difference).",
    "rollout job",
)  # fmt: skip
ROLLOUT_GUARDRAIL_LIMIT = MetricSpec(
    "modelwatch_rollout_guardrail_limit", MetricType.GAUGE, (MODEL, VERSION, GUARDRAIL), "1",
    "The guardrail's limit, in the unit of its value.", "rollout job",
)  # fmt: skip
ROLLOUT_DECISION = MetricSpec(
    "modelwatch_rollout_decision", MetricType.GAUGE, (MODEL, VERSION, ROLLOUT_TEST), "1",
    "An always-valid test's decision: 1 candidate better, -1 candidate worse, 0 no difference yet.",
    "rollout job",
)  # fmt: skip
ROLLOUT_ESTIMATE = MetricSpec(
    "modelwatch_rollout_estimate", MetricType.GAUGE, (MODEL, VERSION, ROLLOUT_TEST), "1",
    "Candidate's mean minus production's, since the rollout started.", "rollout job",
)  # fmt: skip
ROLLOUT_INTERVAL_LOW = MetricSpec(
    "modelwatch_rollout_interval_low", MetricType.GAUGE, (MODEL, VERSION, ROLLOUT_TEST), "1",
    "Low end of the difference's always-valid confidence interval.", "rollout job",
)  # fmt: skip
ROLLOUT_INTERVAL_HIGH = MetricSpec(
    "modelwatch_rollout_interval_high", MetricType.GAUGE, (MODEL, VERSION, ROLLOUT_TEST), "1",
    "High end of the difference's always-valid confidence interval.", "rollout job",
)  # fmt: skip
ROLLOUT_TEST_SAMPLES = MetricSpec(
    "modelwatch_rollout_test_samples", MetricType.GAUGE, (MODEL, VERSION, ROLLOUT_TEST, VARIANT), "1",
    "Observations of a variant behind an always-valid test (requests, or labelled instances).",
    "rollout job",
)  # fmt: skip
ROLLOUT_ROLLED_BACK = MetricSpec(
    "modelwatch_rollout_rolled_back", MetricType.GAUGE, (MODEL, VERSION), "1",
    "1 when the rollout job rolled the candidate back in this window (share set to 0), else 0.",
    "rollout job",
)  # fmt: skip

CATALOGUE: Final[tuple[MetricSpec, ...]] = (
    PREDICTIONS_TOTAL,
    PREDICTION_REQUESTS_TOTAL,
    REJECTIONS_TOTAL,
    PREDICTION_LATENCY,
    CAPTURE_FAILURES_TOTAL,
    LAST_EVENT_TIMESTAMP,
    FEATURE_DRIFT_SCORE,
    FEATURE_DRIFT_P_VALUE,
    FEATURE_DRIFT_DETECTED,
    DATASET_DRIFT_SHARE,
    DATASET_DRIFT_DETECTED,
    DATA_QUALITY_RATE,
    DATA_QUALITY_FAILED,
    MODEL_PERFORMANCE,
    MODEL_PERFORMANCE_THRESHOLD,
    MODEL_PERFORMANCE_DEGRADED,
    MONITORING_WINDOW_ROWS,
    JOB_DURATION,
    JOB_LAST_SUCCESS,
    JOB_LAST_RUN_SUCCESS,
    JOB_SCHEDULE,
    CAPTURE_DEAD_LETTER_MESSAGES,
    MODEL_PUBLISHED_TIMESTAMP,
    ROLLOUT_WINDOW_REQUESTS,
    ROLLOUT_WINDOW_ERRORS,
    ROLLOUT_ERROR_RATE,
    ROLLOUT_LATENCY,
    ROLLOUT_METRIC_MEAN,
    ROLLOUT_PREDICTION_DRIFT,
    ROLLOUT_AGREEMENT,
    ROLLOUT_MEAN_ABSOLUTE_DIFFERENCE,
    ROLLOUT_SHARE,
    ROLLOUT_GUARDRAIL_STATE,
    ROLLOUT_GUARDRAIL_VALUE,
    ROLLOUT_GUARDRAIL_LIMIT,
    ROLLOUT_DECISION,
    ROLLOUT_ESTIMATE,
    ROLLOUT_INTERVAL_LOW,
    ROLLOUT_INTERVAL_HIGH,
    ROLLOUT_TEST_SAMPLES,
    ROLLOUT_ROLLED_BACK,
)
BY_NAME: Final[dict[str, MetricSpec]] = {spec.name: spec for spec in CATALOGUE}


def series_names() -> dict[str, MetricSpec]:
    """Return every stored series name (histograms expanded) with the metric it belongs to."""
    return {series: spec for spec in CATALOGUE for series in spec.series_names}


def render_markdown() -> str:
    """Return ``docs/metrics.md``: the catalogue as a Markdown document."""
    lines = [
        "# Metric catalogue",
        "",
        "<!-- Generated from layers/modelwatch/modelwatch/contracts/catalogue.py by",
        "     python -c 'import modelwatch.contracts.catalogue as c; print(c.render_markdown(), end=\"\")'",
        "     > docs/metrics.md (a test checks they agree). -->",
        "",
        "Every metric modelwatch writes to Prometheus (Amazon Managed Service for Prometheus in AWS,",
        "a local Prometheus on one machine), through the remote-write client",
        "(`modelwatch.metrics.remote_write`). Dashboards and alert rules use only these names.",
        "User-declared custom metrics (`modelwatch.metrics.custom`) come on top; see the end.",
        "",
        "| metric | type | labels | unit | meaning | written by |",
        "|---|---|---|---|---|---|",
    ]
    for spec in CATALOGUE:
        labels = ", ".join(f"`{name}`" for name in spec.label_names) or "none"
        name = f"`{spec.name}`"
        if spec.type is MetricType.HISTOGRAM:
            name += " (`_bucket`, `_sum`, `_count`)"
        lines.append(f"| {name} | {spec.type.value} | {labels} | {spec.unit} | {spec.help} | {spec.source} |")
    lines += ["", "## Labels and their cardinality", "", "| label | values |", "|---|---|"]
    seen: dict[str, str] = {}
    for spec in CATALOGUE:
        for label in spec.labels:
            seen.setdefault(label.name, label.bound)
    for name, bound in seen.items():
        lines.append(f"| `{name}` | {bound} |")
    lines.append(
        "| `le` | histogram bucket bounds: " + ", ".join(format_le(b) for b in LATENCY_BUCKETS) + ", `+Inf` |"
    )
    lines += [
        "",
        "A model with F schema features, M drift methods, C quality checks and P performance metrics",
        "has at most `F x M x 3 + F x C x 2 + P x 3 + 30` monitoring series per version, and",
        "`2 + 5 x 1 + 14` serving series per version (5 rejection reasons, 11 latency buckets + 3).",
        "A fraud model with 6 features, 1 method per feature, 5 checks and 4 metrics: about 140 series",
        "per version.",
        "",
        "A running rollout adds about `2 x 6 + 3 x 5 + 5 x 3 + 5` series (per variant; per test; per",
        "guardrail; for the rollout), about 50, while it runs.",
        "",
        "## How serving metrics reach Prometheus",
        "",
        "Not on the request path. The predict function captures events to Firehose; the",
        "`metrics_export` function runs every minute, reads the event objects delivered since its last",
        "run (per-hour prefixes of the last two hours, each object once), adds them to cumulative",
        "counters kept in a small JSON state object in S3, and remote-writes every series with the",
        "time of the run. Counters are therefore true Prometheus counters (monotonic, cumulative since",
        "the state was created, so `rate()` and `increase()` work and a state reset reads as a counter",
        "reset); a failed write loses nothing, because the next run writes the larger cumulative values.",
        "",
        "Freshness: Firehose buffers up to 60 s before it delivers an object, and the export runs every",
        "60 s, so a request shows on the dashboards 1 to 2.5 minutes after it was served. The export",
        "writes every known series each run, so an idle model reads as a rate of 0, not as no data.",
        "",
        "## Custom metrics",
        "",
        "Declared in the configuration (`custom_metrics` in cdk.json, or `MODELWATCH_CUSTOM_METRICS`",
        "as JSON or YAML) or in Python (`modelwatch.metrics.custom.CustomMetric`), computed by the",
        "same export from the prediction events, and written through the same client. Their labels are",
        "`model` and `version`; names must not clash with the catalogue. See `docs/alerts.md` and the",
        "module docstring of `modelwatch.metrics.custom` for the declaration format.",
        "",
    ]
    return "\n".join(lines)
