"""Loaded models, cached per execution environment, following their manifests.

A model is loaded once and served from memory. Its manifest is trusted for
``ttl_seconds``; after that the next request re-reads it conditionally (an
unchanged manifest costs a 304 and no download). When the manifest names a new
version, the new artifact is loaded, and must score the schema's example instance,
before it replaces the old one: a version that cannot load or cannot score never
interrupts serving, the previous version keeps answering, and the failure is
reported (``status``, ``/health``, the ``ModelLoadFailures`` metric) until a
version that works is published.

What callers see of a failure is a reason code (``artifact_unloadable``, ...); the
error text, which can hold bucket names or unpickling details, goes to the log only.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from modelwatch.contracts.manifest import ServingManifest
from modelwatch.flavors import Predictor, check_predictor, load_predictor
from modelwatch.observability import logger
from modelwatch.stores.artifacts import ArtifactFetcher
from modelwatch.stores.manifests import ManifestNotFound, ManifestReader

FailureReason = Literal[
    "manifest_unreadable", "manifest_for_another_model", "artifact_unloadable", "scoring_failed"
]
ModelStateName = Literal["ready", "degraded", "unavailable", "no_manifest"]

_REASON_TEXT: dict[FailureReason, str] = {
    "manifest_unreadable": "its manifest cannot be read",
    "manifest_for_another_model": "its manifest names another model",
    "artifact_unloadable": "its artifact cannot be loaded",
    "scoring_failed": "it cannot score the schema's example instance",
}


class UnknownModel(LookupError):
    """The model is not served here, or has no published manifest."""


class ModelUnavailable(RuntimeError):
    """The model is known but cannot be loaded and no earlier version is loaded."""


@dataclass(frozen=True)
class LoadedModel:
    manifest: ServingManifest
    predictor: Predictor


@dataclass(frozen=True)
class ModelState:
    """What one served model is doing: the version it serves, and the one it failed to take."""

    state: ModelStateName
    serving_version: str | None = None
    failed_version: str | None = None
    reason: FailureReason | None = None

    @property
    def message(self) -> str:
        """A sentence for people, with no detail of the error."""
        if self.state == "ready":
            return f"serving version {self.serving_version}"
        if self.state == "no_manifest":
            return "no manifest is published"
        why = _REASON_TEXT[self.reason] if self.reason else "it is not loaded yet"
        failed = f"version {self.failed_version}" if self.failed_version else "the published version"
        if self.state == "degraded" and self.failed_version is None:  # only the manifest fails
            return f"serving version {self.serving_version}, but {why}: a version published since is not seen"
        if self.state == "degraded":
            return f"serving version {self.serving_version}: {failed} is not served because {why}"
        return f"{failed} is not served because {why}"


@dataclass
class _Entry:
    loaded: LoadedModel | None = None
    etag: str | None = None
    checked_at: float = float("-inf")
    missing: bool = False  # no manifest is published (answered as an unknown model)
    failed_version: str | None = None  # the newest version that could not be taken
    reason: FailureReason | None = None  # why failed_version could not be taken
    unreadable: bool = False  # the last manifest read failed (S3 unreachable, or not a manifest)


@dataclass(frozen=True)
class _Listed:
    """A manifest read for a listing, and when."""

    manifest: ServingManifest | None
    etag: str | None
    checked_at: float


Loader = Callable[[ServingManifest, Path], Predictor]
Check = Callable[[Predictor, ServingManifest], None]


def _default_loader(manifest: ServingManifest, path: Path) -> Predictor:
    return load_predictor(manifest.flavor, path, manifest.input_schema, manifest.prediction_type)


def _default_check(predictor: Predictor, manifest: ServingManifest) -> None:
    check_predictor(predictor, manifest.input_schema, manifest.prediction_type)


class ModelCache:
    """Serve models by name, re-reading their manifests at most every ``ttl_seconds``.

    ``on_load_failure(model, version)`` is called each time a published version cannot be taken.
    """

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
        check: Check = _default_check,
    ) -> None:
        self._manifests = manifests
        self._artifacts = artifacts
        self._alias = alias
        self._ttl = ttl_seconds
        self._loader = loader
        self._check = check
        self._clock = clock
        self._on_load_failure = on_load_failure
        self._entries = {name: _Entry() for name in served_models}
        self._listed: dict[str, _Listed] = {}
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
            Its artifact cannot be loaded (or cannot score) and nothing was loaded before.
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
            raise ModelUnavailable(self.state(model).message)
        return entry.loaded

    def manifest(self, model: str) -> ServingManifest | None:
        """The published manifest of ``model`` without loading its artifact (for listings).

        A served model answers with the manifest it serves; any other is read at most every
        ``ttl_seconds`` (conditionally). An unreadable or invalid manifest is logged and reads
        as the last one seen (None at first), so one broken model never breaks a listing.
        """
        entry = self._entries.get(model)
        if entry is not None and entry.loaded is not None:
            return entry.loaded.manifest
        listed = self._listed.get(model)
        now = self._clock()
        if listed is not None and now - listed.checked_at < self._ttl:
            return listed.manifest
        manifest, etag = (listed.manifest, listed.etag) if listed is not None else (None, None)
        try:
            read = self._manifests.read(model, self._alias, if_none_match=etag)
        except ManifestNotFound:
            manifest, etag = None, None
        except Exception as error:  # S3 unreachable or a corrupt document: keep what was listed
            logger.warning("manifest read failed", extra={"model": model, "error": str(error)})
        else:
            if read is not None:
                manifest, etag = read.manifest, read.etag
        self._listed[model] = _Listed(manifest, etag, now)
        return manifest

    def state(self, model: str) -> ModelState:
        """What ``model`` is serving now, and what it failed to take (KeyError when not served here)."""
        entry = self._entries[model]
        serving = entry.loaded.manifest.version if entry.loaded is not None else None
        reason: FailureReason | None = "manifest_unreadable" if entry.unreadable else entry.reason
        if entry.loaded is not None:
            if entry.failed_version is not None or entry.unreadable:
                return ModelState("degraded", serving, entry.failed_version, reason)
            return ModelState("ready", serving)
        if entry.missing:
            return ModelState("no_manifest")
        return ModelState("unavailable", None, entry.failed_version, reason)

    def status(self) -> dict[str, ModelState]:
        """The state of every served model."""
        return {name: self.state(name) for name in self._entries}

    def _refresh(self, model: str, entry: _Entry) -> None:
        try:
            read = self._manifests.read(model, self._alias, if_none_match=entry.etag)
        except ManifestNotFound:
            entry.unreadable = False
            entry.missing = entry.loaded is None
            if not entry.missing:  # removed after a load: keep serving what is loaded, say so
                logger.warning("manifest disappeared; serving the loaded version", extra={"model": model})
            return
        except Exception as error:  # S3 unreachable, or not a manifest: keep serving, retry after the TTL
            entry.unreadable = True
            logger.warning("manifest read failed", extra={"model": model, "error": str(error)})
            return
        entry.unreadable = entry.missing = False
        if read is None:  # 304: unchanged
            return
        if entry.loaded is not None and entry.loaded.manifest == read.manifest:
            entry.etag = read.etag
            return
        self._load(model, entry, read.manifest, read.etag)

    def _load(self, model: str, entry: _Entry, manifest: ServingManifest, etag: str) -> None:
        if manifest.model != model:
            self._fail(
                model, entry, manifest.version, "manifest_for_another_model", f"names {manifest.model!r}"
            )
            return
        try:
            path = self._artifacts.fetch(manifest.artifact_uri)
            predictor = self._loader(manifest, path)
        except Exception as error:  # download, unpickling and flavour runtime errors alike
            self._fail(model, entry, manifest.version, "artifact_unloadable", str(error))
            return
        try:
            self._check(predictor, manifest)
        except Exception as error:  # it loads but cannot score: never swap it in
            self._fail(model, entry, manifest.version, "scoring_failed", str(error))
            return
        entry.loaded = LoadedModel(manifest, predictor)
        entry.etag = etag
        entry.failed_version = entry.reason = None
        logger.info("model loaded", extra={"model": model, "version": manifest.version})

    def _fail(self, model: str, entry: _Entry, version: str, reason: FailureReason, error: str) -> None:
        # The etag is not advanced, so the next check (after the TTL) retries the load.
        entry.failed_version = version
        entry.reason = reason
        logger.error(
            "model load failed",
            extra={
                "model": model,
                "version": version,
                "reason": reason,
                "error": error,
                "serving_previous": entry.loaded.manifest.version if entry.loaded is not None else None,
            },
        )
        if self._on_load_failure is not None:
            self._on_load_failure(model, version)
