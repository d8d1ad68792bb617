"""The profile of a delivered events object: stored once by the profile function, merged by the drift job.

When Firehose delivers an object, the profile function profiles it and stores the
result (``layout.profile_key``). The drift job merges the profiles of its window's
objects, so its cost grows with the number of objects, not rows; an object whose
profile is missing or stale (its ETag changed) is profiled on the spot.
"""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit

from modelwatch.contracts.profile import ObjectProfile
from modelwatch.monitoring.object_profile import profile_events
from modelwatch.observability import logger, metrics
from modelwatch.stores.events import EventStore
from modelwatch.stores.profiles import ProfileStore
from modelwatch.stores.references import VersionReferences


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
    if stored is not None and (not etag or stored.source_etag == etag):
        return stored
    profile = profile_events(events.read(key), references, key, etag)
    metrics.add_metric(name="ObjectsProfiled", unit=MetricUnit.Count, value=1)
    if store:
        try:
            profiles.write(profile)
        except Exception as error:  # a cache write failing must not fail the run
            logger.warning("could not store object profile", extra={"key": key, "error": str(error)})
    return profile
