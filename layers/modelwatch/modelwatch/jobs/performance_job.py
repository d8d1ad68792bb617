"""The performance job: the window's predictions joined with the labels that have arrived since.

The window is of *predictions* (optionally ``label_lag_minutes`` in the past, since
labels come late); labels are read from the window's start up to now, so a label
sent days after its prediction still counts when the window is (re)run.
"""

from __future__ import annotations

import json
from typing import Any

from modelwatch.jobs.context import JobContext
from modelwatch.jobs.event_objects import objects_in_window, read_object, records_in_window
from modelwatch.jobs.outcome import JobOutcome
from modelwatch.jobs.report_page import render_table_page
from modelwatch.jobs.window import Window
from modelwatch.performance import compute_performance


def _records(context: JobContext, prefix: str, window: Window) -> list[dict[str, Any]]:
    bucket = context.settings.events_bucket
    found: list[dict[str, Any]] = []
    for obj in objects_in_window(context.s3, bucket, prefix, window):
        found.extend(records_in_window(read_object(context.s3, bucket, obj.key), window))
    return found


def _breaches(metrics: dict[str, Any], thresholds: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    breaches = []
    for name, floor in thresholds.get("min", {}).items():
        value = metrics.get(name)
        if value is not None and value < floor:
            breaches.append({"metric": name, "value": value, "min": floor})
    for name, ceiling in thresholds.get("max", {}).items():
        value = metrics.get(name)
        if value is not None and value > ceiling:
            breaches.append({"metric": name, "value": value, "max": ceiling})
    return breaches


def run_performance(context: JobContext, model: str, window: Window) -> JobOutcome:
    events = _records(context, f"events/model={model}/", window)
    if not events:
        return JobOutcome(status="no_data", reason="no captured predictions in the window")
    label_window = Window(window.start, max(context.clock(), window.end))
    labels = [r for r in _records(context, "labels/", label_window) if r.get("model") == model]
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
    thresholds = json.loads(context.settings.performance_thresholds or "{}")
    details: dict[str, Any] = {"report": report.model_dump(mode="json")}
    rows: list[dict[str, Any]] = []
    breaches: dict[str, list[dict[str, Any]]] = {}
    pages: dict[str, str] = {}
    for version in report.versions:
        measured = version.classification or version.regression
        metrics = measured.model_dump() if measured is not None else {}
        found = _breaches(metrics, thresholds)
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
