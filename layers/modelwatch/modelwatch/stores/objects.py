"""Object storage, the one port every store is built on: S3, or a dictionary in memory.

Each typed store (manifests, results, profiles, events, export state, artifacts)
takes an ``ObjectStorage`` and a bucket name, so the same store code runs on S3 in
AWS and locally, and on ``InMemoryStorage`` in unit tests, with the semantics that
matter to it kept: ETags, conditional reads (``If-None-Match`` answering "not
modified") and conditional writes (``If-Match`` / ``If-None-Match: *``).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

_NOT_FOUND_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_NOT_MODIFIED_CODES = frozenset({"304", "NotModified"})
_PRECONDITION_CODES = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "412", "409"})


class ObjectNotFound(KeyError):
    """No object at this bucket and key."""

    def __init__(self, bucket: str, key: str) -> None:
        self.bucket = bucket
        self.key = key
        super().__init__(f"s3://{bucket}/{key}")

    def __str__(self) -> str:
        return f"no object at s3://{self.bucket}/{self.key}"


class PreconditionFailed(RuntimeError):
    """A conditional write found the object changed (or present) since it was read."""


@dataclass(frozen=True)
class StoredObject:
    body: bytes
    etag: str


@dataclass(frozen=True)
class ObjectInfo:
    """One listed object."""

    key: str
    size: int
    etag: str = ""


class ObjectStorage(Protocol):
    """Buckets of objects: what S3 offers that the platform uses, and nothing more."""

    def get(self, bucket: str, key: str, if_none_match: str | None = None) -> StoredObject | None:
        """The object, or None when it still has ETag ``if_none_match``; raise ``ObjectNotFound``."""
        ...

    def put(
        self,
        bucket: str,
        key: str,
        body: bytes,
        content_type: str = "application/octet-stream",
        *,
        if_match: str | None = None,
        if_none_match: str | None = None,
    ) -> str:
        """Write the object and return its ETag; raise ``PreconditionFailed`` when a condition fails.

        ``if_match``: only if the stored object has this ETag; ``if_none_match="*"``: only if
        there is none.
        """
        ...

    def list_objects(self, bucket: str, prefix: str) -> Iterator[ObjectInfo]:
        """Every object under ``prefix``, in key order."""
        ...

    def upload(self, bucket: str, key: str, path: Path) -> None:
        """Write a local file (S3 uploads large files in parts)."""
        ...

    def download(self, bucket: str, key: str, path: Path) -> None:
        """Write the object to a local file; raise ``ObjectNotFound``."""
        ...


def _error_code(error: Exception) -> tuple[str, int | None]:
    response: dict[str, Any] = getattr(error, "response", {}) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code, status


class S3Storage:
    """``ObjectStorage`` over a boto3 S3 client (AWS, or moto locally through ``AWS_ENDPOINT_URL``)."""

    def __init__(self, s3_client: Any) -> None:
        self.client = s3_client

    def get(self, bucket: str, key: str, if_none_match: str | None = None) -> StoredObject | None:
        from botocore.exceptions import ClientError

        kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if if_none_match:
            kwargs["IfNoneMatch"] = if_none_match
        try:
            response = self.client.get_object(**kwargs)
        except ClientError as error:
            code, status = _error_code(error)
            if code in _NOT_MODIFIED_CODES or status == 304:
                return None
            if code in _NOT_FOUND_CODES:
                raise ObjectNotFound(bucket, key) from None
            raise
        return StoredObject(bytes(response["Body"].read()), str(response.get("ETag", "")))

    def put(
        self,
        bucket: str,
        key: str,
        body: bytes,
        content_type: str = "application/octet-stream",
        *,
        if_match: str | None = None,
        if_none_match: str | None = None,
    ) -> str:
        from botocore.exceptions import ClientError

        kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key, "Body": body, "ContentType": content_type}
        if if_match is not None:
            kwargs["IfMatch"] = if_match
        if if_none_match is not None:
            kwargs["IfNoneMatch"] = if_none_match
        try:
            response = self.client.put_object(**kwargs)
        except ClientError as error:
            if _error_code(error)[0] in _PRECONDITION_CODES:
                raise PreconditionFailed(f"s3://{bucket}/{key} changed since it was read") from error
            raise
        return str(response.get("ETag", ""))

    def list_objects(self, bucket: str, prefix: str) -> Iterator[ObjectInfo]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                yield ObjectInfo(str(item["Key"]), int(item["Size"]), str(item.get("ETag", "")))

    def upload(self, bucket: str, key: str, path: Path) -> None:
        self.client.upload_file(str(path), bucket, key)

    def download(self, bucket: str, key: str, path: Path) -> None:
        from botocore.exceptions import ClientError

        try:
            self.client.download_file(bucket, key, str(path))
        except ClientError as error:
            if _error_code(error)[0] in _NOT_FOUND_CODES:
                raise ObjectNotFound(bucket, key) from None
            raise


def _etag(body: bytes) -> str:
    return '"' + hashlib.md5(body, usedforsecurity=False).hexdigest() + '"'


class InMemoryStorage:
    """``ObjectStorage`` in a dictionary, with S3's ETag and condition semantics (tests, notebooks).

    ``fail_with`` makes every call raise it (an outage); ``calls`` counts calls by operation.
    Calls are atomic, as S3's are: threads racing on a conditional write see one winner.
    """

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], tuple[bytes, str]] = {}
        self.content_types: dict[tuple[str, str], str] = {}
        self.calls: dict[str, int] = {}
        self.fail_with: Exception | None = None
        self._lock = threading.RLock()

    def _call(self, operation: str) -> None:
        self.calls[operation] = self.calls.get(operation, 0) + 1
        if self.fail_with is not None:
            raise self.fail_with

    def get(self, bucket: str, key: str, if_none_match: str | None = None) -> StoredObject | None:
        with self._lock:
            return self._get(bucket, key, if_none_match)

    def _get(self, bucket: str, key: str, if_none_match: str | None) -> StoredObject | None:
        self._call("get")
        found = self.objects.get((bucket, key))
        if found is None:
            raise ObjectNotFound(bucket, key)
        body, etag = found
        if if_none_match is not None and if_none_match == etag:
            return None
        return StoredObject(body, etag)

    def put(
        self,
        bucket: str,
        key: str,
        body: bytes,
        content_type: str = "application/octet-stream",
        *,
        if_match: str | None = None,
        if_none_match: str | None = None,
    ) -> str:
        with self._lock:
            return self._put(bucket, key, body, content_type, if_match, if_none_match)

    def _put(
        self,
        bucket: str,
        key: str,
        body: bytes,
        content_type: str,
        if_match: str | None,
        if_none_match: str | None,
    ) -> str:
        self._call("put")
        current = self.objects.get((bucket, key))
        if if_none_match == "*" and current is not None:
            raise PreconditionFailed(f"s3://{bucket}/{key} exists")
        if if_match is not None and (current is None or current[1] != if_match):
            raise PreconditionFailed(f"s3://{bucket}/{key} changed since it was read")
        etag = _etag(body)
        self.objects[(bucket, key)] = (bytes(body), etag)
        self.content_types[(bucket, key)] = content_type
        return etag

    def list_objects(self, bucket: str, prefix: str) -> Iterator[ObjectInfo]:
        with self._lock:
            self._call("list_objects")
            listed = sorted(self.objects.items())
        for (name, key), (body, etag) in listed:
            if name == bucket and key.startswith(prefix):
                yield ObjectInfo(key, len(body), etag)

    def upload(self, bucket: str, key: str, path: Path) -> None:
        self.put(bucket, key, Path(path).read_bytes())

    def download(self, bucket: str, key: str, path: Path) -> None:
        found = self.get(bucket, key)
        assert found is not None  # an unconditional get returns the object or raises
        Path(path).write_bytes(found.body)

    # Test conveniences.

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Keys under ``prefix`` (not counted as a call)."""
        return sorted(k for (b, k) in self.objects if b == bucket and k.startswith(prefix))

    def body(self, bucket: str, key: str) -> bytes:
        """The bytes of one object (KeyError when absent; not counted as a call)."""
        return self.objects[(bucket, key)][0]
