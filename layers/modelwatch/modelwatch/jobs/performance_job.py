"""The performance job: the window's predictions joined with the labels that have arrived since, in SQL.

The window is of *predictions* (optionally ``label_lag_minutes`` in the past, since
labels come late); labels delivered from the window's start up to now (at most
``label_horizon_days`` after the window) count, so a window rerun later converges as
labels arrive (:func:`modelwatch.jobs.runner.refresh_late_labels` reruns it). The join
runs on the query engine (``context.sql``: Athena in AWS, DuckDB locally), which brings
back aggregates only (:mod:`modelwatch.monitoring.performance_sql`): the job holds no row,
whatever the traffic.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from modelwatch.contracts.window import Window
from modelwatch.jobs.context import JobContext
from modelwatch.jobs.outcome import JobOutcome
from modelwatch.monitoring.performance import PredictionType
from modelwatch.monitoring.performance_sql import SqlPerformance, performance_query, report_from_rows
from modelwatch.monitoring.report_page import render_table_page
from modelwatch.stores.sql import QueryEngine, QueryLimitExceeded

DEFAULT_PREDICTION_TYPE: PredictionType = "probability"
_TYPE_ALIASES = ("production", "staging")  # whose manifest says the model's prediction type, before the query


class NoQueryEngine(RuntimeError):
    """The performance job was given no SQL engine."""


def _expected_type(context: JobContext, model: str) -> PredictionType:
    for alias in _TYPE_ALIASES:
        manifest = context.manifests.current(model, alias)
        if manifest is not None:
            return manifest.prediction_type
    return DEFAULT_PREDICTION_TYPE


def _query(
    context: JobContext, engine: QueryEngine, model: str, window: Window, prediction_type: PredictionType
) -> tuple[SqlPerformance, dict[str, Any]]:
    threshold = context.settings.classification_threshold
    planned = performance_query(
        model,
        window,
        prediction_type,
        threshold,
        now=context.clock(),
        label_horizon=timedelta(days=context.settings.label_horizon_days),
    )
    result = engine.run(planned.query)
    read = {
        "engine": result.engine,
        "bytes_scanned": result.bytes_scanned,
        "labels_through": planned.labels_through.isoformat(),
        "labels_until": planned.labels_until.isoformat(),
    }
    if result.query_id is not None:
        read["query_id"] = result.query_id
    return report_from_rows(result.rows, prediction_type, threshold), read


def run_performance(context: JobContext, model: str, window: Window) -> JobOutcome:
    """Performance per version of ``model``'s predictions in ``window``, from one query on ``context.sql``.

    Raises
    ------
    NoQueryEngine
        ``context.sql`` is None (the runner stores it as a failed result).
    """
    engine = context.sql
    if engine is None:
        raise NoQueryEngine(
            "the performance job joins labels to predictions on a SQL engine and none is configured: "
            "set MODELWATCH_QUERY_ENGINE (athena, with the workgroup and database; duckdb, with the lake dir)"
        )
    prediction_type = _expected_type(context, model)
    try:
        computed, read = _query(context, engine, model, window, prediction_type)
        versions = [v.version for v in computed.report.versions]
        reference = context.references().get(model, versions[-1]) if versions else None
        if reference is not None and reference.manifest.prediction_type != prediction_type:
            # The window's latest version says another type than the alias: ask again, for that type.
            prediction_type = reference.manifest.prediction_type
            computed, read = _query(context, engine, model, window, prediction_type)
            versions = [v.version for v in computed.report.versions]
    except QueryLimitExceeded as error:
        return JobOutcome(status="failed", reason=str(error))
    report = computed.report
    share = report.n_labelled / report.n_predictions if report.n_predictions else None
    summary: dict[str, Any] = {
        "n_predictions": report.n_predictions,
        "n_labelled": report.n_labelled,
        "labelled_share": share,
        **read,
    }
    details: dict[str, Any] = {"report": report.model_dump(mode="json")}
    if computed.auc_error_bounds:
        details["auc_error_bound"] = computed.auc_error_bounds
    if report.n_predictions == 0:
        return JobOutcome(
            status="no_data", reason="no captured predictions in the window", summary=summary, details=details
        )
    if report.n_labelled == 0:
        return JobOutcome(
            status="no_data",
            versions=versions,
            reason=f"none of the {report.n_predictions} predictions has a label yet",
            summary=summary,
            details=details,
        )
    thresholds = context.settings.performance_thresholds
    rows: list[dict[str, Any]] = []
    breaches: dict[str, list[dict[str, Any]]] = {}
    pages: dict[str, str] = {}
    for version in report.versions:
        measured = version.classification or version.regression
        metrics = measured.model_dump() if measured is not None else {}
        found = thresholds.breaches(metrics)
        if found:
            breaches[version.version] = found
        row = {
            "version": version.version,
            "n_predictions": version.n_predictions,
            "n_labelled": version.n_labelled,
            **metrics,
            "below_threshold": bool(found),
        }
        rows.append(row)
        pages[version.version] = render_table_page(
            f"{model} version {version.version}: performance, window {window.key}",
            f"{version.n_labelled} labelled of {version.n_predictions} predictions"
            + (f"; below threshold: {', '.join(b['metric'] for b in found)}" if found else ""),
            bool(found),
            {"Metrics": [row]},
        )
    summary["metrics"] = {r["version"]: {k: v for k, v in r.items() if k != "version"} for r in rows}
    if breaches:
        summary["breaches"] = breaches
    return JobOutcome(
        status="ok",
        alert=bool(breaches),
        versions=versions,
        summary=summary,
        details=details,
        pages=pages,
        primary_version=(sorted(breaches) or versions)[-1],
    )
