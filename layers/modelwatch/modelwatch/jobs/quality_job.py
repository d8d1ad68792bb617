"""The quality job: the window's per-object quality counts, served and rejected, merged per version.

The profile function stores the quality counts of every delivered events object and
every rejected-requests object (``ObjectQuality``); this job merges those of its
window's objects per version and applies the thresholds, so its memory and time grow
with the number of objects, not rows. An object without current counts is counted on
the spot (and stored). Served events carry no type errors (serving rejects those with
422), so the instances of the window's ``schema_violation`` rejections count too, as
the data that actually arrived. A corrupt object does not fail the window: its
readable lines count, and the result names it with its unreadable lines.
"""

from __future__ import annotations

from typing import Any, get_args

from modelwatch.contracts.object_quality import QualitySourceKind, VersionQualityCounts
from modelwatch.contracts.window import Window
from modelwatch.jobs.context import JobContext
from modelwatch.jobs.object_profiles import belongs_to_window, load_or_check_quality, unreadable_summary
from modelwatch.jobs.outcome import JobOutcome
from modelwatch.monitoring.quality import QualityReport, merge_quality_counts
from modelwatch.monitoring.report_page import render_table_page

SOURCE_KINDS: tuple[QualitySourceKind, ...] = get_args(QualitySourceKind)


def run_quality(context: JobContext, model: str, window: Window) -> JobOutcome:
    references = context.references()
    per_version: dict[str, list[VersionQualityCounts]] = {}
    unchecked: set[str] = set()
    rejected = n_objects = 0
    unreadable: list[tuple[str, int]] = []
    for kind in SOURCE_KINDS:
        for obj in context.events.objects(kind, window, model):
            quality = load_or_check_quality(
                context.events, context.profiles, kind, obj.key, obj.etag, references
            )
            if not belongs_to_window(quality.first_timestamp, obj.key, quality.unreadable_lines, window):
                continue
            n_objects += 1
            unreadable.append((obj.key, quality.unreadable_lines))
            for counts in quality.of_model(model):
                if not counts.checked:
                    unchecked.add(counts.version)
                    continue
                per_version.setdefault(counts.version, []).append(counts)
                if kind == "rejected":
                    rejected += counts.n_rows
    named = unreadable_summary(unreadable) or {}
    if not per_version and not unchecked:
        return JobOutcome(status="no_data", reason="no captured events in the window", summary=named)
    if not per_version:
        return JobOutcome(
            status="no_data",
            versions=sorted(unchecked),
            reason=f"no published manifest for the versions that served: {sorted(unchecked)}",
            summary=named,
        )
    thresholds = context.settings.quality_thresholds
    details: dict[str, Any] = {}
    pages: dict[str, str] = {}
    reports: dict[str, QualityReport] = {}
    for version in sorted(per_version):
        report = merge_quality_counts(per_version[version], thresholds)
        reports[version] = report
        details[version] = report.model_dump(mode="json")
        pages[version] = render_table_page(
            f"{model} version {version}: data quality, window {window.key}",
            f"{report.n_violations} violation(s) over {report.n_rows} instances",
            not report.passed,
            {"Features": [_feature_row(f.model_dump()) for f in report.features]},
        )
    failing = [v for v, r in reports.items() if not r.passed]
    summary: dict[str, Any] = {
        "violations": [v.model_dump() for r in reports.values() for v in r.violations][:50],
        "features": sorted({v.feature for r in reports.values() for v in r.violations}),
        "n_rows": sum(r.n_rows for r in reports.values()),
        "n_rejected_instances": rejected,
        "n_objects": n_objects,
        **named,
    }
    if unchecked:
        summary["versions_without_manifest"] = sorted(unchecked)
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
