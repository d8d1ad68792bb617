"""Model performance on the SQL engine: labels joined to predictions in one query returning aggregates.

The in-memory path (:func:`modelwatch.monitoring.performance.compute_performance`) holds
every event and label of a window; at 10 million predictions a window that does not fit
a function. Here the engine (Athena in AWS, DuckDB locally) does the join and brings
back, per model version, a few thousand rows of counts and sums whatever the traffic:

- every prediction type: predictions, labelled predictions, labels without a prediction;
- ``probability``: per (label, score bin, side of the threshold) the count and the sum of
  log-loss terms (scores clipped to ``[1e-15, 1 - 1e-15]`` as in ``performance.py``); the
  confusion counts, accuracy, precision, recall, F1, log-loss and positive rate follow
  exactly, the AUC from the score histogram (:data:`HISTOGRAM_BINS` bins of equal width
  on ``[0, 1]``) within a bound computed from the same histogram (see
  :func:`~modelwatch.monitoring.performance.auc_from_histogram`);
- ``label``: the count per (prediction, label) pair, the :data:`MAX_PAIRS` most frequent
  pairs of each version one by one, the rarer ones as one total (and how many of them
  were right), so a model with many classes still returns a bounded result;
- ``value``: the sums of squared and absolute errors.

What is read: the events delivered from the hour before the window to the hour after it
(``stores.events.DELIVERY_SLACK``), kept by their own timestamp, a redelivered event
(same ``event_id``) counted once; the labels delivered from the window's start to
``min(now, window end + label horizon)``, the last one received per
``(request_id, index)`` winning. A rollout's shadow predictions (``served = false``: the
candidate scored a copy of a request production answered) are left out: the label belongs to
the served prediction, and counting the shadow one too would count the instance twice (the
rollout job compares the variants, :mod:`modelwatch.monitoring.rollout_evidence`). Both tables'
partitions are the query's ``scans``, so
the engine reads nothing else (and its scan limit names the window).

Values parse as in ``performance.py``: a label is binary when it is true/false, 0/1 (or
0.0/1.0), or the strings "0"/"1"/"true"/"false"; a score is a finite number. One
difference comes from the tables, not from this module: the JSON SerDe (and DuckDB) hand
a JSON *string* over without its quotes, so the label ``"0.7"`` reads as the number 0.7
here, where the in-memory path skipped it. A value that does not parse is counted as
skipped (in the version's notes), never an error.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import groupby
from typing import Any, Final

from modelwatch.contracts.tables import EVENTS_TABLE, LABELS_TABLE
from modelwatch.contracts.window import Window
from modelwatch.monitoring.performance import (
    LOG_LOSS_EPS,
    PerformanceReport,
    PredictionType,
    VersionPerformance,
    classification_from_counts,
    classification_from_pairs,
    regression_from_sums,
)
from modelwatch.stores.events import DELIVERY_SLACK
from modelwatch.stores.sql import Query, TableScan

HISTOGRAM_BINS: Final = 1000  # score bins of 0.001 on [0, 1] (scores outside go to the end bins)
MAX_PAIRS: Final = 1000  # (prediction, label) pairs of a label model brought back one by one, per version


@dataclass(frozen=True)
class PerformanceQuery:
    """The query of one window, and what it reads."""

    query: Query
    prediction_type: PredictionType
    threshold: float
    labels_through: datetime  # the last label delivery hour read
    labels_until: datetime  # labels received before this count


@dataclass
class SqlPerformance:
    """The report built from the query's aggregates, with what the report has no field for."""

    report: PerformanceReport
    auc_error_bounds: dict[str, float] = field(default_factory=dict)  # per version (probability)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _timestamp(moment: datetime) -> str:
    return f"from_iso8601_timestamp({_literal(moment.astimezone(UTC).isoformat())})"


def partition_filter(scan: TableScan) -> str:
    """A WHERE condition on ``dt`` and ``hour`` naming exactly the scan's partitions (one term per day).

    Partition projection prunes on it, so Athena lists and reads only those prefixes.
    """
    terms = []
    for day, hours in groupby(scan.hours(), key=lambda h: h.strftime("%Y-%m-%d")):
        names = [h.strftime("%H") for h in hours]
        if len(names) == 24:
            terms.append(f"dt = {_literal(day)}")
        else:
            terms.append(
                f"(dt = {_literal(day)} AND hour BETWEEN {_literal(names[0])} AND {_literal(names[-1])})"
            )
    return "(" + " OR ".join(terms) + ")" if terms else "false"


def _received(column: str, start: datetime, end: datetime) -> str:
    moment = f'try(from_iso8601_timestamp("{column}"))'
    return f"{moment} >= {_timestamp(start)} AND {moment} < {_timestamp(end)}"


