"""The quality job: the window's instances, served and rejected, checked against each version's schema.

Served events carry no type errors (serving rejects those with 422), so the
window's rejected requests (``schema_violation``) are checked too: their
instances count towards missing, type-error and every other rate, as the data
that actually arrived.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from modelwatch.contracts.window import Window
from modelwatch.jobs.context import JobContext
from modelwatch.jobs.outcome import JobOutcome
from modelwatch.monitoring.datasets import columns_from_events
from modelwatch.monitoring.quality import QualityReport, check_quality
from modelwatch.monitoring.report_page import render_table_page


def _rejected_instances(record: dict[str, Any]) -> list[dict[str, Any]]:
    try:
        instances = json.loads(record.get("body") or "").get("instances")
    except (ValueError, AttributeError):
        return []
    return [i for i in instances if isinstance(i, dict)] if isinstance(instances, list) else []


def run_quality(context: JobContext, model: str, window: Window) -> JobOutcome:
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in context.events.records("events", window, model):
        rows[str(event.get("version"))].append({"features": event.get("features") or {}})
    rejected = 0
    for record in context.events.records("rejected", window, model):
        if record.get("reason") == "schema_violation" and record.get("version"):
            instances = _rejected_instances(record)
            rejected += len(instances)
            rows[str(record["version"])].extend({"features": i} for i in instances)
    if not rows:
        return JobOutcome(status="no_data", reason="no captured events in the window")
    thresholds = context.settings.quality_thresholds
    references = context.references()
    details: dict[str, Any] = {}
    pages: dict[str, str] = {}
    reports: dict[str, QualityReport] = {}
    missing_schema = []
    for version in sorted(rows):
        reference = references.get(model, version)
        if reference is None:
            missing_schema.append(version)
            continue
        report = check_quality(
            reference.manifest.input_schema, columns_from_events(rows[version]), thresholds
        )
        reports[version] = report
        details[version] = report.model_dump(mode="json")
        pages[version] = render_table_page(
            f"{model} version {version}: data quality, window {window.key}",
            f"{report.n_violations} violation(s) over {report.n_rows} instances",
            not report.passed,
            {"Features": [_feature_row(f.model_dump()) for f in report.features]},
        )
    if not reports:
        return JobOutcome(
            status="no_data",
            versions=missing_schema,
            reason=f"no published manifest for the versions that served: {missing_schema}",
        )
    failing = [v for v, r in reports.items() if not r.passed]
    summary: dict[str, Any] = {
        "violations": [v.model_dump() for r in reports.values() for v in r.violations][:50],
        "features": sorted({v.feature for r in reports.values() for v in r.violations}),
        "n_rows": sum(r.n_rows for r in reports.values()),
        "n_rejected_instances": rejected,
    }
    return JobOutcome(
        status="ok",
        alert=bool(failing),
        versions=sorted(reports),
        summary=summary,
        details=details,
        pages=pages,
        primary_version=(failing or sorted(reports))[-1],
    )


def _feature_row(feature: dict[str, Any]) -> dict[str, Any]:
    return {
        "feature": feature["name"],
        "n": feature["n"],
        "missing_rate": feature["missing_rate"],
        "out_of_range_rate": feature["out_of_range_rate"],
        "unseen_category_rate": feature["unseen_category_rate"],
        "type_error_rate": feature["type_error_rate"],
        "violation": ", ".join(v["check"] for v in feature["violations"]),
    }
