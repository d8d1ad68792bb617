"""The schema and reference profile of each model version, read once per run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelwatch.artifacts import split_s3_uri
from modelwatch.manifest import ManifestNotFound, S3ManifestStore, ServingManifest
from modelwatch.profile import DatasetProfile


@dataclass(frozen=True)
class VersionReference:
    """What a version was published with: its manifest and (when stored) its reference profile."""

    manifest: ServingManifest
    profile: DatasetProfile | None


class VersionReferences:
    """Reads ``models/<m>/<v>/manifest.json`` and the profile it names, caching both."""

    def __init__(self, s3_client: Any, models_bucket: str) -> None:
        self._s3 = s3_client
        self._store = S3ManifestStore(s3_client, models_bucket)
        self._cache: dict[tuple[str, str], VersionReference | None] = {}

    def get(self, model: str, version: str) -> VersionReference | None:
        """The version's reference, or None when the version was never published."""
        key = (model, version)
        if key not in self._cache:
            self._cache[key] = self._load(model, version)
        return self._cache[key]

    def _load(self, model: str, version: str) -> VersionReference | None:
        try:
            manifest = self._store.read_version(model, version)
        except ManifestNotFound:
            return None
        profile = None
        if manifest.reference_profile_uri:
            bucket, key = split_s3_uri(manifest.reference_profile_uri)
            body = self._s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            profile = DatasetProfile.model_validate_json(body)
        return VersionReference(manifest, profile)
