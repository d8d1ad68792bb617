"""The serving manifest: what a predict function serves for a model and alias.

The manifest is the only seam between the registry (which decides what is
served) and serving (which reads S3 only, never MLflow). It is a small JSON
document at ``s3://<models bucket>/<prefix>/<model>/<alias>.json``; serving
re-reads it with a conditional GET (``If-None-Match``), so a promotion is picked
up without a deployment and an unchanged manifest costs a 304.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal, Protocol

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, field_validator

from modelwatch.names import check_model_name
from modelwatch.schema import InputSchema

MANIFEST_SCHEMA_VERSION: Final = 1

Flavor = Literal["sklearn", "onnx"]
PredictionType = Literal["probability", "label", "value"]


class ServingManifest(BaseModel):
    """Which artifact serves ``model`` under ``alias``, and how to call it."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    schema_version: Literal[1] = MANIFEST_SCHEMA_VERSION
    model: str
    version: str
    alias: str = "production"
    flavor: Flavor
    artifact_uri: str = Field(description="s3://bucket/key or a local path of the model file.")
    input_schema: InputSchema
    prediction_type: PredictionType = Field(
        "value",
        description=(
            "probability: P(positive class) of a binary classifier; label: a class; "
            "value: a regression output."
        ),
    )
    reference_profile_uri: str | None = Field(
        None, description="s3:// URI of the version's reference data profile (monitoring reads it)."
    )
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    source: dict[str, str] = Field(
        default_factory=dict, description="Where the version came from (registry, run id, ...)."
    )

    @field_validator("model")
    @classmethod
    def _model_name(cls, value: str) -> str:
        return check_model_name(value)

    @field_validator("version")
    @classmethod
    def _version_name(cls, value: str) -> str:
        return check_model_name(value, "version")

    @field_validator("alias")
    @classmethod
    def _alias_name(cls, value: str) -> str:
        return check_model_name(value, "alias")


def manifest_key(prefix: str, model: str, alias: str) -> str:
    """S3 key of the manifest of ``model`` under ``alias``."""
    return f"{prefix.strip('/')}/{model}/{alias}.json"


def artifact_key(model: str, version: str, filename: str) -> str:
    """S3 key where ``modelwatch publish`` stores a model file."""
    return f"models/{model}/{version}/{filename}"


def version_manifest_key(model: str, version: str) -> str:
    """S3 key of the manifest of one version, whatever alias serves it (monitoring reads it)."""
    return artifact_key(model, version, "manifest.json")


class ManifestNotFound(LookupError):
    """No manifest is published for this model and alias."""


@dataclass(frozen=True)
class ManifestRead:
    """A manifest and the ETag it was read at (for the next conditional read)."""

    manifest: ServingManifest
    etag: str


class ManifestSource(Protocol):
    """Where serving reads manifests from (S3 in production, anything in tests)."""

    def read(self, model: str, alias: str, if_none_match: str | None = None) -> ManifestRead | None:
        """Return the manifest, or None when it still has ETag ``if_none_match``.

        Raises ``ManifestNotFound`` when none is published.
        """
        ...


class S3ManifestStore:
    """Reads and writes serving manifests in an S3 bucket."""

    def __init__(self, s3_client: Any, bucket: str, prefix: str = "manifests") -> None:
        self._s3 = s3_client
        self._bucket = bucket
        self._prefix = prefix

    def read(self, model: str, alias: str, if_none_match: str | None = None) -> ManifestRead | None:
        key = manifest_key(self._prefix, model, alias)
        kwargs: dict[str, Any] = {"Bucket": self._bucket, "Key": key}
        if if_none_match:
            kwargs["IfNoneMatch"] = if_none_match
        try:
            response = self._s3.get_object(**kwargs)
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in {"304", "NotModified"} or status == 304:
                return None
            if code in {"NoSuchKey", "404", "NotFound"}:
                raise ManifestNotFound(
                    f"no manifest for model {model!r} alias {alias!r} at s3://{self._bucket}/{key}"
                ) from None
            raise
        body = response["Body"].read()
        return ManifestRead(ServingManifest.model_validate_json(body), str(response["ETag"]))

    def write(self, manifest: ServingManifest) -> str:
        """Publish ``manifest`` (one PUT, atomic for readers); return its S3 URI.

        A copy is kept per version (``models/<model>/<version>/manifest.json``), so
        monitoring finds the schema and reference profile of any version that served
        traffic, after the alias has moved on.
        """
        body = manifest.model_dump_json(indent=2).encode()
        self._s3.put_object(
            Bucket=self._bucket,
            Key=version_manifest_key(manifest.model, manifest.version),
            Body=body,
            ContentType="application/json",
        )
        key = manifest_key(self._prefix, manifest.model, manifest.alias)
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=body, ContentType="application/json")
        return f"s3://{self._bucket}/{key}"

    def read_version(self, model: str, version: str) -> ServingManifest:
        """The manifest ``version`` was published with.

        Raises ``ManifestNotFound`` when that version was never published.
        """
        key = version_manifest_key(model, version)
        try:
            response = self._s3.get_object(Bucket=self._bucket, Key=key)
        except ClientError as error:
            if str(error.response.get("Error", {}).get("Code", "")) in {"NoSuchKey", "404", "NotFound"}:
                raise ManifestNotFound(
                    f"no manifest for model {model!r} version {version!r} at s3://{self._bucket}/{key}"
                ) from None
            raise
        return ServingManifest.model_validate_json(response["Body"].read())
