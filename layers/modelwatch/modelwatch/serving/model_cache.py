"""Loaded models, cached per execution environment, following their manifests.

A model is loaded once and served from memory. Its manifest is trusted for
``ttl_seconds``; after that the next request re-reads it conditionally (an
unchanged manifest costs a 304 and no download). When the manifest names a new
version, the new artifact is loaded before it replaces the old one, so a bad
artifact never interrupts serving: the previous version keeps answering.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from modelwatch.contracts.manifest import ServingManifest
from modelwatch.observability import logger
from modelwatch.serving.flavors import Predictor, load_predictor
from modelwatch.stores.artifacts import ArtifactFetcher
from modelwatch.stores.manifests import ManifestNotFound, ManifestReader


class UnknownModel(LookupError):
    """The model is not served here, or has no published manifest."""


class ModelUnavailable(RuntimeError):
    """The model is known but cannot be loaded and no earlier version is loaded."""


@dataclass(frozen=True)
class LoadedModel:
    manifest: ServingManifest
    predictor: Predictor


@dataclass
class _Entry:
    loaded: LoadedModel | None = None
    etag: str | None = None
    checked_at: float = float("-inf")
    last_error: str | None = None
    missing: bool = False  # no manifest is published (answered as an unknown model)


Loader = Callable[[ServingManifest, Path], Predictor]


def _default_loader(manifest: ServingManifest, path: Path) -> Predictor:
    return load_predictor(manifest.flavor, path, manifest.input_schema, manifest.prediction_type)


class ModelCache:
    """Serve models by name, re-reading their manifests at most every ``ttl_seconds``."""

    def __init__(
        self,
        manifests: ManifestReader,
        artifacts: ArtifactFetcher,
        served_models: list[str],
        alias: str = "production",
        ttl_seconds: float = 30.0,
        loader: Loader = _default_loader,
        clock: Callable[[], float] = time.monotonic,
        on_load_failure: Callable[[str, str], None] | None = None,
    ) -> None:
        self._manifests = manifests
        self._artifacts = artifacts
        self._alias = alias
        self._ttl = ttl_seconds
        self._loader = loader
        self._clock = clock
        self._on_load_failure = on_load_failure
        self._entries = {name: _Entry() for name in served_models}
        self._lock = threading.Lock()

    @property
    def served_models(self) -> list[str]:
        return list(self._entries)

    def get(self, model: str) -> LoadedModel:
        """Return the loaded model, refreshing it if its manifest is due for a check.

        Raises
        ------
        UnknownModel
            ``model`` is not served by this function, or has no manifest.
        ModelUnavailable
            Its artifact cannot be loaded and nothing was loaded before.
        """
        entry = self._entries.get(model)
        if entry is None:
            raise UnknownModel(model)
        if self._clock() - entry.checked_at >= self._ttl:
            with self._lock:
                if self._clock() - entry.checked_at >= self._ttl:
                    # The check time is set only once the refresh is over, so concurrent
                    # first requests wait for the load instead of finding nothing loaded.
                    try:
                        self._refresh(model, entry)
                    finally:
                        entry.checked_at = self._clock()
        if entry.loaded is None:
            if entry.missing:
                raise UnknownModel(model)
            raise ModelUnavailable(entry.last_error or f"model {model!r} is not loaded")
        return entry.loaded

    def manifest(self, model: str) -> ServingManifest | None:
        """The served manifest of ``model`` without loading its artifact (for listings)."""
        entry = self._entries.get(model)
        if entry is not None and entry.loaded is not None:
            return entry.loaded.manifest
        try:
            read = self._manifests.read(model, self._alias)
        except ManifestNotFound:
            return None
        return read.manifest if read is not None else None

    def status(self) -> dict[str, str]:
        """Per served model: ``ready``, ``not_loaded`` or the last load error."""
        result = {}
        for name, entry in self._entries.items():
            if entry.loaded is not None:
                result[name] = "ready"
            elif entry.missing:
                result[name] = "no manifest published"
            else:
                result[name] = entry.last_error or "not_loaded"
        return result

    def _refresh(self, model: str, entry: _Entry) -> None:
        try:
            read = self._manifests.read(model, self._alias, if_none_match=entry.etag)
        except ManifestNotFound:
            entry.missing = entry.loaded is None
            if not entry.missing:  # removed after a load: keep serving what is loaded, say so
                logger.warning("manifest disappeared; serving the loaded version", extra={"model": model})
            return
        except Exception as error:  # S3 unreachable: keep serving, retry after the TTL
            entry.last_error = f"cannot read manifest: {error}"
            logger.warning("manifest read failed", extra={"model": model, "error": str(error)})
            return
        entry.missing = False
        if read is None:  # 304: unchanged
            return
        if entry.loaded is not None and entry.loaded.manifest == read.manifest:
            entry.etag = read.etag
            return
        self._load(model, entry, read.manifest, read.etag)

    def _load(self, model: str, entry: _Entry, manifest: ServingManifest, etag: str) -> None:
        if manifest.model != model:
            error = f"manifest names model {manifest.model!r}, expected {model!r}"
            self._fail(model, entry, error)
            return
        try:
            path = self._artifacts.fetch(manifest.artifact_uri)
            predictor = self._loader(manifest, path)
        except Exception as error:  # download, unpickling and flavour runtime errors alike
            self._fail(model, entry, f"cannot load version {manifest.version}: {error}")
            return
        entry.loaded = LoadedModel(manifest, predictor)
        entry.etag = etag
        entry.last_error = None
        logger.info("model loaded", extra={"model": model, "version": manifest.version})

    def _fail(self, model: str, entry: _Entry, error: str) -> None:
        # The etag is not advanced, so the next check (after the TTL) retries the load.
        entry.last_error = error
        logger.error(
            "model load failed",
            extra={"model": model, "error": error, "serving_previous": entry.loaded is not None},
        )
        if self._on_load_failure is not None:
            self._on_load_failure(model, error)
