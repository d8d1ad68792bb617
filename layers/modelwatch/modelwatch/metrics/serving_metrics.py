"""Serving metrics derived from the captured events, off the request path.

The predict function makes one Firehose call per request and no metrics call. The
``metrics_export`` job (every minute) reads the event objects Firehose delivered
since its last run, adds them to **cumulative counters** kept in a small JSON state
document (S3), and writes every series through a :class:`MetricsSink` with the
time of the run. So:

- counters are real Prometheus counters (monotonic per series), and ``rate()`` /
  ``increase()`` / ``histogram_quantile()`` work on them;
- a failed write loses nothing: the next run writes the larger cumulative values;
- every object is counted once: the state remembers the keys it has counted
  (for ``retain_processed_seconds``, longer than the listing window), and is saved
  with a conditional write (``stores.state``), so two overlapping runs cannot both count an object;
- an idle model keeps its series (written each run), so its rate reads 0, not "no data".

Label cardinality stays bounded: a request rejected for an unknown model is
counted under model ``_unknown`` (the name is user input), a missing version is ``_none``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal, Protocol

from pydantic import BaseModel, Field

from modelwatch.contracts import catalogue as cat
from modelwatch.contracts.custom_metrics import CustomMetric, custom_metric_updates
from modelwatch.contracts.manifest import ServingManifest
from modelwatch.contracts.sample import Sample
from modelwatch.metrics.monitoring_metrics import job_samples
from modelwatch.metrics.provider import MetricsSink
from modelwatch.metrics.remote_write import WriteOutcome
from modelwatch.observability import logger
from modelwatch.settings.export import ExportSettings
from modelwatch.stores.dead_letter_queue import QueueDepthSource
from modelwatch.stores.events import EventStore
from modelwatch.stores.manifests import ManifestStore
from modelwatch.stores.objects import ObjectStorage
from modelwatch.stores.state import StateConflict, StateStore

STATE_SCHEMA_VERSION: Final = 1
DEFAULT_RETAIN_PROCESSED_SECONDS: Final = 4 * 3600.0


def _series_id(name: str, labels: Mapping[str, str]) -> str:
    return json.dumps([name, sorted(labels.items())], separators=(",", ":"))


class SeriesValue(BaseModel):
    name: str
    labels: dict[str, str]
    value: float


class ServingState(BaseModel):
    """Cumulative serving counters and what has been counted; stored as JSON (schema_version 1)."""

    schema_version: Literal[1] = STATE_SCHEMA_VERSION
    created_at: float = Field(default_factory=time.time)
    updated_at: float = Field(default_factory=time.time)
    counters: dict[str, SeriesValue] = Field(default_factory=dict)
    gauges: dict[str, SeriesValue] = Field(default_factory=dict)
    processed: dict[str, float] = Field(
        default_factory=dict, description="Object keys already counted, with when they were counted."
    )
    capture_failures_until: float | None = None

    def add(self, name: str, labels: Mapping[str, str], amount: float) -> None:
        """Add ``amount`` (non-negative) to a cumulative counter."""
        key = _series_id(name, labels)
        entry = self.counters.get(key)
        if entry is None:
            self.counters[key] = SeriesValue(name=name, labels=dict(labels), value=amount)
        else:
            entry.value += amount

    def set_max(self, name: str, labels: Mapping[str, str], value: float) -> None:
        """Raise a gauge to ``value`` if it is higher (a high-water mark such as the last event time)."""
        key = _series_id(name, labels)
        entry = self.gauges.get(key)
        if entry is None or value > entry.value:
            self.gauges[key] = SeriesValue(name=name, labels=dict(labels), value=value)

    def counter(self, name: str, **labels: str) -> float:
        """The cumulative value of one counter series (0 when it does not exist)."""
        entry = self.counters.get(_series_id(name, labels))
        return entry.value if entry else 0.0

    def prune(self, now: float, retain_seconds: float) -> None:
        """Forget processed keys older than ``retain_seconds`` (they are out of the listing window)."""
        self.processed = {k: t for k, t in self.processed.items() if now - t <= retain_seconds}

    def samples(self, now: float) -> list[Sample]:
        """Every series at ``now``: the cumulative counters and the high-water gauges."""
        return [
            Sample.of(entry.name, entry.value, now, entry.labels)
            for entry in [*self.counters.values(), *self.gauges.values()]
        ]


def _epoch(value: Any) -> float | None:
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    return None


def _latency_bucket_bounds(seconds: float) -> list[float]:
    return [bound for bound in cat.LATENCY_BUCKETS if seconds <= bound]


@dataclass
class RecordCounts:
    """What a batch of records added, for logs and tests."""

    predictions: int = 0
    requests: int = 0
    rejections: int = 0
    skipped: int = 0


def apply_records(
    state: ServingState,
    records: Iterable[Mapping[str, Any]],
    *,
    known_models: frozenset[str] | None = None,
    custom: Sequence[CustomMetric] = (),
) -> RecordCounts:
    """Add event records (prediction events and rejected requests) to the cumulative counters.

    Parameters
    ----------
    state
        The counters to update.
    records
        Decoded JSON records of ``PredictionEvent`` or ``RejectedRequest``.
    known_models
        Served models; other names are counted as ``_unknown`` (bounded labels). ``None``
        trusts prediction events (they exist only for served models) and maps only
        ``unknown_model`` rejections to ``_unknown``.
    custom
        Custom metrics; their counters are updated from the prediction events.

    Returns
    -------
    RecordCounts
        What was counted; records that are neither kind are skipped.
    """
    counts = RecordCounts()
    for record in records:
        model = str(record.get("model", ""))
        version = str(record.get("version") or cat.NO_VERSION_LABEL)
        if "reason" in record:
            reason = str(record["reason"])
            if reason not in cat.REJECTION_REASONS:
                counts.skipped += 1
                continue
            if reason == "unknown_model" or (known_models is not None and model not in known_models):
                model = cat.UNKNOWN_MODEL_LABEL
            state.add(cat.REJECTIONS_TOTAL.name, {"model": model, "version": version, "reason": reason}, 1)
            counts.rejections += 1
            continue
        if "prediction" not in record or not model:
            counts.skipped += 1
            continue
        if known_models is not None and model not in known_models:
            model = cat.UNKNOWN_MODEL_LABEL
        labels = {"model": model, "version": version}
        state.add(cat.PREDICTIONS_TOTAL.name, labels, 1)
        counts.predictions += 1
        if (timestamp := _epoch(record.get("timestamp"))) is not None:
            state.set_max(cat.LAST_EVENT_TIMESTAMP.name, labels, timestamp)
        if record.get("index", 0) == 0 and isinstance(record.get("latency_ms"), int | float):
            seconds = float(record["latency_ms"]) / 1000.0
            state.add(cat.PREDICTION_REQUESTS_TOTAL.name, labels, 1)
            name = cat.PREDICTION_LATENCY.name
            for bound in _latency_bucket_bounds(seconds):
                state.add(f"{name}_bucket", {**labels, "le": cat.format_le(bound)}, 1)
            state.add(f"{name}_bucket", {**labels, "le": "+Inf"}, 1)
            state.add(f"{name}_sum", labels, seconds)
            state.add(f"{name}_count", labels, 1)
            counts.requests += 1
        for metric_name, metric_labels, amount in custom_metric_updates(custom, record, labels):
            state.add(metric_name, metric_labels, amount)
    return counts


def ensure_histogram_buckets(state: ServingState) -> None:
    """Give every latency histogram all its buckets (a bucket nothing fell into reads 0, not absent)."""
    name = cat.PREDICTION_LATENCY.name
    for entry in list(state.counters.values()):
        if entry.name == f"{name}_count":
            for bound in [*(cat.format_le(b) for b in cat.LATENCY_BUCKETS), "+Inf"]:
                state.add(f"{name}_bucket", {**entry.labels, "le": bound}, 0)


def serving_samples_from_events(
    records: Iterable[Mapping[str, Any]],
    now: float,
    state: ServingState | None = None,
    *,
    known_models: frozenset[str] | None = None,
    custom: Sequence[CustomMetric] = (),
) -> list[Sample]:
    """Return the serving samples at ``now`` after adding ``records`` to ``state`` (a new one if None).

    The samples are cumulative counters; pass the same ``state`` on every call (and
    persist it) so that the counters keep increasing across calls.
    """
    state = state if state is not None else ServingState()
    apply_records(state, records, known_models=known_models, custom=custom)
    ensure_histogram_buckets(state)
    return state.samples(now)


# --- capture failures (CloudWatch) ----------------------------------------------------------------


class CaptureFailureSource(Protocol):
    """Capture failures counted by serving (they never reach the events, by definition)."""

    def failures(self, start: float, end: float) -> dict[tuple[str, str], float]:
        """Return failed records between ``start`` and ``end`` by ``(stream, outcome)``."""
        ...


class CloudWatchCaptureFailures:
    """Reads serving's ``CaptureFailures`` metric (embedded metric format) from CloudWatch.

    Serving emits it with dimensions ``stream`` and ``outcome``; every dimension set
    found by ``ListMetrics`` is summed over whole minutes with ``GetMetricData``.
    """

    def __init__(self, cloudwatch_client: Any, namespace: str = "modelwatch") -> None:
        self._cw = cloudwatch_client
        self._namespace = namespace

    def failures(self, start: float, end: float) -> dict[tuple[str, str], float]:
        metrics = []
        for page in self._cw.get_paginator("list_metrics").paginate(
            Namespace=self._namespace, MetricName="CaptureFailures"
        ):
            metrics.extend(page.get("Metrics", []))
        found: dict[tuple[str, str], float] = {}
        if not metrics or end <= start:
            return found
        queries = []
        keys: dict[str, tuple[str, str]] = {}
        for index, metric in enumerate(metrics[:500]):
            dims = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
            query_id = f"m{index}"
            keys[query_id] = (dims.get("stream", "unknown"), dims.get("outcome", "unknown"))
            queries.append({
                "Id": query_id,
                "MetricStat": {"Metric": metric, "Period": 60, "Stat": "Sum"},
                "ReturnData": True,
            })  # fmt: skip
        response = self._cw.get_metric_data(
            MetricDataQueries=queries,
            StartTime=datetime.fromtimestamp(start, UTC),
            EndTime=datetime.fromtimestamp(end, UTC),
        )
        for result in response.get("MetricDataResults", []):
            key = keys[result["Id"]]
            found[key] = found.get(key, 0.0) + float(sum(result.get("Values", [])))
        return found


# --- the capture dead-letter queue (SQS) ------------------------------------------------------------


def dead_letter_samples(source: QueueDepthSource, now: float) -> list[Sample]:
    """``modelwatch_capture_dead_letter_messages`` by state, now; none when the queue cannot be read.

    A gauge of what SQS says at the time of the run, not kept in the state: a failed read
    writes nothing, so the series goes stale rather than repeating an old depth.
    """
    try:
        depth = source.depth()
    except Exception as error:  # SQS unavailable: the next run reads it again
        logger.warning("capture dead-letter queue not read", extra={"error": str(error)})
        return []
    spec = cat.CAPTURE_DEAD_LETTER_MESSAGES
    return [
        spec.sample(depth.visible, now, state="visible"),
        spec.sample(depth.in_flight, now, state="in_flight"),
    ]


# --- what serving should answer with (the serving manifests) ------------------------------------------


class PublishedManifests(Protocol):
    """Reads the manifest published under an alias (:class:`~modelwatch.stores.manifests.ManifestStore`)."""

    def current(self, model: str, alias: str) -> ServingManifest | None: ...


def _exported_models(settings: ExportSettings, manifests: ManifestStore | None) -> list[str]:
    """The models a run exports: ``served_models`` when set, else every model with a manifest under
    the serving alias (models are data: one published after deployment is exported from its first
    run). A listing that fails raises, so the run fails where it can be seen and is retried."""
    if settings.served_models:
        return list(settings.served_models)
    if manifests is None:
        return []
    return manifests.models(settings.serving_alias)


def published_samples(
    manifests: PublishedManifests, models: Iterable[str], alias: str, now: float
) -> list[Sample]:
    """``modelwatch_model_published_timestamp_seconds{model, version}``: one per model with a manifest.

    Read at every run, not kept in the state: a model without a manifest, or whose manifest
    cannot be read, gets no sample (its series goes stale) and the others still do. With
    ``modelwatch_last_event_timestamp_seconds`` it tells when serving still answers with an
    older version than the one published (``ModelwatchPublishedVersionNotServed``).
    """
    spec = cat.MODEL_PUBLISHED_TIMESTAMP
    samples = []
    for model in models:
        try:
            manifest = manifests.current(model, alias)
        except Exception as error:  # S3 unavailable or a manifest that does not parse: next run
            logger.warning(
                "serving manifest not read", extra={"model": model, "alias": alias, "error": str(error)}
            )
            continue
        if manifest is not None:
            samples.append(
                spec.sample(manifest.created_at.timestamp(), now, model=model, version=manifest.version)
            )
    return samples


# --- the export -----------------------------------------------------------------------------------


@dataclass
class ExportOutcome:
    """What one export run did."""

    objects: int = 0
    unreadable: list[str] = field(default_factory=list)
    counts: RecordCounts = field(default_factory=RecordCounts)
    series: int = 0
    write: WriteOutcome = field(default_factory=WriteOutcome)
    conflicts: int = 0
    saved: bool = False


class ExportIncomplete(RuntimeError):
    """Keys handed to the export (from Object Created messages) were not all counted: retry them."""


def delivered_keys_of(messages: Iterable[Mapping[str, Any]], bucket: str) -> list[str]:
    """The object keys of SQS messages whose bodies are S3 "Object Created" EventBridge events.

    Messages about another bucket are skipped (the rule names one bucket; this is a safeguard).

    Raises
    ------
    ValueError
        Naming the message whose body is not such an event (it would otherwise be lost silently).
    """
    keys: list[str] = []
    for message in messages:
        try:
            detail = json.loads(message["body"])["detail"]
            name, key = detail["bucket"]["name"], detail["object"]["key"]
        except (KeyError, TypeError, json.JSONDecodeError) as error:
            raise ValueError(
                f"message {message.get('messageId', '?')} is not an S3 Object Created event: {error!r}"
            ) from None
        if name == bucket:
            keys.append(str(key))
    return keys


def export_serving_metrics(
    *,
    keys: Iterable[str],
    read_records: Callable[[str], list[dict[str, Any]]],
    store: StateStore[ServingState],
    sink: MetricsSink,
    clock: Callable[[], float] = time.time,
    known_models: frozenset[str] | None = None,
    custom: Sequence[CustomMetric] = (),
    capture_failures: CaptureFailureSource | None = None,
    capture_failures_delay_seconds: float = 120.0,
    retain_processed_seconds: float = DEFAULT_RETAIN_PROCESSED_SECONDS,
    max_conflicts: int = 3,
) -> ExportOutcome:
    """Count new event objects into the cumulative state, save it, then write every series.

    Parameters
    ----------
    keys
        Candidate object keys (``EventStore.delivered_keys``); already counted ones are skipped.
    read_records
        Returns the records of an object (``EventStore.read``); an error marks the key unreadable.
    store
        Where the cumulative state lives; saved conditionally, retried on conflict.
    sink
        Where the samples go.
    clock
        Unix time now; the samples carry the time taken *after* the state is saved, so
        the written counter values increase with their timestamps even across overlapping runs.
    known_models, custom
        As in :func:`apply_records`.
    capture_failures
        CloudWatch's capture failures (``None``: not counted, e.g. locally).
    capture_failures_delay_seconds
        How far behind now CloudWatch is read (its ingestion delay).
    retain_processed_seconds
        How long counted keys are remembered; longer than the listing window.
    max_conflicts
        Conditional-save conflicts tolerated before giving up this run (the next run catches up).

    Returns
    -------
    ExportOutcome
        Objects counted, unreadable keys (retried next run), the write outcome. Never raises
        for an unreachable metrics endpoint; a state that cannot be saved is logged and left
        for the next run.
    """
    candidates = list(dict.fromkeys(keys))
    outcome = ExportOutcome()
    for _ in range(max_conflicts + 1):
        state, version = store.load()
        outcome = ExportOutcome(conflicts=outcome.conflicts)
        started = clock()
        for key in candidates:
            if key in state.processed:
                continue
            try:
                records = read_records(key)
            except Exception as error:  # one bad object must not block the others
                logger.warning("event object not readable", extra={"key": key, "error": str(error)})
                outcome.unreadable.append(key)
                continue
            counts = apply_records(state, records, known_models=known_models, custom=custom)
            for attr in ("predictions", "requests", "rejections", "skipped"):
                setattr(outcome.counts, attr, getattr(outcome.counts, attr) + getattr(counts, attr))
            state.processed[key] = started
            outcome.objects += 1
        if capture_failures is not None:
            _add_capture_failures(state, capture_failures, started - capture_failures_delay_seconds)
        ensure_histogram_buckets(state)
        state.prune(started, retain_processed_seconds)
        state.updated_at = started
        try:
            store.save(state, version)
        except StateConflict:
            outcome.conflicts += 1
            continue
        outcome.saved = True
        samples = state.samples(clock())
        outcome.series = len(samples)
        outcome.write = sink.push(samples)
        return outcome
    logger.warning(
        "serving metrics state kept changing; giving up this run", extra={"conflicts": outcome.conflicts}
    )
    return outcome


def _add_capture_failures(state: ServingState, source: CaptureFailureSource, until: float) -> None:
    until = until - until % 60  # whole minutes, as CloudWatch aggregates them
    start = state.capture_failures_until if state.capture_failures_until is not None else until - 60
    if until <= start:
        return
    try:
        found = source.failures(start, until)
    except Exception as error:  # CloudWatch unavailable: try the same window next run
        logger.warning("capture failures not read", extra={"error": str(error)})
        return
    for (stream, outcome), value in found.items():
        state.add(cat.CAPTURE_FAILURES_TOTAL.name, {"stream": stream, "outcome": outcome}, value)
    for stream in {s for s, _ in found}:
        for outcome in ("dead_lettered", "logged"):
            state.add(cat.CAPTURE_FAILURES_TOTAL.name, {"stream": stream, "outcome": outcome}, 0)
    state.capture_failures_until = until


# --- the scheduled job ----------------------------------------------------------------------------


def run_metrics_export(
    settings: ExportSettings,
    *,
    storage: ObjectStorage,
    sink: MetricsSink,
    capture_failures: CaptureFailureSource | None = None,
    dead_letters: QueueDepthSource | None = None,
    clock: Callable[[], float] = time.time,
    delivered: Sequence[str] | None = None,
) -> ExportOutcome:
    """One run of the ``metrics_export`` job: list recent event objects, export, report the job's health.

    ``delivered``: the keys of the objects delivered since the last run, from their Object Created
    events (``delivered_keys_of``); then nothing is listed, and a run that could not count them all
    raises :class:`ExportIncomplete` after writing its samples, so the messages are delivered again.
    ``None``: the objects of the last ``export_lookback_hours`` are listed.

    The job's own samples (``modelwatch_job_*{job="metrics_export"}``) are pushed with the
    serving series, so ``ModelwatchMonitoringJobLate`` fires if the export stops; so is the
    capture dead-letter queue's depth, read from ``dead_letters`` (``None``: not read), and the
    version each model's serving manifest names (when ``settings.models_bucket`` is set).
    """
    started = clock()
    manifests = ManifestStore(storage, settings.models_bucket) if settings.models_bucket else None
    models = _exported_models(settings, manifests)
    events = EventStore(storage, settings.events_bucket)
    now = datetime.fromtimestamp(started, UTC)
    if delivered is None:
        keys = events.delivered_keys(models, now - timedelta(hours=settings.export_lookback_hours), now)
    else:
        keys = list(delivered)
    outcome = export_serving_metrics(
        keys=keys,
        read_records=events.read,
        store=StateStore(storage, settings.events_bucket, settings.metrics_state_key, ServingState),
        sink=sink,
        clock=clock,
        known_models=frozenset(models) if models else None,
        custom=settings.custom_metrics,
        capture_failures=capture_failures,
    )
    finished = clock()
    health = [
        job_samples(
            "metrics_export",
            model,
            started=started,
            finished=finished,
            succeeded=not outcome.unreadable and outcome.write.ok,
            schedule_seconds=settings.export_schedule_seconds,
        )
        for model in models
    ]
    extra = [sample for samples in health for sample in samples]
    if dead_letters is not None:
        extra += dead_letter_samples(dead_letters, finished)
    if manifests is not None:
        extra += published_samples(manifests, models, settings.serving_alias, finished)
    if extra:
        outcome.write.merge(sink.push(extra))
    logger.info(
        "serving metrics exported",
        extra={
            "objects": outcome.objects,
            "predictions": outcome.counts.predictions,
            "rejections": outcome.counts.rejections,
            "series": outcome.series,
            "written": outcome.write.written,
            "rejected": outcome.write.rejected,
            "failed": outcome.write.failed,
        },
    )
    if delivered and (outcome.unreadable or not outcome.saved):
        raise ExportIncomplete(
            f"{len(outcome.unreadable)} unreadable object(s), state saved: {outcome.saved}; "
            f"the {len(keys)} delivered key(s) will be retried"
        )
    return outcome
