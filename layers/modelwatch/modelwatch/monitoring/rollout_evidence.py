"""A rollout's evidence from one window, per variant, from one query on the SQL engine.

The query (Trino, for Athena; transpiled for DuckDB locally, like
:mod:`modelwatch.monitoring.performance_sql`) reads the window's partitions of the events,
rejected and labels tables for one model and brings back a few dozen rows of aggregates,
whatever the traffic. One ``section`` per kind of figure, all with the same columns:

- ``served``, per variant: requests (distinct ``request_id``), instances, and the latency of
  each *request* (an event repeats its request's ``latency_ms`` per instance, so events are
  grouped by request first): p50/p95/p99 and the moments (n, sum, sum of squares);
- ``failed``, per variant and kind: requests in the rejected table with reason
  ``prediction_failed`` or ``candidate_failed`` of that variant's version. An error whose first
  entry is ``candidate_unavailable`` (serving could not load the candidate) is ``unavailable``,
  with the earliest message; the others are errors, and count as requests too (1 in the error
  moments, where a served request is 0). An unavailable request is not a candidate request: the
  candidate never ran, production answered it;
- ``histogram``, per variant and bin, over instances (shadow predictions included). The bins
  are shared by both variants:

  - ``probability``: 10 bins of width 0.1 on [0, 1] (a score outside goes to the end bin);
  - ``value``: the deciles of *production's* predictions in the window: 10 bins, below the
    first decile to above the ninth (``WindowEvidence.histogram_edges`` holds the 9 deciles).
    Production's histogram is thus flat by construction, and the candidate's says where its
    predictions fall in production's distribution of the same window, which adds up across
    windows (bin ``i`` always means "between production's ``i``-th and ``i+1``-th decile");
  - ``label``: the window's 20 most frequent predicted values (both variants), each its own
    bin, the rest in one more bin. The bins' values are fixed by the rollout's first window
    (``label_values``, kept in ``WindowEvidence.histogram_labels``), so the histograms of
    every window line up: a value outside them counts in the last ("other") bin;

- ``edge`` (value only): the deciles of production's predictions;
- ``metric``, per variant: the moments of the rollout's labelled metric per labelled instance
  (the label delivered last for a ``(request_id, index)`` wins, as in the performance job):
  a builtin (``accuracy``: the decision at the threshold equals the label for a probability,
  the prediction equals the label otherwise; ``log_loss``; ``squared_error``;
  ``absolute_error``) or the rollout's SQL expression over ``prediction``, ``label`` (doubles)
  and ``features`` (JSON text), checked by :func:`check_metric_expression` first. An instance
  whose metric is null (no number to compare) is not counted;
- ``agreement``: every shadow prediction (``served = false``, the candidate's) paired with
  production's prediction of the same ``(request_id, index)``: pairs, identical decisions (the
  threshold's side for a probability, equality otherwise) and the sum of absolute differences
  of the scores (numbers only).

A shadow prediction is always the candidate's (``variant = 'candidate'``): it never counts as
a production request. Only events of the two versions (production's ``production_version``,
the candidate's ``candidate.version``) count; a record from before rollouts has no variant and
is production's.

Labels read are those received from the window's start until now (at most the label horizon
after the window): the rollout job evaluates a window right after it closes, so a labelled
metric builds up from the labels that arrive quickly; the always-valid tests accumulate the
windows since the rollout started.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from modelwatch.contracts.rollout import (
    VARIANTS,
    Agreement,
    Moments,
    Rollout,
    Variant,
    VariantWindow,
    WindowEvidence,
)
from modelwatch.contracts.tables import EVENTS_TABLE, LABELS_TABLE, REJECTED_TABLE
from modelwatch.contracts.window import Window
from modelwatch.monitoring.performance import LOG_LOSS_EPS, PredictionType
from modelwatch.monitoring.performance_sql import (
    _OUTCOME,
    _SCORE,
    _TRUTH,
    _literal,
    _received,
    partition_filter,
)
from modelwatch.stores.events import DELIVERY_SLACK
from modelwatch.stores.sql import Query, TableScan

PROBABILITY_BINS: Final = 10
VALUE_BINS: Final = 10  # production's deciles
MAX_LABEL_BINS: Final = 20  # predicted values with a bin of their own; the rest share one more
FAILURE_REASONS: Final = ("prediction_failed", "candidate_failed")
UNAVAILABLE: Final = "candidate_unavailable"
METRIC_COLUMNS: Final = frozenset({"prediction", "label", "features"})
_COLUMNS: Final = (
    ("section", "varchar"),
    ("variant", "varchar"),
    ("bucket", "varchar"),
    ("n", "bigint"),
    ("hits", "bigint"),
    ("measured", "bigint"),
    ("total", "double"),
    ("total_sq", "double"),
    ("p50", "double"),
    ("p95", "double"),
    ("p99", "double"),
    ("message", "varchar"),
)


class InvalidRolloutMetric(ValueError):
    """The rollout metric's expression is not one SQL expression over prediction, label and features."""


