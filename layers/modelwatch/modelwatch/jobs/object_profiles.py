"""The per-object documents of a delivered object: stored once by the profile function, merged by the jobs.

When Firehose delivers an object, the profile function reads it once and stores its
profile (``layout.profile_key``, events objects only) and its quality counts
(``layout.object_quality_key``, events and rejected objects). The drift and quality
jobs merge the documents of their window's objects, so their cost grows with the
number of objects, not rows; an object whose document is missing or stale (its ETag
changed) is read and counted on the spot, and the result stored for next time.

An object with unreadable lines (not JSON, or a bad gzip body) is counted on its
readable lines; its documents say how many were not, and the jobs name it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from aws_lambda_powertools.metrics import MetricUnit

from modelwatch.contracts import layout
from modelwatch.contracts.object_quality import ObjectQuality, QualitySourceKind
from modelwatch.contracts.profile import ObjectProfile
from modelwatch.contracts.window import Window, parse_timestamp
from modelwatch.monitoring.object_profile import (
    check_object_quality,
    profile_and_check_events,
    profile_events,
)
from modelwatch.observability import logger, metrics
from modelwatch.stores.events import EventStore
from modelwatch.stores.profiles import ProfileStore
from modelwatch.stores.references import VersionReferences

MAX_UNREADABLE_LISTED: Final = 20


def _current(stored_etag: str, etag: str) -> bool:
    return not etag or stored_etag == etag


def _store(write: Any, document: Any, key: str) -> None:
    try:
        write(document)
    except Exception as error:  # a cache write failing must not fail the run
        logger.warning("could not store object document", extra={"key": key, "error": str(error)})


def _warn_unreadable(key: str, lines: int) -> None:
    if lines:
        logger.warning("object has unreadable lines", extra={"key": key, "unreadable_lines": lines})
        metrics.add_metric(name="UnreadableLines", unit=MetricUnit.Count, value=lines)


def load_or_profile(
    events: EventStore,
    profiles: ProfileStore,
    key: str,
    etag: str,
    references: VersionReferences,
    store: bool = True,
) -> ObjectProfile:
    """The stored profile of the events object at ``key``, or a new one (stored for next time)."""
    stored = profiles.read(key)
    if stored is not None and _current(stored.source_etag, etag):
        return stored
    records, unreadable = events.read_tolerant(key)
    _warn_unreadable(key, unreadable)
    profile = profile_events(records, references, key, etag, unreadable)
    metrics.add_metric(name="ObjectsProfiled", unit=MetricUnit.Count, value=1)
    if store:
        _store(profiles.write, profile, key)
    return profile


def _stale_quality(stored: ObjectQuality | None, etag: str, references: VersionReferences) -> bool:
    if stored is None or not _current(stored.source_etag, etag):
        return True
    # Counted before its version was published: the schema can be applied now.
    return any(not c.checked and references.get(c.model, c.version) for c in stored.versions)


def load_or_check_quality(
    events: EventStore,
    profiles: ProfileStore,
    kind: QualitySourceKind,
    key: str,
    etag: str,
    references: VersionReferences,
    store: bool = True,
) -> ObjectQuality:
    """The stored quality counts of the ``kind`` object at ``key``, or new ones (stored for next time).

    Counts are recomputed when the object changed (ETag) or when they hold rows of a
    version that had no published schema then and has one now.
    """
    stored = profiles.read_quality(key)
    if stored is not None and not _stale_quality(stored, etag, references):
        return stored
    records, unreadable = events.read_tolerant(key)
    _warn_unreadable(key, unreadable)
    quality = check_object_quality(kind, records, references, key, etag, unreadable)
    metrics.add_metric(name="ObjectsQualityChecked", unit=MetricUnit.Count, value=1)
    if store:
        _store(profiles.write_quality, quality, key)
    return quality


@dataclass(frozen=True)
class DeliveredObject:
    """What the profile function made of one delivered object."""

    kind: QualitySourceKind
    quality: ObjectQuality
    profile: ObjectProfile | None = None


def source_kind(key: str) -> QualitySourceKind | None:
    """``events`` or ``rejected`` for a delivered object's key; None for anything else."""
    if key.startswith(layout.EVENTS_PREFIX):
        return "events"
    if key.startswith(layout.REJECTED_PREFIX):
        return "rejected"
    return None


def process_delivered_object(
    events: EventStore, profiles: ProfileStore, key: str, etag: str, references: VersionReferences
) -> DeliveredObject:
    """Profile and count one delivered object, reading it once; store what was missing or stale.

    Raises
    ------
    ValueError
        ``key`` is neither an events nor a rejected-requests object.
    """
    kind = source_kind(key)
    if kind is None:
        raise ValueError(f"not a delivered events or rejected-requests object: {key!r}")
    stored_profile = profiles.read(key) if kind == "events" else None
    stored_quality = profiles.read_quality(key)
    profile_current = stored_profile is not None and _current(stored_profile.source_etag, etag)
    quality_current = not _stale_quality(stored_quality, etag, references)
    if quality_current and (kind == "rejected" or profile_current):
        assert stored_quality is not None
        return DeliveredObject(kind, stored_quality, stored_profile)
    records, unreadable = events.read_tolerant(key)
    _warn_unreadable(key, unreadable)
    if kind == "rejected":
        quality = check_object_quality(kind, records, references, key, etag, unreadable)
        _store(profiles.write_quality, quality, key)
        metrics.add_metric(name="ObjectsQualityChecked", unit=MetricUnit.Count, value=1)
        return DeliveredObject(kind, quality)
    profile, quality = profile_and_check_events(records, references, key, etag, unreadable)
    assert profile is not None
    _store(profiles.write, profile, key)
    _store(profiles.write_quality, quality, key)
    metrics.add_metric(name="ObjectsProfiled", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="ObjectsQualityChecked", unit=MetricUnit.Count, value=1)
    return DeliveredObject(kind, quality, profile)


def belongs_to_window(first_timestamp: str | None, key: str, unreadable_lines: int, window: Window) -> bool:
    """Whether a delivered object counts in ``window``.

    An object holds at most one Firehose buffer (60 s) of records; it belongs to the window
    its first record falls in. An object with no readable record but unreadable lines
    (a corrupt object) belongs to the windows its delivery hour overlaps, so it is named.
    """
    if first_timestamp is not None:
        return window.contains(parse_timestamp(first_timestamp))
    hour = layout.delivery_hour(key)
    if not unreadable_lines or hour is None:
        return False
    return hour < window.end and window.start < hour + timedelta(hours=1)


def unreadable_summary(objects: Iterable[tuple[str, int]]) -> dict[str, Any] | None:
    """The result summary's naming of corrupt objects: up to 20 ``{key, lines}``, and the totals.

    None when every object was readable.
    """
    found = sorted((key, lines) for key, lines in objects if lines)
    if not found:
        return None
    return {
        "unreadable": [{"key": key, "lines": lines} for key, lines in found[:MAX_UNREADABLE_LISTED]],
        "n_unreadable_objects": len(found),
        "n_unreadable_lines": sum(lines for _, lines in found),
    }
