"""One profile per delivered events object, against the reference of the version that served it.

An object can hold events of two versions around a promotion, so its events are
grouped by (model, version) and each group is profiled against that version's
reference. Events of a version without a reference profile are counted, not profiled.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from modelwatch.contracts.profile import ObjectProfile
from modelwatch.monitoring.datasets import columns_from_events
from modelwatch.monitoring.profile import profile_against
from modelwatch.stores.references import VersionReferences


def profile_events(
    records: list[dict[str, Any]], references: VersionReferences, source_key: str, source_etag: str
) -> ObjectProfile:
    """Profile prediction event records, grouped by model version, against each version's reference."""
    by_version: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        by_version[(str(record.get("model")), str(record.get("version")))].append(record)
    timestamps = sorted(str(r["timestamp"]) for r in records if isinstance(r.get("timestamp"), str))
    result = ObjectProfile(
        source_key=source_key,
        source_etag=source_etag,
        n_events=len(records),
        first_timestamp=timestamps[0] if timestamps else None,
        last_timestamp=timestamps[-1] if timestamps else None,
    )
    for (model, version), events in by_version.items():
        reference = references.get(model, version)
        if reference is None or reference.profile is None:
            result.unprofiled[version] = len(events)
            continue
        result.versions[version] = profile_against(reference.profile, columns_from_events(events))
    return result
