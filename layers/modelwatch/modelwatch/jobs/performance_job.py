"""The performance job: the window's predictions joined with the labels that have arrived since.

The window is of *predictions* (optionally ``label_lag_minutes`` in the past, since
labels come late); labels are read from the window's start up to now, so a label
sent days after its prediction still counts when the window is (re)run.
"""

from __future__ import annotations

from typing import Any

from modelwatch.contracts.window import Window
from modelwatch.jobs.context import JobContext
from modelwatch.jobs.outcome import JobOutcome
from modelwatch.monitoring.performance import compute_performance
from modelwatch.monitoring.report_page import render_table_page


def run_performance(context: JobContext, model: str, window: Window) -> JobOutcome:
    events = context.events.records("events", window, model)
    if not events:
        return JobOutcome(status="no_data", reason="no captured predictions in the window")
    label_window = Window(window.start, max(context.clock(), window.end))
    labels = context.events.records("labels", label_window, model)
    versions = sorted({str(e.get("version")) for e in events})
    reference = context.references().get(model, versions[-1])
    prediction_type = reference.manifest.prediction_type if reference else "probability"
    report = compute_performance(events, labels, prediction_type, context.settings.classification_threshold)
    if report.n_labelled == 0:
        return JobOutcome(
            status="no_data",
            versions=versions,
            reason=f"none of the {report.n_predictions} predictions has a label yet",
            details={"report": report.model_dump(mode="json")},
        )
    thresholds = context.settings.performance_thresholds
    details: dict[str, Any] = {"report": report.model_dump(mode="json")}
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
    summary: dict[str, Any] = {
        "n_labelled": report.n_labelled,
        "n_predictions": report.n_predictions,
        "metrics": {r["version"]: {k: v for k, v in r.items() if k != "version"} for r in rows},
    }
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
