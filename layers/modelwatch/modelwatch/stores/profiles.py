"""The per-object documents of each delivered object, in the events bucket under ``profiles/``.

``ObjectProfile`` at ``layout.profile_key`` (events objects, merged by the drift job) and
``ObjectQuality`` at ``layout.object_quality_key`` (events and rejected objects, merged by
the quality job).
"""

from __future__ import annotations

from modelwatch.contracts import layout
from modelwatch.contracts.object_quality import ObjectQuality
from modelwatch.contracts.profile import ObjectProfile
from modelwatch.stores.objects import ObjectNotFound, ObjectStorage


class ProfileStore:
    """Reads and writes ``ObjectProfile`` and ``ObjectQuality`` documents in the events bucket."""

    def __init__(self, storage: ObjectStorage, bucket: str) -> None:
        self._storage = storage
        self.bucket = bucket

    def _read(self, key: str) -> bytes | None:
        try:
            found = self._storage.get(self.bucket, key)
        except ObjectNotFound:
            return None
        assert found is not None  # an unconditional read returns the object or raises
        return found.body

    def read(self, events_key: str) -> ObjectProfile | None:
        """The stored profile of the events object at ``events_key``, or None."""
        body = self._read(layout.profile_key(events_key))
        return None if body is None else ObjectProfile.model_validate_json(body)

    def write(self, profile: ObjectProfile) -> None:
        self._storage.put(
            self.bucket,
            layout.profile_key(profile.source_key),
            profile.model_dump_json().encode(),
            "application/json",
        )

    def read_quality(self, source_key: str) -> ObjectQuality | None:
        """The stored quality counts of the events or rejected object at ``source_key``, or None."""
        body = self._read(layout.object_quality_key(source_key))
        return None if body is None else ObjectQuality.model_validate_json(body)

    def write_quality(self, quality: ObjectQuality) -> None:
        self._storage.put(
            self.bucket,
            layout.object_quality_key(quality.source_key),
            quality.model_dump_json().encode(),
            "application/json",
        )
