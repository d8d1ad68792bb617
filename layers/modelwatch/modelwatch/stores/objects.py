"""Object storage, the one port every store is built on: S3, or a dictionary in memory.

Each typed store (manifests, results, profiles, events, export state, artifacts)
takes an ``ObjectStorage`` and a bucket name, so the same store code runs on S3 in
AWS and locally, and on ``InMemoryStorage`` in unit tests, with the semantics that
matter to it kept: ETags, conditional reads (``If-None-Match`` answering "not
modified") and conditional writes (``If-Match`` / ``If-None-Match: *``).
"""

from __future__ import annotations

import bisect
import hashlib
import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

_NOT_FOUND_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_NOT_MODIFIED_CODES = frozenset({"304", "NotModified"})
_PRECONDITION_CODES = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "412", "409"})
S3_LIST_PAGE_KEYS = 1000  # ListObjectsV2 answers at most this many keys a request


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


_Address = tuple[str, str]


class _ObjectTable(dict[_Address, tuple[bytes, str]]):
    """The in-memory objects by ``(bucket, key)``, with a sorted index of each bucket's keys for listing.

    Tests reach into the table (delete an object, share one table between two storages), so the
    index lives in the table itself and follows every change: new keys wait in a pending list,
    merged in one pass when the next listing needs them (both runs are sorted, so the merge is
    linear), deletions are swept at the next listing.
    """

    def __init__(self) -> None:
        super().__init__()
        self._sorted: dict[str, list[str]] = {}
        self._added: dict[str, list[str]] = {}
        self._deleted = False

    def __setitem__(self, address: _Address, value: tuple[bytes, str]) -> None:
        if address not in self:
            self._added.setdefault(address[0], []).append(address[1])
        super().__setitem__(address, value)

    def __delitem__(self, address: _Address) -> None:
        super().__delitem__(address)
        self._deleted = True

    def pop(self, address: _Address, *default: Any) -> Any:
        self._deleted = True
        return super().pop(address, *default)

    def popitem(self) -> tuple[_Address, tuple[bytes, str]]:
        self._deleted = True
        return super().popitem()

    def setdefault(self, address: _Address, default: tuple[bytes, str]) -> tuple[bytes, str]:
        if address not in self:
            self[address] = default
        return self[address]

    def update(self, *others: Any, **pairs: Any) -> None:
        for address, value in dict(*others, **pairs).items():
            self[address] = value

    def clear(self) -> None:
        super().clear()
        self._sorted, self._added, self._deleted = {}, {}, False

    def sorted_keys(self, bucket: str) -> list[str]:
        """Every key of ``bucket`` in order (its index, brought up to date)."""
        if self._deleted:
            for name, keys in self._sorted.items():
                self._sorted[name] = [key for key in keys if (name, key) in self]
            for name, keys in self._added.items():
                self._added[name] = [key for key in keys if (name, key) in self]
            self._deleted = False
        added = self._added.pop(bucket, None)
        if added:
            added.sort()
            # Two sorted runs: timsort merges them in one linear pass.
            self._sorted[bucket] = sorted(self._sorted.get(bucket, []) + added)
        return self._sorted.get(bucket, [])


class InMemoryStorage:
    """``ObjectStorage`` in a dictionary, with S3's ETag and condition semantics (tests, notebooks).

    ``fail_with`` makes every call raise it (an outage); ``calls`` counts calls by operation, and
    ``list_requests`` the LIST requests S3 would bill for them: one per page of up to 1,000 keys,
    at least one per listing. Listing finds a prefix by bisection in a sorted index, so it costs
    the keys listed, not the keys stored. Calls are atomic, as S3's are: threads racing on a
    conditional write see one winner.
    """

    def __init__(self) -> None:
        self.objects: dict[_Address, tuple[bytes, str]] = _ObjectTable()
        self.content_types: dict[tuple[str, str], str] = {}
        self.calls: dict[str, int] = {}
        self.list_requests = 0
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
            listed = [(key, self.objects[(bucket, key)]) for key in self._keys_under(bucket, prefix)]
            self.list_requests += max(1, math.ceil(len(listed) / S3_LIST_PAGE_KEYS))
        for key, (body, etag) in listed:
            yield ObjectInfo(key, len(body), etag)

    def _keys_under(self, bucket: str, prefix: str) -> list[str]:
        table = self.objects
        if isinstance(table, _ObjectTable):
            keys = table.sorted_keys(bucket)
        else:  # a plain dictionary put in its place
            keys = sorted(key for name, key in table if name == bucket)
        found = []
        for position in range(bisect.bisect_left(keys, prefix), len(keys)):
            if not keys[position].startswith(prefix):
                break
            found.append(keys[position])
        return found

    def upload(self, bucket: str, key: str, path: Path) -> None:
        self.put(bucket, key, Path(path).read_bytes())

    def download(self, bucket: str, key: str, path: Path) -> None:
        found = self.get(bucket, key)
        assert found is not None  # an unconditional get returns the object or raises
        Path(path).write_bytes(found.body)

    # Test conveniences.

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Keys under ``prefix`` (not counted as a call)."""
        with self._lock:
            return self._keys_under(bucket, prefix)

    def body(self, bucket: str, key: str) -> bytes:
        """The bytes of one object (KeyError when absent; not counted as a call)."""
        return self.objects[(bucket, key)][0]
