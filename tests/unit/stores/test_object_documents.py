"""Tolerant reads of delivered objects, and the per-object documents beside them under profiles/."""

from __future__ import annotations

import gzip

import pytest

from modelwatch.contracts import layout
from modelwatch.contracts.object_quality import FeatureQualityCounts, ObjectQuality, VersionQualityCounts
from modelwatch.contracts.schema import FeatureType
from modelwatch.stores.events import EventStore
from modelwatch.stores.objects import ObjectNotFound, ObjectStorage
from modelwatch.stores.profiles import ProfileStore
from tests.unit.stores.conftest import BUCKET

KEY = "rejected/dt=2026-11-26/hour=09/stream-1"


def test_read_tolerant_keeps_the_readable_records_and_counts_the_others(storage: ObjectStorage) -> None:
    storage.put(BUCKET, KEY, gzip.compress(b'{"a": 1}\n{broken\n{"a": 2}\n'))
    storage.put(BUCKET, KEY + "-bad-gzip", b"\x1f\x8b" + b"\x07" * 40)
    events = EventStore(storage, BUCKET)

    assert events.read_tolerant(KEY) == ([{"a": 1}, {"a": 2}], 1)
    assert events.read_tolerant(KEY + "-bad-gzip") == ([], 1)
    with pytest.raises(ValueError):
        events.read(KEY)  # the strict read still refuses it
    with pytest.raises(ObjectNotFound):
        events.read_tolerant(KEY + "-gone")


def test_quality_counts_are_stored_beside_the_profile_and_read_back(storage: ObjectStorage) -> None:
    profiles = ProfileStore(storage, BUCKET)
    quality = ObjectQuality(
        source_key=KEY,
        source_etag="abc",
        kind="rejected",
        n_records=3,
        first_timestamp="2026-11-26T09:00:01+00:00",
        unreadable_lines=2,
        versions=[
            VersionQualityCounts(
                model="fraud",
                version="1",
                n_rows=3,
                features=[
                    FeatureQualityCounts(
                        name="channel",
                        type=FeatureType.STRING,
                        nullable=False,
                        n=3,
                        unseen_category=1,
                        unseen_examples=["fax"],
                    )
                ],
            )
        ],
    )
    assert profiles.read_quality(KEY) is None

    profiles.write_quality(quality)

    assert profiles.read_quality(KEY) == quality
    assert storage.get(BUCKET, layout.object_quality_key(KEY)) is not None
    assert layout.object_quality_key(KEY) == f"{layout.PROFILES_PREFIX}{KEY}.quality.json"
    assert profiles.read(KEY) is None  # not mistaken for a profile
