"""The profile of each delivered events object, beside nothing else (``layout.profile_key``)."""

from __future__ import annotations

from modelwatch.contracts import layout
from modelwatch.contracts.profile import ObjectProfile
from modelwatch.stores.objects import ObjectNotFound, ObjectStorage


class ProfileStore:
    """Reads and writes ``ObjectProfile`` documents in the events bucket."""

    def __init__(self, storage: ObjectStorage, bucket: str) -> None:
        self._storage = storage
        self.bucket = bucket

    def read(self, events_key: str) -> ObjectProfile | None:
        """The stored profile of the events object at ``events_key``, or None."""
        try:
            found = self._storage.get(self.bucket, layout.profile_key(events_key))
        except ObjectNotFound:
            return None
        assert found is not None  # an unconditional read returns the object or raises
        return ObjectProfile.model_validate_json(found.body)

    def write(self, profile: ObjectProfile) -> None:
        self._storage.put(
            self.bucket,
            layout.profile_key(profile.source_key),
            profile.model_dump_json().encode(),
            "application/json",
        )