@dataclass(frozen=True)
class EvidenceQuery:
    """The query of one window, and what its rows are read against."""

    query: Query
    prediction_type: PredictionType
    threshold: float
    label_values: tuple[str, ...] | None  # label models: the bins fixed by the rollout's first window


def check_metric_expression(expression: str) -> str:
    """``expression`` if it is one scalar SQL expression (Trino) over prediction, label and features.

    Raises
    ------
    InvalidRolloutMetric
        It does not parse, holds more than one statement, a query or subquery, DDL or a command,
        or names another column.
    """
    import sqlglot
    from sqlglot import exp

    try:
        statements = sqlglot.parse(expression, read="trino")
    except sqlglot.errors.ParseError as error:
        raise InvalidRolloutMetric(f"the rollout metric {expression!r} is not valid SQL: {error}") from error
    if len(statements) != 1 or statements[0] is None:
        raise InvalidRolloutMetric(f"the rollout metric {expression!r} must be one SQL expression")
    tree = statements[0]
    forbidden = (exp.Query, exp.Subquery, exp.DDL, exp.DML, exp.Command, exp.Table, exp.Star)
    if isinstance(tree, forbidden) or tree.find(*forbidden) is not None:
        raise InvalidRolloutMetric(
            f"the rollout metric {expression!r} must be an expression, not a query, subquery or statement"
        )
    unknown = sorted({c.name for c in tree.find_all(exp.Column)} - METRIC_COLUMNS)
    if unknown:
        raise InvalidRolloutMetric(
            f"the rollout metric {expression!r} names {', '.join(unknown)}: "
            f"only {', '.join(sorted(METRIC_COLUMNS))} are columns of a labelled instance"
        )
    return expression


def _row(section: str, source: str, group: str = "", **columns: str) -> str:
    """One section of the result: every column, null where the section has none."""
    selected = [f"'{section}' AS section"]
    for name, kind in _COLUMNS[1:]:
        selected.append(f"CAST({columns.get(name, 'NULL')} AS {kind}) AS {name}")
    return f"SELECT {', '.join(selected)} FROM {source}" + (f" GROUP BY {group}" if group else "")


def _metric_value(rollout: Rollout, prediction_type: PredictionType) -> str:
    """The labelled metric of one instance of ``labelled`` (null when it cannot be computed)."""
    metric = rollout.metric
    threshold = f"CAST({metric.threshold!r} AS double)"
    if metric.expression is not None:
        return f"({check_metric_expression(metric.expression)})"
    clipped = f"least(greatest(prediction, {LOG_LOSS_EPS!r}), 1 - {LOG_LOSS_EPS!r})"
    if metric.builtin == "accuracy":
        if prediction_type == "probability":
            return (
                f"CASE WHEN prediction IS NULL OR label IS NULL THEN NULL "
                f"WHEN (prediction >= {threshold}) = (label = 1) THEN 1 ELSE 0 END"
            )
        return (
            "CASE WHEN prediction_text IS NULL OR label_text IS NULL THEN NULL "
            "WHEN prediction_text = label_text OR prediction = label THEN 1 ELSE 0 END"
        )
    if metric.builtin == "log_loss":
        return (
            f"CASE WHEN label = 1 THEN -ln({clipped}) WHEN label = 0 THEN -ln(1 - {clipped}) END"
            if prediction_type == "probability"
            else "CAST(NULL AS double)"
        )
    if metric.builtin == "squared_error":
        return "(prediction - label) * (prediction - label)"
    return "abs(prediction - label)"


