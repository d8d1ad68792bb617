"""The manifest store: where manifests are written, conditional reads, and what is not a manifest."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from modelwatch.stores.manifests import ManifestNotFound, ManifestStore
from modelwatch.stores.objects import ObjectStorage
from tests.unit.stores.conftest import BUCKET


def test_write_puts_the_version_copy_and_the_alias_manifest_then_reads_back(
    storage: ObjectStorage, make_manifest: Any
) -> None:
    # Given a manifest written to the store
    store = ManifestStore(storage, BUCKET)
    manifest = make_manifest(version="3")
    uri = store.write(manifest)
    # Then the alias manifest and the version's copy sit at the documented keys
    assert uri == f"s3://{BUCKET}/manifests/fraud/production.json"
    alias = storage.get(BUCKET, "manifests/fraud/production.json")
    copy = storage.get(BUCKET, "models/fraud/3/manifest.json")
    assert alias is not None and copy is not None and alias.body == copy.body
    # And both read back equal, the alias with the object's ETag
    read = store.read("fraud", "production")
    assert read is not None and read.manifest == manifest and read.etag == alias.etag
    assert store.read_version("fraud", "3") == manifest
    assert store.current("fraud", "production") == manifest


def test_a_prefix_moves_the_alias_manifests_only(storage: ObjectStorage, make_manifest: Any) -> None:
    store = ManifestStore(storage, BUCKET, prefix="serving")
    assert store.write(make_manifest()) == f"s3://{BUCKET}/serving/fraud/production.json"
    assert store.read_version("fraud", "1").version == "1"


def test_conditional_read_answers_none_while_the_manifest_is_unchanged(
    storage: ObjectStorage, make_manifest: Any
) -> None:
    store = ManifestStore(storage, BUCKET)
    store.write(make_manifest(version="1"))
    first = store.read("fraud", "production")
    assert first is not None
    # An unchanged manifest: the conditional read answers None (a 304)
    assert store.read("fraud", "production", if_none_match=first.etag) is None
    # A new manifest: the conditional read returns it with a new ETag
    store.write(make_manifest(version="2"))
    second = store.read("fraud", "production", if_none_match=first.etag)
    assert second is not None and second.manifest.version == "2" and second.etag != first.etag


def test_a_missing_manifest_is_manifest_not_found(storage: ObjectStorage) -> None:
    store = ManifestStore(storage, BUCKET)
    with pytest.raises(ManifestNotFound, match="'ghost'"):
        store.read("ghost", "production")
    with pytest.raises(ManifestNotFound):
        store.read("ghost", "production", if_none_match='"whatever"')
    with pytest.raises(ManifestNotFound, match="version '9'"):
        store.read_version("ghost", "9")
    assert store.current("ghost", "production") is None


def test_a_missing_bucket_is_not_a_missing_manifest(s3: Any) -> None:
    # No bucket at all is a deployment error and must surface, not read as "nothing published".
    from botocore.exceptions import ClientError

    from modelwatch.stores.objects import S3Storage

    store = ManifestStore(S3Storage(s3), "no-such-bucket")
    with pytest.raises(ClientError) as caught:
        store.read("fraud", "production")
    assert caught.value.response["Error"]["Code"] == "NoSuchBucket"


def test_an_invalid_document_is_refused(storage: ObjectStorage) -> None:
    storage.put(BUCKET, "manifests/fraud/production.json", b'{"model": "fraud"}')
    with pytest.raises(ValidationError):
        ManifestStore(storage, BUCKET).read("fraud", "production")