# Parsing, as performance.py's _number and _binary (on the JSON text the tables hold).
# A finite double is at most the largest one in magnitude (infinity and NaN are not, in Trino and
# DuckDB alike; sqlglot does not translate is_finite).
_FINITE: Final = "abs(try_cast({0} AS double)) <= 1.7976931348623157e308"
_SCORE: Final = f"CASE WHEN {_FINITE.format('prediction')} THEN try_cast(prediction AS double) END"
_OUTCOME: Final = (
    "CASE WHEN lower(trim(label)) IN ('1', 'true') THEN 1"
    " WHEN lower(trim(label)) IN ('0', 'false') THEN 0"
    " WHEN try_cast(label AS double) = 1 THEN 1"
    " WHEN try_cast(label AS double) = 0 THEN 0 END"
)
_TRUTH: Final = f"CASE WHEN {_FINITE.format('label')} THEN try_cast(label AS double) END"


def _final_select(prediction_type: PredictionType, threshold: float) -> str:
    """The one aggregation over the joined rows, by prediction type."""
    if prediction_type == "probability":
        clipped = f"least(greatest(score, {LOG_LOSS_EPS!r}), 1 - {LOG_LOSS_EPS!r})"
        bucket = f"least(greatest(CAST(floor(score * {HISTOGRAM_BINS}) AS integer), 0), {HISTOGRAM_BINS - 1})"
        return f"""parsed AS (
  SELECT version, has_prediction, has_label, {_SCORE} AS score, {_OUTCOME} AS outcome FROM joined
)
SELECT version, has_prediction, has_label,
  score IS NOT NULL AND outcome IS NOT NULL AS scored,
  outcome,
  {bucket} AS bucket,
  score >= CAST({threshold!r} AS double) AS above_threshold,
  count(*) AS n,
  sum(CASE WHEN outcome = 1 THEN -ln({clipped}) ELSE -ln(1 - {clipped}) END) AS loss_sum
FROM parsed
GROUP BY 1, 2, 3, 4, 5, 6, 7"""
    if prediction_type == "value":
        return f"""parsed AS (
  SELECT version, has_prediction, has_label, {_SCORE} - {_TRUTH} AS error FROM joined
)
SELECT version, has_prediction, has_label, error IS NOT NULL AS scored,
  count(*) AS n, sum(error * error) AS squared_sum, sum(abs(error)) AS absolute_sum
FROM parsed
GROUP BY 1, 2, 3, 4"""
    # label: count per (prediction, label) text pair, the MAX_PAIRS most frequent per version one by one
    return f"""pairs AS (
  SELECT version, has_prediction, has_label,
    CASE WHEN has_label THEN prediction END AS predicted,
    CASE WHEN has_label THEN label END AS actual,
    count(*) AS n
  FROM joined
  GROUP BY 1, 2, 3, 4, 5
),
ranked AS (
  SELECT version, has_prediction, has_label, predicted, actual, n,
    row_number() OVER (PARTITION BY version, has_prediction, has_label ORDER BY n DESC, predicted, actual)
      AS pair_rank
  FROM pairs
)
SELECT version, has_prediction, has_label, pair_rank > {MAX_PAIRS} AS rarer,
  CASE WHEN pair_rank <= {MAX_PAIRS} THEN predicted END AS predicted,
  CASE WHEN pair_rank <= {MAX_PAIRS} THEN actual END AS actual,
  sum(n) AS n,
  sum(CASE WHEN predicted = actual THEN n ELSE 0 END) AS n_equal
FROM ranked
GROUP BY 1, 2, 3, 4, 5, 6"""


def performance_query(
    model: str,
    window: Window,
    prediction_type: PredictionType,
    threshold: float,
    now: datetime,
    label_horizon: timedelta,
) -> PerformanceQuery:
    """The query of ``model``'s performance over the predictions of ``window``.

    Parameters
    ----------
    model, window:
        Whose predictions, and when they were served.
    prediction_type:
        The manifest's prediction type: which aggregates to bring back.
    threshold:
        Score at or above which a probability counts as a positive prediction.
    now:
        Labels received up to now count (at most ``label_horizon`` after the window).
    label_horizon:
        How long after the window labels are still read.
    """
    labels_until = min(now, window.end + label_horizon)
    events_scan = TableScan(
        EVENTS_TABLE.name, model, window.start - DELIVERY_SLACK, window.end + DELIVERY_SLACK
    )
    labels_scan = TableScan(
        LABELS_TABLE.name, model, window.start, min(now, window.end + label_horizon + DELIVERY_SLACK)
    )
    model_literal = _literal(model)
    sql = f"""WITH window_events AS (
  SELECT event_id,
    arbitrary(request_id) AS request_id,
    arbitrary("index") AS instance,
    arbitrary(coalesce(version, '')) AS version,
    arbitrary(prediction) AS prediction,
    true AS present
  FROM events
  WHERE model = {model_literal} AND {partition_filter(events_scan)}
    AND {_received("timestamp", window.start, window.end)}
    AND coalesce(served, true)
  GROUP BY event_id
),
last_labels AS (
  SELECT request_id, "index" AS instance,
    max_by(coalesce(label, 'null'), try(from_iso8601_timestamp("timestamp"))) AS label,
    true AS present
  FROM labels
  WHERE model = {model_literal} AND {partition_filter(labels_scan)}
    AND {_received("timestamp", window.start, labels_until)}
    AND request_id IS NOT NULL AND "index" IS NOT NULL
  GROUP BY request_id, "index"
),
joined AS (
  SELECT e.version, e.prediction, l.label,
    coalesce(e.present, false) AS has_prediction,
    coalesce(l.present, false) AS has_label
  FROM window_events e
  FULL OUTER JOIN last_labels l ON e.request_id = l.request_id AND e.instance = l.instance
),
{_final_select(prediction_type, threshold)}"""
    description = f"performance of model {model!r}, window {window.key} ({prediction_type})"
    hours = labels_scan.hours()
    return PerformanceQuery(
        query=Query(sql=sql, description=description, scans=(events_scan, labels_scan)),
        prediction_type=prediction_type,
        threshold=threshold,
        labels_through=hours[-1] if hours else labels_scan.first_hour,
        labels_until=labels_until,
    )


