"""Serving manifests in the models bucket: read conditionally by serving, written by publishing.

A manifest is one small JSON object per model and alias (``layout.manifest_key``);
serving re-reads it with ``If-None-Match``, so an unchanged manifest costs a 304 and
no download. Publishing writes a copy per version first (``layout.version_manifest_key``),
so monitoring finds the schema and reference profile of any version that served
traffic after the alias has moved on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from modelwatch.contracts import layout
from modelwatch.contracts.manifest import ServingManifest
from modelwatch.stores.objects import ObjectNotFound, ObjectStorage


class ManifestNotFound(LookupError):
    """No manifest is published for this model and alias (or version)."""


@dataclass(frozen=True)
class ManifestRead:
    """A manifest and the ETag it was read at (for the next conditional read)."""

    manifest: ServingManifest
    etag: str


@dataclass(frozen=True)
class ServedModels:
    """The manifests published under one alias, and the models whose manifest could not be read."""

    manifests: list[ServingManifest]
    unreadable: dict[str, str]


class ManifestReader(Protocol):
    """What serving needs of manifests: a conditional read and a listing (``ManifestStore``, or a fake)."""

    def read(self, model: str, alias: str, if_none_match: str | None = None) -> ManifestRead | None:
        """The manifest, or None when it still has ETag ``if_none_match``; raise ``ManifestNotFound``."""
        ...

    def models(self, alias: str) -> list[str]:
        """Every model with a manifest published under ``alias``."""
        ...


class ManifestStore:
    """Reads and writes serving manifests in the models bucket."""

    def __init__(self, storage: ObjectStorage, bucket: str, prefix: str = layout.MANIFESTS_PREFIX) -> None:
        self._storage = storage
        self.bucket = bucket
        self._prefix = prefix

    def read(self, model: str, alias: str, if_none_match: str | None = None) -> ManifestRead | None:
        """The manifest of ``model`` under ``alias``, or None when it still has ETag ``if_none_match``.

        Raises
        ------
        ManifestNotFound
            None is published.
        """
        key = layout.manifest_key(model, alias, self._prefix)
        try:
            found = self._storage.get(self.bucket, key, if_none_match=if_none_match)
        except ObjectNotFound:
            raise ManifestNotFound(
                f"no manifest for model {model!r} alias {alias!r} at {layout.s3_uri(self.bucket, key)}"
            ) from None
        if found is None:
            return None
        return ManifestRead(ServingManifest.model_validate_json(found.body), found.etag)

    def models(self, alias: str) -> list[str]:
        """Every model with a manifest published under ``alias`` (one LIST of the manifests prefix)."""
        found = (
            layout.model_of_manifest_key(item.key, alias, self._prefix)
            for item in self._storage.list_objects(self.bucket, layout.manifests_prefix(self._prefix))
        )
        return sorted({model for model in found if model is not None})

    def current(self, model: str, alias: str) -> ServingManifest | None:
        """The manifest published under ``alias`` now, or None."""
        try:
            read = self.read(model, alias)
        except ManifestNotFound:
            return None
        return read.manifest if read is not None else None

    def read_version(self, model: str, version: str) -> ServingManifest:
        """The manifest ``version`` was published with.

        Raises
        ------
        ManifestNotFound
            That version was never published.
        """
        key = layout.version_manifest_key(model, version)
        try:
            found = self._storage.get(self.bucket, key)
        except ObjectNotFound:
            raise ManifestNotFound(
                f"no manifest for model {model!r} version {version!r} at {layout.s3_uri(self.bucket, key)}"
            ) from None
        assert found is not None  # an unconditional read returns the object or raises
        return ServingManifest.model_validate_json(found.body)

    def write(self, manifest: ServingManifest, *, if_match: str | None = None) -> str:
        """Publish ``manifest``: the version's copy, then the alias's (one PUT, atomic for readers).

        ``if_match``: write the alias's manifest only if it still has this ETag (a read-modify-write,
        such as a rollout's change, must not undo a change made since it read); otherwise
        ``PreconditionFailed`` is raised and the alias's manifest is left as it is.

        Returns the alias manifest's S3 URI.
        """
        body = manifest.model_dump_json(indent=2).encode()
        self.write_version(manifest)
        key = layout.manifest_key(manifest.model, manifest.alias, self._prefix)
        self._storage.put(self.bucket, key, body, "application/json", if_match=if_match)
        return layout.s3_uri(self.bucket, key)

    def write_version(self, manifest: ServingManifest) -> str:
        """Write only the version's copy (what monitoring reads a version's schema and profile from).

        A rollout's candidate serves traffic without an alias of its own: its copy is written so
        its events are checked against its own schema and reference. Returns the copy's S3 URI.
        """
        key = layout.version_manifest_key(manifest.model, manifest.version)
        self._storage.put(self.bucket, key, manifest.model_dump_json(indent=2).encode(), "application/json")
        return layout.s3_uri(self.bucket, key)

    def served_models(self, alias: str) -> ServedModels:
        """Every model's manifest under ``alias``, by model name, from one listing of ``manifests/``.

        A manifest that cannot be read or parsed is named in ``unreadable`` with the reason,
        not raised: one broken document must not stop the other models from being monitored.
        """
        found: list[ServingManifest] = []
        unreadable: dict[str, str] = {}
        for model in self.models(alias):
            try:
                manifest = self.current(model, alias)
            except ValueError as error:  # pydantic's ValidationError, or JSON that is not JSON
                unreadable[model] = f"{type(error).__name__}: {error}".splitlines()[0]
                continue
            if manifest is not None:
                found.append(manifest)
        return ServedModels(sorted(found, key=lambda manifest: manifest.model), unreadable)
