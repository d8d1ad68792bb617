"""One profile and one set of quality counts per delivered object, against the version that served it.

An object can hold events of two versions around a promotion, so its events are
grouped by (model, version) and each group is profiled against that version's
reference and counted against its schema; the columns are built once per group for
both. Events of a version without a reference profile are counted, not profiled; rows
of a version without a published manifest are counted, not checked.

Rejected-requests objects get quality counts only: the instances of their
``schema_violation`` records (the data that actually arrived; served events carry no
type errors, since serving refuses those with 422).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from modelwatch.contracts.object_quality import ObjectQuality, QualitySourceKind, VersionQualityCounts
from modelwatch.contracts.profile import ObjectProfile
from modelwatch.contracts.schema import FeatureType
from modelwatch.monitoring.datasets import columns_from_events
from modelwatch.monitoring.profile import profile_against
from modelwatch.monitoring.quality import check_quality, numbers_as_array, quality_counts
from modelwatch.stores.references import VersionReference, VersionReferences


def _timestamps(records: Iterable[dict[str, Any]]) -> tuple[str | None, str | None]:
    stamps = [str(r["timestamp"]) for r in records if isinstance(r.get("timestamp"), str)]
    return (min(stamps), max(stamps)) if stamps else (None, None)


def _by_version(records: Iterable[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        groups[(str(record.get("model")), str(record.get("version")))].append(record)
    return groups


def rejected_instances(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The instances a rejected request's body carried (none when the body is not a JSON request)."""
    try:
        instances = json.loads(record.get("body") or "").get("instances")
    except (ValueError, AttributeError):
        return []
    return [i for i in instances if isinstance(i, dict)] if isinstance(instances, list) else []


def _numeric_as_arrays(columns: dict[str, Any], reference: VersionReference | None) -> dict[str, Any]:
    """The columns numeric in the reference (or schema) as float arrays when they hold only numbers.

    Profiling and counting a float array is several times faster than a list of JSON
    values, with the same result; categorical columns stay lists (their category keys
    depend on the values' Python types).
    """
    if reference is None:
        return columns
    if reference.profile is not None:
        numeric = {f.name for f in reference.profile.features if f.kind == "numeric"}
    else:
        kinds = (FeatureType.NUMBER, FeatureType.INTEGER)
        numeric = {f.name for f in reference.manifest.input_schema.features if f.type in kinds}
    converted = dict(columns)
    for name in numeric & set(columns):
        array = numbers_as_array(columns[name])
        if array is not None:
            converted[name] = array
    return converted


def _version_counts(
    model: str, version: str, columns: dict[str, Any], n_rows: int, references: VersionReferences
) -> VersionQualityCounts:
    reference = references.get(model, version)
    if reference is None:
        return VersionQualityCounts(model=model, version=version, n_rows=n_rows, checked=False)
    # The default thresholds only shape rates the document does not keep.
    report = check_quality(reference.manifest.input_schema, columns)
    return quality_counts(report, model, version)


def profile_and_check_events(
    records: list[dict[str, Any]],
    references: VersionReferences,
    source_key: str,
    source_etag: str,
    unreadable_lines: int = 0,
    with_profile: bool = True,
) -> tuple[ObjectProfile | None, ObjectQuality]:
    """The profile and the quality counts of one events object's records (columns built once for both).

    Parameters
    ----------
    records:
        The object's readable ``PredictionEvent`` records.
    references:
        Each version's manifest (schema) and reference profile.
    source_key, source_etag:
        The object the records were read from.
    unreadable_lines:
        Lines of the object that could not be read (recorded in both documents).
    with_profile:
        False to count quality only (the profile is then None).
    """
    first, last = _timestamps(records)
    profile = (
        ObjectProfile(
            source_key=source_key,
            source_etag=source_etag,
            n_events=len(records),
            first_timestamp=first,
            last_timestamp=last,
            unreadable_lines=unreadable_lines,
        )
        if with_profile
        else None
    )
    quality = ObjectQuality(
        source_key=source_key,
        source_etag=source_etag,
        kind="events",
        n_records=len(records),
        first_timestamp=first,
        last_timestamp=last,
        unreadable_lines=unreadable_lines,
    )
    for (model, version), events in _by_version(records).items():
        reference = references.get(model, version)
        columns = _numeric_as_arrays(columns_from_events(events), reference)
        quality.versions.append(_version_counts(model, version, columns, len(events), references))
        if profile is None:
            continue
        if reference is None or reference.profile is None:
            profile.unprofiled[version] = len(events)
            continue
        profile.versions[version] = profile_against(reference.profile, columns)
    return profile, quality


def profile_events(
    records: list[dict[str, Any]],
    references: VersionReferences,
    source_key: str,
    source_etag: str,
    unreadable_lines: int = 0,
) -> ObjectProfile:
    """Profile prediction event records, grouped by model version, against each version's reference."""
    first, last = _timestamps(records)
    result = ObjectProfile(
        source_key=source_key,
        source_etag=source_etag,
        n_events=len(records),
        first_timestamp=first,
        last_timestamp=last,
        unreadable_lines=unreadable_lines,
    )
    for (model, version), events in _by_version(records).items():
        reference = references.get(model, version)
        if reference is None or reference.profile is None:
            result.unprofiled[version] = len(events)
            continue
        result.versions[version] = profile_against(reference.profile, columns_from_events(events))
    return result


def check_rejected(
    records: list[dict[str, Any]],
    references: VersionReferences,
    source_key: str,
    source_etag: str,
    unreadable_lines: int = 0,
) -> ObjectQuality:
    """The quality counts of one rejected-requests object: the instances of its schema violations."""
    first, last = _timestamps(records)
    quality = ObjectQuality(
        source_key=source_key,
        source_etag=source_etag,
        kind="rejected",
        n_records=len(records),
        first_timestamp=first,
        last_timestamp=last,
        unreadable_lines=unreadable_lines,
    )
    refused = [r for r in records if r.get("reason") == "schema_violation" and r.get("version")]
    for (model, version), group in _by_version(refused).items():
        instances = [{"features": i} for record in group for i in rejected_instances(record)]
        if instances:
            columns = columns_from_events(instances)
            quality.versions.append(_version_counts(model, version, columns, len(instances), references))
    return quality


def check_object_quality(
    kind: QualitySourceKind,
    records: list[dict[str, Any]],
    references: VersionReferences,
    source_key: str,
    source_etag: str,
    unreadable_lines: int = 0,
) -> ObjectQuality:
    """The quality counts of one delivered object of ``kind`` (events or rejected requests)."""
    if kind == "rejected":
        return check_rejected(records, references, source_key, source_etag, unreadable_lines)
    _, quality = profile_and_check_events(
        records, references, source_key, source_etag, unreadable_lines, with_profile=False
    )
    return quality
