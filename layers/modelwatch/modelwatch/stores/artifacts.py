"""Model files and other version artifacts: fetched to a local path by serving, uploaded by publishing.

An artifact is named by its URI: ``s3://bucket/key`` (any bucket the function may
read), or a local path (``file://`` or plain) for models published from a laptop.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path
from typing import Protocol

from modelwatch.contracts import layout
from modelwatch.stores.objects import ObjectStorage


class ArtifactFetcher(Protocol):
    def fetch(self, uri: str) -> Path:
        """Return a local path holding the artifact at ``uri``."""
        ...


class ArtifactStore:
    """Artifacts in object storage: downloaded once into ``cache_dir``, read whole, or uploaded.

    Parameters
    ----------
    storage
        The object storage every ``s3://`` URI is read from.
    cache_dir
        Where fetched files are kept (one sub-directory per URI); default: a directory in the
        system's temporary directory (``/tmp`` in Lambda).
    """

    def __init__(self, storage: ObjectStorage, cache_dir: str | Path | None = None) -> None:
        self._storage = storage
        self._cache_dir = Path(cache_dir or Path(tempfile.gettempdir()) / "modelwatch-artifacts")

    def fetch(self, uri: str) -> Path:
        """A local path holding the artifact (downloaded on first use; local paths pass through).

        Raises
        ------
        FileNotFoundError
            A local path that does not exist.
        modelwatch.stores.objects.ObjectNotFound
            No object at the ``s3://`` URI.
        """
        if not uri.startswith("s3://"):
            path = Path(uri.removeprefix("file://"))
            if not path.is_file():
                raise FileNotFoundError(f"artifact not found: {uri}")
            return path
        bucket, key = layout.split_s3_uri(uri)
        digest = hashlib.sha256(uri.encode()).hexdigest()[:16]
        target = self._cache_dir / digest / Path(key).name
        if target.is_file():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(target.suffix + ".partial")
        self._storage.download(bucket, key, partial)
        shutil.move(partial, target)  # readers never see half a file
        return target

    def read_bytes(self, uri: str) -> bytes:
        """The whole content of a small ``s3://`` artifact (a reference profile, a schema)."""
        bucket, key = layout.split_s3_uri(uri)
        found = self._storage.get(bucket, key)
        assert found is not None  # an unconditional read returns the object or raises
        return found.body

    def upload(self, path: Path, bucket: str, key: str) -> str:
        """Upload a local file; return its ``s3://`` URI."""
        self._storage.upload(bucket, key, path)
        return layout.s3_uri(bucket, key)

    def put_text(self, bucket: str, key: str, text: str, content_type: str = "application/json") -> str:
        """Write a small text artifact; return its ``s3://`` URI."""
        self._storage.put(bucket, key, text.encode(), content_type)
        return layout.s3_uri(bucket, key)