def _binned(prediction_type: PredictionType) -> str:
    """Each instance of ``scoped`` with its variant and bin (as text; null: the "other" bin of labels)."""
    if prediction_type == "probability":
        index = (
            f"least(greatest(CAST(floor(score * {PROBABILITY_BINS}) AS integer), 0), {PROBABILITY_BINS - 1})"
        )
        return f"(SELECT variant, CAST({index} AS varchar) AS bucket FROM scoped WHERE score IS NOT NULL) b"
    if prediction_type == "value":
        above = " + ".join(f"CASE WHEN s.score > d.q{i} THEN 1 ELSE 0 END" for i in range(1, VALUE_BINS))
        return (
            f"(SELECT s.variant, CAST({above} AS varchar) AS bucket"
            " FROM scoped s CROSS JOIN deciles d WHERE s.score IS NOT NULL) b"
        )
    return (
        "(SELECT s.variant, t.value AS bucket"
        " FROM scoped s LEFT JOIN top_values t ON s.prediction = t.value) b"
    )


def rollout_evidence_query(
    model: str,
    window: Window,
    rollout: Rollout,
    prediction_type: PredictionType,
    now: datetime,
    label_horizon: timedelta,
    label_values: Sequence[str] | None = None,
) -> EvidenceQuery:
    """The query of ``rollout``'s evidence from ``model``'s records of ``window``.

    Parameters
    ----------
    model, window:
        Whose records, and when they were served (or rejected).
    rollout:
        The running rollout: its versions, metric and threshold.
    prediction_type:
        The production manifest's: how predictions are binned, compared and scored.
    now, label_horizon:
        Labels received until ``min(now, window end + label_horizon)`` count.
    label_values:
        Label models: the bins of the rollout's first window (None for the first window).

    Raises
    ------
    InvalidRolloutMetric
        The rollout's metric expression is not a valid expression.
    """
    threshold = rollout.metric.threshold
    labels_until = min(now, window.end + label_horizon)
    events_scan = TableScan(
        EVENTS_TABLE.name, model, window.start - DELIVERY_SLACK, window.end + DELIVERY_SLACK
    )
    rejected_scan = TableScan(
        REJECTED_TABLE.name, model, window.start - DELIVERY_SLACK, window.end + DELIVERY_SLACK
    )
    labels_scan = TableScan(
        LABELS_TABLE.name, model, window.start, min(now, window.end + label_horizon + DELIVERY_SLACK)
    )
    model_literal = _literal(model)
    production, candidate = _literal(rollout.production_version), _literal(rollout.candidate.version)
    ours = (
        f"((variant = 'production' AND {{version}} = {production}) "
        f"OR (variant = 'candidate' AND {{version}} = {candidate}))"
    )
    # A failure that names no version is the variant's own version's.
    failure_version = (
        f"coalesce(version, CASE WHEN variant = 'candidate' THEN {candidate} ELSE {production} END)"
    )
    reasons = ", ".join(_literal(reason) for reason in FAILURE_REASONS)
    numeric_label = _OUTCOME if prediction_type == "probability" else _TRUTH
    decided = (
        f"CASE WHEN score IS NULL THEN NULL ELSE score >= CAST({threshold!r} AS double) END"
        if prediction_type == "probability"
        else "prediction"
    )
    deciles = ", ".join(f"approx_percentile(score, {i / VALUE_BINS!r}) AS q{i}" for i in range(1, VALUE_BINS))
    sections = [
        _row(
            "served",
            "per_request",
            "variant",
            variant="variant",
            n="count(*)",
            hits="sum(instances)",
            measured="count(latency_ms)",
            total="sum(latency_ms)",
            total_sq="sum(latency_ms * latency_ms)",
            p50="approx_percentile(latency_ms, 0.5)",
            p95="approx_percentile(latency_ms, 0.95)",
            p99="approx_percentile(latency_ms, 0.99)",
        ),
        _row(
            "failed",
            "scoped_failures",
            "variant, unavailable",
            variant="variant",
            bucket=f"CASE WHEN unavailable THEN '{UNAVAILABLE}' ELSE 'error' END",
            n="count(DISTINCT request_id)",
            message="min_by(message, received)",
        ),
        _row(
            "histogram",
            _binned(prediction_type),
            "variant, bucket",
            variant="variant",
            bucket="bucket",
            n="count(*)",
        ),
        _row(
            "metric",
            "scored",
            "variant",
            variant="variant",
            n="count(metric_value)",
            total="sum(metric_value)",
            total_sq="sum(metric_value * metric_value)",
        ),
        _row(
            "agreement",
            "pairs",
            n="count(*)",
            hits="sum(CASE WHEN identical THEN 1 ELSE 0 END)",
            measured="count(difference)",
            total="sum(difference)",
        ),
    ]
    if prediction_type == "value":
        sections += [_row("edge", "deciles", bucket=f"'{i}'", total=f"q{i}") for i in range(1, VALUE_BINS)]
    if prediction_type == "label":
        if label_values:
            listed = " UNION ALL ".join(f"SELECT {_literal(v)} AS value" for v in label_values)
            top_values = f"top_values AS ({listed}),"
        else:
            top_values = f"""top_values AS (
  SELECT prediction AS value FROM scoped WHERE prediction IS NOT NULL
  GROUP BY prediction ORDER BY count(*) DESC, prediction LIMIT {MAX_LABEL_BINS}
),"""
    else:
        top_values = ""
    union = "\nUNION ALL\n".join(sections)
    sql = f"""WITH window_events AS (
  SELECT event_id,
    arbitrary(request_id) AS request_id,
    arbitrary("index") AS instance,
    arbitrary(version) AS version,
    arbitrary(coalesce(variant, 'production')) AS variant,
    arbitrary(coalesce(served, true)) AS served,
    arbitrary(prediction) AS prediction,
    arbitrary(latency_ms) AS latency_ms,
    arbitrary(features) AS features
  FROM events
  WHERE model = {model_literal} AND {partition_filter(events_scan)}
    AND {_received("timestamp", window.start, window.end)}
  GROUP BY event_id
),
scoped AS (
  SELECT request_id, instance, variant, served, prediction, features, latency_ms, {_SCORE} AS score
  FROM window_events
  WHERE {ours.format(version="version")}
),
per_request AS (
  SELECT variant, request_id, max(latency_ms) AS latency_ms, count(*) AS instances
  FROM scoped GROUP BY variant, request_id
),
failures AS (
  SELECT event_id,
    arbitrary(request_id) AS request_id,
    arbitrary(coalesce(variant, 'production')) AS variant,
    arbitrary(version) AS version,
    arbitrary(coalesce(json_extract_scalar(errors, '$[0].type'), '') = '{UNAVAILABLE}') AS unavailable,
    arbitrary(json_extract_scalar(errors, '$[0].message')) AS message,
    arbitrary(try(from_iso8601_timestamp("timestamp"))) AS received
  FROM rejected
  WHERE model = {model_literal} AND {partition_filter(rejected_scan)}
    AND {_received("timestamp", window.start, window.end)}
    AND reason IN ({reasons})
  GROUP BY event_id
),
scoped_failures AS (
  SELECT * FROM failures
  WHERE {ours.format(version=failure_version)}
),
last_labels AS (
  SELECT request_id, "index" AS instance,
    max_by(label, try(from_iso8601_timestamp("timestamp"))) AS label
  FROM labels
  WHERE model = {model_literal} AND {partition_filter(labels_scan)}
    AND {_received("timestamp", window.start, labels_until)}
    AND request_id IS NOT NULL AND "index" IS NOT NULL
  GROUP BY request_id, "index"
),
labelled AS (
  SELECT s.variant, s.score AS prediction, s.prediction AS prediction_text, s.features,
    {numeric_label.replace("label", "l.label")} AS label,
    l.label AS label_text
  FROM scoped s JOIN last_labels l ON s.request_id = l.request_id AND s.instance = l.instance
),
scored AS (
  SELECT variant, CAST({_metric_value(rollout, prediction_type)} AS double) AS metric_value FROM labelled
),
pairs AS (
  SELECT
    c.decided = p.decided AS identical,
    abs(c.score - p.score) AS difference
  FROM (SELECT request_id, instance, score, {decided} AS decided FROM scoped
        WHERE variant = 'candidate' AND NOT served) c
  JOIN (SELECT request_id, instance, score, {decided} AS decided FROM scoped
        WHERE variant = 'production' AND served) p
    ON c.request_id = p.request_id AND c.instance = p.instance
),
deciles AS (
  SELECT {deciles} FROM scoped WHERE variant = 'production' AND score IS NOT NULL
),
{top_values}
result AS (
{union}
)
SELECT * FROM result"""
    description = f"rollout {rollout.id!r} of model {model!r}, window {window.key} ({prediction_type})"
    return EvidenceQuery(
        query=Query(sql=sql, description=description, scans=(events_scan, rejected_scan, labels_scan)),
        prediction_type=prediction_type,
        threshold=threshold,
        label_values=tuple(label_values) if label_values else None,
    )


