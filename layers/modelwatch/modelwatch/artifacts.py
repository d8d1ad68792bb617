"""Fetching model artifacts from S3 (or the local file system) to a local path."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse


class ArtifactFetcher(Protocol):
    def fetch(self, uri: str) -> Path:
        """Return a local path holding the artifact at ``uri``."""
        ...


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` to ``(bucket, key)``; raise ``ValueError`` otherwise."""
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc or not parsed.path.strip("/"):
        raise ValueError(f"not an s3://bucket/key URI: {uri!r}")
    return parsed.netloc, parsed.path.lstrip("/")


class S3ArtifactFetcher:
    """Download ``s3://`` artifacts once into a cache directory; pass local paths through."""

    def __init__(self, s3_client: Any, cache_dir: str | Path) -> None:
        self._s3 = s3_client
        self._cache_dir = Path(cache_dir)

    def fetch(self, uri: str) -> Path:
        if not uri.startswith("s3://"):
            path = Path(uri.removeprefix("file://"))
            if not path.is_file():
                raise FileNotFoundError(f"artifact not found: {uri}")
            return path
        bucket, key = split_s3_uri(uri)
        digest = hashlib.sha256(uri.encode()).hexdigest()[:16]
        target = self._cache_dir / digest / Path(key).name
        if target.is_file():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(target.suffix + ".partial")
        self._s3.download_file(bucket, key, str(partial))
        shutil.move(partial, target)
        return target
