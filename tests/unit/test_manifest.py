"""Serving manifests: names, JSON form, and the S3 store (moto in-process)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from pydantic import ValidationError

from modelwatch.manifest import (
    ManifestNotFound,
    S3ManifestStore,
    ServingManifest,
    artifact_key,
    manifest_key,
)
from modelwatch.names import check_model_name, is_valid_model_name

BUCKET = "models-bucket"


@pytest.mark.parametrize("name", ["fraud", "fraud_detection", "v1.2-rc", "3", "A" * 63, "x-y_z.0"])
def test_valid_names(name: str) -> None:
    assert is_valid_model_name(name)
    assert check_model_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "-fraud",
        "_x",
        ".x",
        "a" * 64,
        "has space",
        "a/b",
        "ünï",
        "a:b",
        "x\ny",
        "fraud\n",
    ],
)
def test_invalid_names(name: str) -> None:
    assert not is_valid_model_name(name)
    with pytest.raises(ValueError, match="invalid alias"):
        check_model_name(name, "alias")


@pytest.mark.parametrize("field", ["model", "version", "alias"])
def test_manifest_rejects_bad_names(make_manifest: Any, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        make_manifest(**{field: "../etc"})
    assert caught.value.errors()[0]["loc"] == (field,)


def test_manifest_rejects_unknown_fields_and_flavors(make_manifest: Any) -> None:
    document = json.loads(make_manifest().model_dump_json())
    with pytest.raises(ValidationError):
        ServingManifest.model_validate({**document, "extra": 1})
    with pytest.raises(ValidationError):
        ServingManifest.model_validate({**document, "flavor": "pytorch"})
    with pytest.raises(ValidationError):
        ServingManifest.model_validate({**document, "prediction_type": "logit"})


def test_manifest_json_round_trip(make_manifest: Any) -> None:
    manifest = make_manifest(source={"run_id": "abc"}, alias="staging")
    again = ServingManifest.model_validate_json(manifest.model_dump_json())
    assert again == manifest
    assert again.created_at.tzinfo is not None


def test_keys() -> None:
    assert manifest_key("/manifests/", "fraud", "production") == "manifests/fraud/production.json"
    assert artifact_key("fraud", "3", "model.onnx") == "models/fraud/3/model.onnx"


def test_s3_store_write_then_read(s3: Any, make_manifest: Any) -> None:
    # Given a bucket and a manifest written to it
    s3.create_bucket(Bucket=BUCKET)
    store = S3ManifestStore(s3, BUCKET, prefix="manifests")
    manifest = make_manifest()
    uri = store.write(manifest)
    # Then it sits at the documented key, as JSON
    assert uri == f"s3://{BUCKET}/manifests/fraud/production.json"
    head = s3.head_object(Bucket=BUCKET, Key="manifests/fraud/production.json")
    assert head["ContentType"] == "application/json"
    # And reads back equal, with the object's ETag
    read = store.read("fraud", "production")
    assert read is not None
    assert read.manifest == manifest
    assert read.etag == head["ETag"]


def test_s3_store_conditional_read(s3: Any, make_manifest: Any) -> None:
    s3.create_bucket(Bucket=BUCKET)
    store = S3ManifestStore(s3, BUCKET)
    store.write(make_manifest(version="1"))
    first = store.read("fraud", "production")
    assert first is not None
    # An unchanged manifest: the conditional read answers None (a 304)
    assert store.read("fraud", "production", if_none_match=first.etag) is None
    # A new manifest: the conditional read returns it with a new ETag
    store.write(make_manifest(version="2"))
    second = store.read("fraud", "production", if_none_match=first.etag)
    assert second is not None
    assert second.manifest.version == "2"
    assert second.etag != first.etag


def test_s3_store_missing_manifest(s3: Any) -> None:
    s3.create_bucket(Bucket=BUCKET)
    store = S3ManifestStore(s3, BUCKET)
    with pytest.raises(ManifestNotFound, match="'ghost'"):
        store.read("ghost", "production")
    with pytest.raises(ManifestNotFound):
        store.read("ghost", "production", if_none_match='"whatever"')


def test_s3_store_other_errors_propagate(s3: Any) -> None:
    # No bucket at all is not "no manifest": it is a deployment error and must surface.
    store = S3ManifestStore(s3, "no-such-bucket")
    with pytest.raises(ClientError) as caught:
        store.read("fraud", "production")
    assert caught.value.response["Error"]["Code"] == "NoSuchBucket"


def test_s3_store_rejects_invalid_manifest_document(s3: Any) -> None:
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="manifests/fraud/production.json", Body=b'{"model": "fraud"}')
    with pytest.raises(ValidationError):
        S3ManifestStore(s3, BUCKET).read("fraud", "production")
