"""Publishing a model file and its serving manifest, so serving picks it up.

The artifact is uploaded first and the manifest last: readers see either the
old manifest or the new one, never a manifest naming a missing artifact. The
registry (MLflow) publishes through ``publish_manifest`` too; this module is the
one seam between "what should be served" and serving.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelwatch.manifest import (
    Flavor,
    PredictionType,
    S3ManifestStore,
    ServingManifest,
    artifact_key,
)
from modelwatch.schema import InputSchema
from modelwatch.serving.flavors import ARTIFACT_SUFFIX


def publish_manifest(
    s3_client: Any, bucket: str, manifest: ServingManifest, prefix: str = "manifests"
) -> str:
    """Write ``manifest`` where serving reads it; return its S3 URI."""
    return S3ManifestStore(s3_client, bucket, prefix).write(manifest)


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
    s3_client: Any | None = None,
    manifest_prefix: str = "manifests",
    reference_profile_json: str | None = None,
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
    reference_profile_json:
        The version's reference data profile (``modelwatch profile`` output, or
        ``DatasetProfile.model_dump_json()`` of the training data), stored next to the
        artifact for the monitoring jobs.

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
    )
    if s3_client is None:
        import boto3

        s3_client = boto3.client("s3")
    key = artifact_key(name, version, "model" + ARTIFACT_SUFFIX[flavor])
    s3_client.upload_file(str(path), bucket, key)
    update = {"artifact_uri": f"s3://{bucket}/{key}"}
    if reference_profile_json is not None:
        profile_key = artifact_key(name, version, "reference_profile.json")
        s3_client.put_object(
            Bucket=bucket,
            Key=profile_key,
            Body=reference_profile_json.encode(),
            ContentType="application/json",
        )
        update["reference_profile_uri"] = f"s3://{bucket}/{profile_key}"
    manifest = manifest.model_copy(update=update)
    publish_manifest(s3_client, bucket, manifest, manifest_prefix)
    return manifest
