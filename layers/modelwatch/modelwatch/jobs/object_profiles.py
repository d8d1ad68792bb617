"""One profile per delivered events object, made once and merged by the drift job.

When Firehose delivers an object, the profile function profiles its events
against the reference of the version that served them (an object can hold events
of two versions around a promotion) and stores the result next to nothing else:
``profiles/<events key>.json``. The drift job merges the profiles of its
window's objects, so its cost grows with the number of objects, not rows; an
object whose profile is missing or stale (ETag changed) is profiled on the spot.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Final, Literal

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field

from modelwatch.datasets import columns_from_events
from modelwatch.jobs.event_objects import read_object
from modelwatch.jobs.references import VersionReferences
from modelwatch.observability import logger, metrics
from modelwatch.profile import DatasetProfile, profile_against

OBJECT_PROFILE_SCHEMA_VERSION: Final = 1
PROFILES_PREFIX: Final = "profiles/"


class ObjectProfile(BaseModel):
    """Profiles of one events object, by the version that served its events."""

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = OBJECT_PROFILE_SCHEMA_VERSION
    source_key: str
    source_etag: str
    n_events: int
    first_timestamp: str | None = None
    last_timestamp: str | None = None
    versions: dict[str, DatasetProfile] = Field(default_factory=dict)
    unprofiled: dict[str, int] = Field(
        default_factory=dict, description="Events per version that has no reference profile."
    )


def profile_key(events_key: str) -> str:
    return f"{PROFILES_PREFIX}{events_key}.json"


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


def load_or_profile(
    s3_client: Any, bucket: str, key: str, etag: str, references: VersionReferences, store: bool = True
) -> ObjectProfile:
    """The stored profile of an events object, or a new one (stored for next time)."""
    try:
        body = s3_client.get_object(Bucket=bucket, Key=profile_key(key))["Body"].read()
        stored = ObjectProfile.model_validate_json(body)
        if not etag or stored.source_etag == etag:
            return stored
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in {"NoSuchKey", "404"}:
            raise
    profile = profile_events(read_object(s3_client, bucket, key), references, key, etag)
    metrics.add_metric(name="ObjectsProfiled", unit=MetricUnit.Count, value=1)
    if store:
        try:
            s3_client.put_object(
                Bucket=bucket,
                Key=profile_key(key),
                Body=profile.model_dump_json().encode(),
                ContentType="application/json",
            )
        except ClientError as error:  # a cache write failing must not fail the run
            logger.warning("could not store object profile", extra={"key": key, "error": str(error)})
    return profile
