"""The drift job: merge the window's per-object profiles by version and test them against the reference."""

from __future__ import annotations

from modelwatch.contracts.profile import DatasetProfile, ObjectProfile
from modelwatch.contracts.window import Window
from modelwatch.jobs.context import JobContext
from modelwatch.jobs.object_profiles import belongs_to_window, load_or_profile, unreadable_summary
from modelwatch.jobs.outcome import JobOutcome
from modelwatch.monitoring.drift import detect_drift
from modelwatch.monitoring.html_report import render_drift_html
from modelwatch.monitoring.profile import merge_profiles


def _in_window(profile: ObjectProfile, window: Window) -> bool:
    return belongs_to_window(profile.first_timestamp, profile.source_key, profile.unreadable_lines, window)


def run_drift(context: JobContext, model: str, window: Window) -> JobOutcome:
    references = context.references()
    per_version: dict[str, list[DatasetProfile]] = {}
    unprofiled: dict[str, int] = {}
    unreadable: list[tuple[str, int]] = []
    for obj in context.events.objects("events", window, model):
        profile = load_or_profile(context.events, context.profiles, obj.key, obj.etag, references)
        if not _in_window(profile, window):
            continue
        unreadable.append((obj.key, profile.unreadable_lines))
        for version, dataset in profile.versions.items():
            per_version.setdefault(version, []).append(dataset)
        for version, count in profile.unprofiled.items():
            unprofiled[version] = unprofiled.get(version, 0) + count
    if not per_version:
        reason = "no captured events in the window"
        if unprofiled:
            reason = f"no reference profile for the versions that served: {sorted(unprofiled)}"
        return JobOutcome(
            status="no_data",
            reason=reason,
            versions=sorted(unprofiled),
            summary=unreadable_summary(unreadable) or {},
        )
    config = context.settings.drift_config
    details, pages, drifted = {}, {}, {}
    for version in sorted(per_version):
        reference = references.get(model, version)
        assert reference is not None and reference.profile is not None  # profiled only when both exist
        current = merge_profiles(per_version[version])
        report = detect_drift(reference.profile, current, config)
        details[version] = report.model_dump(mode="json")
        if report.dataset_drift or report.prediction_drift:
            drifted[version] = report
        pages[version] = render_drift_html(
            report, reference.profile, current, title=f"{model} version {version}: drift, window {window.key}"
        )
    worst = max(per_version, key=lambda v: details[v]["drift_share"])
    summary = {
        "dataset_drift": bool(drifted),
        "drift_share": details[worst]["drift_share"],
        "drifted_features": sorted(
            {f["name"] for d in details.values() for f in d["features"] if f["drift_detected"]}
        ),
        "n_current": sum(d["n_current"] for d in details.values()),
    }
    if unprofiled:
        summary["events_without_reference"] = unprofiled
    summary.update(unreadable_summary(unreadable) or {})
    return JobOutcome(
        status="ok",
        alert=bool(drifted),
        versions=sorted(per_version),
        summary=summary,
        details=details,
        pages=pages,
        primary_version=worst,
    )