def _value(text: Any) -> Any:
    """The value a JSON text column holds (a string the SerDe unquoted stays a string)."""
    if text is None or not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


@dataclass
class _VersionTotals:
    n_predictions: int = 0
    n_labelled: int = 0
    scored: int = 0
    skipped: int = 0
    tp: int = 0
    fp: int = 0
    fn: int = 0
    loss_sum: float = 0.0
    squared_sum: float = 0.0
    absolute_sum: float = 0.0
    positives: list[int] = field(default_factory=lambda: [0] * HISTOGRAM_BINS)
    negatives: list[int] = field(default_factory=lambda: [0] * HISTOGRAM_BINS)
    pairs: list[tuple[Any, Any, int]] = field(default_factory=list)
    rest: int = 0
    rest_correct: int = 0


def _add(totals: _VersionTotals, row: Mapping[str, Any], prediction_type: PredictionType) -> None:
    n = int(row["n"])
    if not row["has_label"]:
        totals.n_predictions += n
        return
    totals.n_predictions += n
    totals.n_labelled += n
    if prediction_type == "label":
        if row["rarer"]:
            totals.rest += n
            totals.rest_correct += int(row["n_equal"])
        else:
            totals.pairs.append((_value(row["predicted"]), _value(row["actual"]), n))
        return
    if not row["scored"]:
        totals.skipped += n
        return
    totals.scored += n
    if prediction_type == "value":
        totals.squared_sum += float(row["squared_sum"])
        totals.absolute_sum += float(row["absolute_sum"])
        return
    positive, above = int(row["outcome"]) == 1, bool(row["above_threshold"])
    totals.tp += n if positive and above else 0
    totals.fp += n if not positive and above else 0
    totals.fn += n if positive and not above else 0
    totals.loss_sum += float(row["loss_sum"])
    (totals.positives if positive else totals.negatives)[int(row["bucket"])] += n


def report_from_rows(
    rows: Iterable[Mapping[str, Any]], prediction_type: PredictionType, threshold: float
) -> SqlPerformance:
    """The :class:`PerformanceReport` of the query's rows: the fields and notes of ``compute_performance``."""
    by_version: dict[str, _VersionTotals] = {}
    unmatched = 0
    for row in rows:
        if not row["has_prediction"]:
            unmatched += int(row["n"])
            continue
        _add(by_version.setdefault(str(row["version"]), _VersionTotals()), row, prediction_type)
    versions: list[VersionPerformance] = []
    bounds: dict[str, float] = {}
    for version in sorted(by_version):
        totals = by_version[version]
        notes: list[str] = []
        result = VersionPerformance(
            version=version, n_predictions=totals.n_predictions, n_labelled=totals.n_labelled
        )
        if not totals.n_labelled:
            notes.append("no labelled prediction")
        elif prediction_type == "probability":
            result.classification, bounds[version] = classification_from_counts(
                scored=totals.scored,
                skipped=totals.skipped,
                tp=totals.tp,
                fp=totals.fp,
                fn=totals.fn,
                loss_sum=totals.loss_sum,
                positives=totals.positives,
                negatives=totals.negatives,
                notes=notes,
            )
        elif prediction_type == "label":
            result.classification = classification_from_pairs(
                totals.pairs, notes, totals.rest, totals.rest_correct
            )
        else:
            result.regression = regression_from_sums(
                scored=totals.scored,
                skipped=totals.skipped,
                squared_sum=totals.squared_sum,
                absolute_sum=totals.absolute_sum,
                notes=notes,
            )
        result.notes = notes
        versions.append(result)
    report = PerformanceReport(
        prediction_type=prediction_type,
        threshold=threshold,
        n_predictions=sum(v.n_predictions for v in versions),
        n_labelled=sum(v.n_labelled for v in versions),
        n_unmatched_labels=unmatched,
        versions=versions,
    )
    return SqlPerformance(report=report, auc_error_bounds=bounds)
