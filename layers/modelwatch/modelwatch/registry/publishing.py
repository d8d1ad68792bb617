"""Publishing a registered version as the serving manifest that the predict functions read.

Serving never talks to MLflow: the version's model file is copied into the
models bucket (``models/<name>/<version>/model.<ext>``, as ``publish_model``
does) and the manifest naming it is written last, with one PUT. Anything that
fails before that PUT (MLflow, the artifact, the schema, the copy) leaves the
previous manifest serving.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, get_args

from pydantic import ValidationError

from modelwatch.manifest import Flavor, PredictionType, ServingManifest, artifact_key
from modelwatch.publish import publish_manifest
from modelwatch.registry import tags as tag
from modelwatch.registry.backend import RegistryBackend, VersionRecord
from modelwatch.registry.errors import NotServableError, PromotionError
from modelwatch.schema import InputSchema
from modelwatch.serving.flavors import ARTIFACT_SUFFIX

PUBLISHER = "modelwatch registry"


def serving_details(record: VersionRecord) -> tuple[Flavor, PredictionType, str, str]:
    """Return ``(flavor, prediction_type, model file, schema file)`` of a version, from its tags.

    Raises
    ------
    NotServableError
        The version was not registered with what serving needs, naming what is missing.
    """
    flavor = record.tags.get(tag.FLAVOR, "")
    model_file = record.tags.get(tag.MODEL_FILE, "")
    schema_file = record.tags.get(tag.INPUT_SCHEMA_FILE, "")
    prediction_type = record.tags.get(tag.PREDICTION_TYPE, "value")
    missing = []
    if flavor not in get_args(Flavor):
        missing.append(f"a flavor (tag {tag.FLAVOR}: sklearn or onnx)")
    if not model_file:
        missing.append(f"a model file (tag {tag.MODEL_FILE})")
    if not schema_file:
        missing.append(f"an input schema (tag {tag.INPUT_SCHEMA_FILE})")
    if prediction_type not in get_args(PredictionType):
        missing.append(f"a valid prediction type (tag {tag.PREDICTION_TYPE}: probability, label or value)")
    if missing:
        raise NotServableError(
            f"version {record.version} of model {record.name!r} cannot be served: it lacks "
            + ", ".join(missing)
            + " (register it with modelwatch, giving input_schema= and a .joblib/.pkl/.onnx model file)"
        )
    return flavor, prediction_type, model_file, schema_file  # type: ignore[return-value]


def build_manifest(
    backend: RegistryBackend,
    record: VersionRecord,
    alias: str,
    s3_client: Any,
    bucket: str,
    workdir: Path,
    publisher: str = PUBLISHER,
) -> ServingManifest:
    """Copy the version's model file into the models bucket; return its (unpublished) manifest."""
    flavor, prediction_type, model_file, schema_file = serving_details(record)
    schema_path = backend.download_version_artifact(
        record.name, record.version, schema_file, workdir / "schema"
    )
    try:
        schema = InputSchema.model_validate_json(schema_path.read_bytes())
    except ValidationError as error:
        raise NotServableError(
            f"input schema of version {record.version} of model {record.name!r} is invalid: "
            f"{error.errors()[0].get('msg', error)}"
        ) from None
    model_path = backend.download_version_artifact(record.name, record.version, model_file, workdir / "model")
    key = artifact_key(record.name, record.version, "model" + ARTIFACT_SUFFIX[flavor])
    _upload(s3_client, model_path, bucket, key, record)
    update: dict[str, Any] = {}
    profile_file = record.tags.get(tag.PROFILE_FILE)
    if profile_file and "reference_profile_uri" in ServingManifest.model_fields:
        profile_path = backend.download_version_artifact(
            record.name, record.version, profile_file, workdir / "profile"
        )
        profile_key = artifact_key(record.name, record.version, tag.PROFILE_ARTIFACT)
        _upload(s3_client, profile_path, bucket, profile_key, record)
        update["reference_profile_uri"] = f"s3://{bucket}/{profile_key}"
    source = {"publisher": publisher, "registry": backend.uri, "registered_version": record.version}
    if record.run_id:
        source["run_id"] = record.run_id
    manifest = ServingManifest(
        model=record.name,
        version=record.version,
        alias=alias,
        flavor=flavor,
        artifact_uri=f"s3://{bucket}/{key}",
        input_schema=schema,
        prediction_type=prediction_type,
        source=source,
    )
    return manifest.model_copy(update=update) if update else manifest


def _upload(s3_client: Any, path: Path, bucket: str, key: str, record: VersionRecord) -> None:
    try:
        s3_client.upload_file(str(path), bucket, key)
    except Exception as error:
        raise PromotionError(
            f"copying version {record.version} of {record.name!r} to s3://{bucket}/{key} failed: {error}"
        ) from error


def publish_version(
    backend: RegistryBackend,
    record: VersionRecord,
    alias: str,
    s3_client: Any,
    bucket: str,
    manifest_prefix: str = "manifests",
    publisher: str = PUBLISHER,
) -> tuple[ServingManifest, str]:
    """Publish ``record`` as the manifest of ``alias``; return the manifest and its S3 URI.

    Raises
    ------
    NotServableError
        The version lacks a flavour, model file or input schema.
    PromotionError
        Copying the artifact or writing the manifest failed; the previous manifest still serves.
    TrackingServerUnavailable
        MLflow did not answer while the artifact was read.
    """
    with tempfile.TemporaryDirectory(prefix="modelwatch-publish-") as tmp:
        manifest = build_manifest(backend, record, alias, s3_client, bucket, Path(tmp), publisher)
    try:
        uri = publish_manifest(s3_client, bucket, manifest, manifest_prefix)
    except Exception as error:
        raise PromotionError(
            f"writing the {alias} manifest of {record.name!r} to s3://{bucket}/{manifest_prefix} "
            f"failed: {error}"
        ) from error
    return manifest, uri
