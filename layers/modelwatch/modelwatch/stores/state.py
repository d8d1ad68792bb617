"""A job's state: one JSON document, saved only if nobody saved it since it was read.

The metrics export keeps its cumulative counters this way (``layout.METRICS_EXPORT_STATE_KEY``):
two overlapping runs cannot both count the same object, because the second save
fails with :class:`StateConflict` and that run starts over from the saved state.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel

from modelwatch.contracts import layout
from modelwatch.stores.objects import ObjectNotFound, ObjectStorage, PreconditionFailed

Document = TypeVar("Document", bound=BaseModel)


class StateConflict(RuntimeError):
    """The state changed since it was read (another run saved it)."""


class StateStore(Generic[Document]):
    """One ``document`` at ``key``, loaded with its version and saved conditionally.

    Parameters
    ----------
    storage, bucket, key
        Where the document lives.
    document
        Its pydantic model; ``document()`` is the state before the first save.
    """

    def __init__(self, storage: ObjectStorage, bucket: str, key: str, document: type[Document]) -> None:
        self._storage = storage
        self.bucket = bucket
        self.key = key
        self._document = document

    def load(self) -> tuple[Document, str | None]:
        """The state and its version token (``None`` when nothing is saved yet)."""
        try:
            found = self._storage.get(self.bucket, self.key)
        except ObjectNotFound:
            return self._document(), None
        assert found is not None  # an unconditional read returns the object or raises
        return self._document.model_validate_json(found.body), found.etag

    def save(self, state: Document, version: str | None) -> None:
        """Save ``state`` if the stored one is still at ``version``.

        Raises
        ------
        StateConflict
            Another run saved the state since ``version`` was read.
        """
        condition = {"if_match": version} if version is not None else {"if_none_match": "*"}
        try:
            self._storage.put(
                self.bucket, self.key, state.model_dump_json().encode(), "application/json", **condition
            )
        except PreconditionFailed as error:
            raise StateConflict(
                f"{layout.s3_uri(self.bucket, self.key)} changed since it was read"
            ) from error