def _number(value: Any) -> float | None:
    return float(value) if value is not None else None


def evidence_from_rows(
    rows: Iterable[Mapping[str, Any]], planned: EvidenceQuery, rollout: Rollout, window: Window
) -> WindowEvidence:
    """The :class:`WindowEvidence` of the query's rows."""
    versions: dict[Variant, str] = {
        "production": rollout.production_version,
        "candidate": rollout.candidate.version,
    }
    figures = {variant: VariantWindow(variant=variant, version=versions[variant]) for variant in VARIANTS}
    served: dict[Variant, int] = dict.fromkeys(VARIANTS, 0)
    errors: dict[Variant, int] = dict.fromkeys(VARIANTS, 0)
    histogram_rows: list[tuple[Variant, str | None, int]] = []
    edges: dict[int, float] = {}
    agreement = Agreement()
    for row in rows:
        section = row["section"]
        variant: Variant | None = row["variant"] if row["variant"] in versions else None
        if section == "agreement":
            agreement = Agreement(
                pairs=int(row["n"] or 0),
                identical=int(row["hits"] or 0),
                absolute_difference_sum=float(row["total"] or 0.0),
            )
        elif section == "edge":
            if row["total"] is not None:
                edges[int(row["bucket"])] = float(row["total"])
        elif variant is None:
            continue
        elif section == "served":
            target = figures[variant]
            served[variant] = int(row["n"])
            target.instances = int(row["hits"] or 0)
            target.latency_p50_ms = _number(row["p50"])
            target.latency_p95_ms = _number(row["p95"])
            target.latency_p99_ms = _number(row["p99"])
            target.latency_moments = Moments(
                n=int(row["measured"] or 0),
                total=float(row["total"] or 0.0),
                total_sq=float(row["total_sq"] or 0.0),
            )
        elif section == "failed":
            if row["bucket"] == UNAVAILABLE:
                figures[variant].unavailable = int(row["n"])
                figures[variant].unavailable_reason = row["message"]
            else:
                errors[variant] = int(row["n"])
        elif section == "metric":
            figures[variant].metric_moments = Moments(
                n=int(row["n"] or 0), total=float(row["total"] or 0.0), total_sq=float(row["total_sq"] or 0.0)
            )
        elif section == "histogram":
            histogram_rows.append((variant, row["bucket"], int(row["n"])))
    labels: list[str] = []
    if planned.prediction_type == "label":
        labels = list(planned.label_values or sorted({b for _, b, _ in histogram_rows if b is not None}))
    for variant in VARIANTS:
        target = figures[variant]
        target.requests = served[variant] + errors[variant]
        target.errors = errors[variant]
        target.error_moments = Moments(n=target.requests, total=errors[variant], total_sq=errors[variant])
        target.prediction_histogram = _histogram(
            [(b, n) for v, b, n in histogram_rows if v == variant], planned.prediction_type, labels
        )
    if planned.prediction_type == "probability":
        histogram_edges = [i / PROBABILITY_BINS for i in range(PROBABILITY_BINS + 1)]
    else:
        histogram_edges = [edges[i] for i in sorted(edges)]
    return WindowEvidence(
        window_start=window.start,
        window_end=window.end,
        share=rollout.share,
        variants=figures,
        agreement=agreement,
        histogram_edges=histogram_edges,
        histogram_labels=labels,
    )


def _histogram(
    counts: Sequence[tuple[str | None, int]], kind: PredictionType, labels: Sequence[str]
) -> list[int]:
    """Counts per shared bin (label models: one per value of ``labels``, then "other")."""
    if kind == "label":
        position = {value: i for i, value in enumerate(labels)}
        bins = [0] * (len(labels) + 1)
        for value, n in counts:
            bins[position.get(value, len(labels)) if value is not None else len(labels)] += n
        return bins
    bins = [0] * (PROBABILITY_BINS if kind == "probability" else VALUE_BINS)
    for value, n in counts:
        if value is not None:
            bins[int(value)] += n
    return bins
