"""Publishing what serving serves: a registered version, or a model file, as a serving manifest.

The manifest is the one seam between "what should be served" and serving, which
never talks to MLflow. The model file is copied into the models bucket
(``layout.model_file_key``) and the manifest naming it is written last, with one
PUT: readers see the old manifest or the new one, never one naming a missing file.
Anything that fails before that PUT (MLflow, the artifact, the schema, the copy)
leaves the previous manifest serving.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, get_args

from pydantic import ValidationError

from modelwatch.contracts import layout
from modelwatch.contracts.manifest import Flavor, ManifestMonitoring, PredictionType, ServingManifest
from modelwatch.contracts.schema import InputSchema
from modelwatch.registry import tags as tag
from modelwatch.registry.backend import RegistryBackend, VersionRecord
from modelwatch.registry.errors import NotServableError, PromotionError
from modelwatch.stores import aws
from modelwatch.stores.artifacts import ArtifactStore
from modelwatch.stores.manifests import ManifestStore
from modelwatch.stores.objects import ObjectStorage, S3Storage

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


def try_serving(
    record: VersionRecord,
    flavor: Flavor,
    model_path: Path,
    schema: InputSchema,
    prediction_type: PredictionType,
) -> None:
    """Load the model file as serving would (its flavour's loader) and score the schema's example instance.

    Raises
    ------
    NotServableError
        It does not load, or does not score (a model fitted on other features, a missing runtime).
    """
    from modelwatch.flavors import ModelLoadError, check_predictor, load_predictor

    try:
        check_predictor(load_predictor(flavor, model_path, schema, prediction_type), schema, prediction_type)
    except ModelLoadError as error:
        raise NotServableError(
            f"version {record.version} of model {record.name!r} would not serve: {error} "
            "(promote with check_serves=False, or --no-check, to publish it anyway)"
        ) from None


def download_servable(
    backend: RegistryBackend, record: VersionRecord, workdir: Path
) -> tuple[Path, InputSchema]:
    """Download the version's model file and input schema; return the file's path and the schema.

    Raises
    ------
    NotServableError
        The version lacks what serving needs, or its schema is invalid.
    """
    _, _, model_file, schema_file = serving_details(record)
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
    return model_path, schema


def monitoring_of(record: VersionRecord) -> ManifestMonitoring | None:
    """The job window a version is tagged with (``modelwatch.monitoring_window_minutes``), if any.

    Raises
    ------
    NotServableError
        The tag is not a window length in minutes (5 to 10080).
    """
    window = record.tags.get(tag.MONITORING_WINDOW_MINUTES)
    if not window:
        return None
    try:
        return ManifestMonitoring(window_minutes=int(window))
    except ValueError as error:
        raise NotServableError(
            f"version {record.version} of model {record.name!r}: tag {tag.MONITORING_WINDOW_MINUTES} "
            f"is {window!r}, not a window length in minutes (5 to 10080)"
        ) from error


def build_manifest(
    backend: RegistryBackend,
    record: VersionRecord,
    alias: str,
    artifacts: ArtifactStore,
    bucket: str,
    workdir: Path,
    publisher: str = PUBLISHER,
    check_serves: bool = False,
) -> ServingManifest:
    """Copy the version's model file into the models bucket; return its (unpublished) manifest.

    With ``check_serves``, the model file is first loaded and made to score (:func:`try_serving`).
    """
    flavor, prediction_type, _, _ = serving_details(record)
    monitoring = monitoring_of(record)
    model_path, schema = download_servable(backend, record, workdir)
    if check_serves:
        try_serving(record, flavor, model_path, schema, prediction_type)
    model_uri = _upload(
        artifacts, model_path, bucket, layout.model_file_key(record.name, record.version, flavor), record
    )
    update: dict[str, Any] = {"monitoring": monitoring} if monitoring is not None else {}
    profile_file = record.tags.get(tag.PROFILE_FILE)
    if profile_file:
        profile_path = backend.download_version_artifact(
            record.name, record.version, profile_file, workdir / "profile"
        )
        profile_key = layout.reference_profile_key(record.name, record.version)
        update["reference_profile_uri"] = _upload(artifacts, profile_path, bucket, profile_key, record)
    source = {"publisher": publisher, "registry": backend.uri, "registered_version": record.version}
    if record.run_id:
        source["run_id"] = record.run_id
    manifest = ServingManifest(
        model=record.name,
        version=record.version,
        alias=alias,
        flavor=flavor,
        artifact_uri=model_uri,
        input_schema=schema,
        prediction_type=prediction_type,
        source=source,
    )
    return manifest.model_copy(update=update) if update else manifest


def _upload(artifacts: ArtifactStore, path: Path, bucket: str, key: str, record: VersionRecord) -> str:
    try:
        return artifacts.upload(path, bucket, key)
    except Exception as error:
        raise PromotionError(
            f"copying version {record.version} of {record.name!r} to s3://{bucket}/{key} failed: {error}"
        ) from error


def publish_version(
    backend: RegistryBackend,
    record: VersionRecord,
    alias: str,
    manifests: ManifestStore,
    artifacts: ArtifactStore,
    publisher: str = PUBLISHER,
    check_serves: bool = False,
) -> tuple[ServingManifest, str]:
    """Publish ``record`` as the manifest of ``alias``; return the manifest and its S3 URI.

    ``check_serves`` loads the model file with its flavour's runtime and scores the schema's
    example instance before anything is copied (the registry-sync function has no runtime
    and publishes without it; serving checks again before it swaps a version in).

    Raises
    ------
    NotServableError
        The version lacks a flavour, model file or input schema (or, checked, does not serve).
    PromotionError
        Copying the artifact or writing the manifest failed; the previous manifest still serves.
    TrackingServerUnavailable
        MLflow did not answer while the artifact was read.
    """
    manifest = prepare_manifest(backend, record, alias, manifests, artifacts, publisher, check_serves)
    return manifest, write_manifest(manifests, manifest)


def prepare_manifest(
    backend: RegistryBackend,
    record: VersionRecord,
    alias: str,
    manifests: ManifestStore,
    artifacts: ArtifactStore,
    publisher: str = PUBLISHER,
    check_serves: bool = False,
) -> ServingManifest:
    """Everything of :func:`publish_version` but the manifest write: serving does not see it yet."""
    with tempfile.TemporaryDirectory(prefix="modelwatch-publish-") as tmp:
        return build_manifest(
            backend, record, alias, artifacts, manifests.bucket, Path(tmp), publisher, check_serves
        )


def write_manifest(manifests: ManifestStore, manifest: ServingManifest) -> str:
    """Write ``manifest`` (serving takes it from here); return its URI.

    Raises
    ------
    PromotionError
        The write failed; the previous manifest still serves.
    """
    try:
        return manifests.write(manifest)
    except Exception as error:
        raise PromotionError(
            f"writing the {manifest.alias} manifest of {manifest.model!r} to s3://{manifests.bucket} "
            f"failed: {error}"
        ) from error


def publish_model(
    model_file: str | Path,
    name: str,
    version: str,
    flavor: Flavor,
    input_schema: InputSchema,
    bucket: str,
    alias: str = "production",
    prediction_type: PredictionType = "value",
    source: dict[str, str] | None = None,
    storage: ObjectStorage | None = None,
    manifest_prefix: str = layout.MANIFESTS_PREFIX,
    reference_profile_json: str | None = None,
    monitoring_window_minutes: int | None = None,
) -> ServingManifest:
    """Upload ``model_file`` and publish its manifest under ``alias``.

    Parameters
    ----------
    model_file:
        A joblib/pickle file (``sklearn``) or an ``.onnx`` file (``onnx``).
    name, version, alias:
        Model name, version label, and the alias serving reads (``production`` by default).
    input_schema:
        The features the model takes, validated on every request.
    bucket:
        The models bucket (the ``ModelsBucketName`` output of the deployment).
    storage:
        Where the bucket is (default: S3 through a new boto3 client).
    reference_profile_json:
        The version's reference data profile (``modelwatch profile`` output, or
        ``DatasetProfile.model_dump_json()`` of the training data), stored next to the
        artifact for the monitoring jobs.
    monitoring_window_minutes:
        This model's job window (default: the deployment's ``monitoring.window_minutes``);
        the job dispatcher reads it from the manifest.

    Returns
    -------
    ServingManifest
        The manifest as published.

    Raises
    ------
    FileNotFoundError
        ``model_file`` does not exist.
    pydantic.ValidationError
        A name, version or alias breaks the naming rule.
    """
    path = Path(model_file)
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    manifest = ServingManifest(
        model=name,
        version=version,
        alias=alias,
        flavor=flavor,
        artifact_uri="s3://placeholder/key",
        input_schema=input_schema,
        prediction_type=prediction_type,
        source=source or {"publisher": "modelwatch publish"},
        monitoring=(
            ManifestMonitoring(window_minutes=monitoring_window_minutes)
            if monitoring_window_minutes is not None
            else None
        ),
    )
    storage = storage or S3Storage(aws.client("s3"))
    artifacts = ArtifactStore(storage)
    update = {"artifact_uri": artifacts.upload(path, bucket, layout.model_file_key(name, version, flavor))}
    if reference_profile_json is not None:
        key = layout.reference_profile_key(name, version)
        update["reference_profile_uri"] = artifacts.put_text(bucket, key, reference_profile_json)
    manifest = manifest.model_copy(update=update)
    ManifestStore(storage, bucket, manifest_prefix).write(manifest)
    return manifest
