"""The schema and reference profile of each model version, read once per run."""

from __future__ import annotations

from dataclasses import dataclass

from modelwatch.contracts.manifest import ServingManifest
from modelwatch.contracts.profile import DatasetProfile
from modelwatch.stores.artifacts import ArtifactStore
from modelwatch.stores.manifests import ManifestNotFound, ManifestStore


@dataclass(frozen=True)
class VersionReference:
    """What a version was published with: its manifest and (when stored) its reference profile."""

    manifest: ServingManifest
    profile: DatasetProfile | None


class VersionReferences:
    """Reads a version's manifest and the reference profile it names, caching both."""

    def __init__(self, manifests: ManifestStore, artifacts: ArtifactStore) -> None:
        self._manifests = manifests
        self._artifacts = artifacts
        self._cache: dict[tuple[str, str], VersionReference | None] = {}

    def get(self, model: str, version: str) -> VersionReference | None:
        """The version's reference, or None when the version was never published."""
        key = (model, version)
        if key not in self._cache:
            self._cache[key] = self._load(model, version)
        return self._cache[key]

    def _load(self, model: str, version: str) -> VersionReference | None:
        try:
            manifest = self._manifests.read_version(model, version)
        except ManifestNotFound:
            return None
        profile = None
        if manifest.reference_profile_uri:
            body = self._artifacts.read_bytes(manifest.reference_profile_uri)
            profile = DatasetProfile.model_validate_json(body)
        return VersionReference(manifest, profile)
