"""Loaded models of a fleet, cached per execution environment, following their manifests.

A serving function serves any model whose serving manifest is published under its alias and
whose flavour it carries (``served_flavors``). A model is loaded on first use and served from
memory; its manifest is trusted for ``ttl_seconds``, after which the next request re-reads it
conditionally (an unchanged manifest costs a 304 and no download). When the manifest names a
new version, the new artifact is loaded, and must score the schema's example instance, before
it replaces the old one: a version that cannot load or cannot score never interrupts serving,
the previous version keeps answering, and the failure is reported (``status``, ``/health``,
the ``ModelLoadFailures`` metric) until a version that works is published.

Memory is bounded: every loaded model has a cost (the larger of its artifact's bytes on disk
and the growth of the process's resident memory across its load and check, unless that load
imported modules: then the growth is the runtime's, and the artifact's bytes count) and the loaded
models' costs stay within ``budget_bytes``; the least recently used models are evicted to make
room, before a load (for the artifact's size) and after it (for its measured cost). A model
bigger than the budget alone still loads, alone, and the log says so. A load that runs out of
memory evicts every other model and is tried once more.

A manifest with an active rollout (``rollout.active``) also has its candidate loaded, by the same
loader and check, and charged to the same budget (a model's cost is production's plus the
candidate's; eviction takes both). Production is reloaded only when its own artifact changes
(version, flavour, artifact, schema or prediction type), so a change of the rollout alone (its
share, state or step) reloads nothing, and the candidate is reloaded only when it changes. A
candidate that cannot be taken never affects production: the model serves production to every
caller, keeps the reason (``LoadedCandidate.reason``, ``/health``), and retries the candidate on
the next manifest check after the TTL, as a failed production load does. A rollout that is not
active (stopped, rolled back, share 0) has no candidate loaded.

A model with no manifest is remembered for ``negative_ttl_seconds`` (a negative entry), so a
storm of requests for a name that does not exist costs one manifest read per that TTL.

What callers see of a failure is a reason code (``artifact_unloadable``, ...); the
error text, which can hold bucket names or unpickling details, goes to the log only.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

from modelwatch.contracts.manifest import ServingManifest
from modelwatch.contracts.names import is_valid_model_name
from modelwatch.contracts.rollout import Rollout
from modelwatch.flavors import Predictor, check_predictor, load_predictor
from modelwatch.observability import logger
from modelwatch.serving.routing import Router
from modelwatch.stores.artifacts import ArtifactFetcher
from modelwatch.stores.manifests import ManifestNotFound, ManifestReader

FailureReason = Literal[
    "manifest_unreadable",
    "manifest_for_another_model",
    "artifact_unloadable",
    "scoring_failed",
    "flavor_not_served",
]
ModelStateName = Literal["ready", "degraded", "unavailable", "no_manifest"]

# Entries of models neither loaded nor failed here (negative entries first of all) kept at most,
# oldest dropped first: made-up names cannot grow memory.
MAX_NEGATIVE_ENTRIES: Final = 4096
MB: Final = 1024 * 1024

_REASON_TEXT: dict[FailureReason, str] = {
    "manifest_unreadable": "its manifest cannot be read",
    "manifest_for_another_model": "its manifest names another model",
    "artifact_unloadable": "its artifact cannot be loaded",
    "scoring_failed": "it cannot score the schema's example instance",
    "flavor_not_served": "its flavour is not served by this function",
}


class UnknownModel(LookupError):
    """The model has no published manifest (or is filtered out of this function)."""


class ModelUnavailable(RuntimeError):
    """The model is known but cannot be loaded and no earlier version is loaded."""

    def __init__(self, model: str, state: ModelState) -> None:
        super().__init__(state.message)
        self.model = model
        self.failed_version = state.failed_version
        self.reason = state.reason


class FlavorNotServed(RuntimeError):
    """The model's manifest names a flavour whose runtime this function does not carry."""

    def __init__(self, model: str, flavor: str, version: str) -> None:
        super().__init__(
            f"model {model!r} version {version} is a {flavor} model, not served by this function"
        )
        self.model = model
        self.flavor = flavor
        self.version = version


@dataclass(frozen=True)
class LoadedCandidate:
    """The candidate of a model's active rollout, as loaded beside production.

    ``predictor`` is None when the candidate could not be taken (``reason`` says why, ``message``
    in a sentence without the error's detail): production then answers every request.
    """

    rollout: Rollout
    manifest: ServingManifest
    predictor: Predictor | None
    reason: FailureReason | None = None
    router: Router = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "router", Router(self.rollout))  # built once, used per request

    @property
    def version(self) -> str:
        return self.manifest.version

    @property
    def message(self) -> str:
        if self.predictor is not None:
            return f"candidate version {self.version} is loaded"
        why = _REASON_TEXT[self.reason] if self.reason else "it is not loaded"
        return f"candidate version {self.version} is not served because {why}"


@dataclass(frozen=True)
class LoadedModel:
    """What serves a model: production's manifest and predictor, and an active rollout's candidate.

    ``candidate`` is None unless the manifest's rollout is active: requests then cost nothing
    more than before rollouts existed.
    """

    manifest: ServingManifest
    predictor: Predictor
    candidate: LoadedCandidate | None = None


@dataclass(frozen=True)
class ModelState:
    """What one served model is doing: the version it serves, and the one it failed to take."""

    state: ModelStateName
    serving_version: str | None = None
    failed_version: str | None = None
    reason: FailureReason | None = None
    candidate: LoadedCandidate | None = None

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


@dataclass(frozen=True)
class CacheStats:
    """How full the cache is and what it has done since the execution environment started."""

    models_loaded: int
    used_bytes: int
    budget_bytes: int | None
    evictions: int
    loads: int
    negative_hits: int

    @property
    def used_mb(self) -> float:
        return round(self.used_bytes / MB, 1)

    @property
    def budget_mb(self) -> float | None:
        return None if self.budget_bytes is None else round(self.budget_bytes / MB, 1)


@dataclass
class _Entry:
    loaded: LoadedModel | None = None
    cost: int = 0  # bytes the loaded model is charged for (production's)
    candidate_cost: int = 0  # bytes its rollout's candidate is charged for
    etag: str | None = None
    checked_at: float = float("-inf")
    missing: bool = False  # no manifest is published (answered as an unknown model)
    failed_version: str | None = None  # the newest version that could not be taken
    failed_flavor: str | None = None  # its flavour, when the reason is flavor_not_served
    reason: FailureReason | None = None  # why failed_version could not be taken
    unreadable: bool = False  # the last manifest read failed (S3 unreachable, or not a manifest)

    @property
    def tracked(self) -> bool:
        """Loaded, or failed to load here (what /health reports); not a negative entry."""
        if self.loaded is not None:
            return True
        return self.reason is not None and self.reason != "flavor_not_served"


@dataclass(frozen=True)
class _Listed:
    """A manifest read for a listing, and when."""

    manifest: ServingManifest | None
    etag: str | None
    checked_at: float


Loader = Callable[[ServingManifest, Path], Predictor]
Check = Callable[[Predictor, ServingManifest], None]
# (artifact path, resident-memory growth across the load in bytes) -> the model's cost in bytes
Measure = Callable[[Path, int], int]


class _LoadFailed(Exception):
    def __init__(self, reason: FailureReason, error: str) -> None:
        super().__init__(error)
        self.reason = reason
        self.error = error


def _artifact_identity(manifest: ServingManifest) -> tuple[object, ...]:
    """What a loaded predictor depends on: equal identities load the same predictor."""
    return (
        manifest.version,
        manifest.flavor,
        manifest.artifact_uri,
        manifest.prediction_type,
        manifest.input_schema,
    )


def _default_loader(manifest: ServingManifest, path: Path) -> Predictor:
    return load_predictor(manifest.flavor, path, manifest.input_schema, manifest.prediction_type)


def _default_check(predictor: Predictor, manifest: ServingManifest) -> None:
    check_predictor(predictor, manifest.input_schema, manifest.prediction_type)


def artifact_bytes(path: Path) -> int:
    """The artifact's size on disk (0 when it is not a readable file)."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def measured_cost(path: Path, growth: int) -> int:
    """A loaded model's cost: the larger of its artifact's bytes and the resident-memory growth.

    The growth alone under-counts a model loaded into memory freed by an eviction (the allocator
    reuses it without the process growing); the artifact's size is a floor for what it holds.
    """
    return max(artifact_bytes(path), growth)


_PAGE_BYTES: Final = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def resident_bytes() -> int | None:
    """The process's resident memory (Linux ``/proc/self/statm``; None elsewhere)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE_BYTES
    except (OSError, ValueError, IndexError):
        return None


class ModelCache:
    """Serve any model with a manifest, re-reading manifests at most every ``ttl_seconds``.

    Parameters
    ----------
    manifests
        Conditional reads of one model's manifest, and the listing of every model's.
    artifacts
        Fetches an artifact to a local path.
    served_models
        An optional filter: when not empty, only these models are served and listed.
    served_flavors
        The flavours whose runtime this function carries (None: every flavour).
    budget_bytes
        The memory the loaded models may take together (None: unbounded).
    negative_ttl_seconds
        How long a model without a manifest is answered as unknown without reading S3 again.
    on_load_failure
        ``(model, version)``, called each time a published version cannot be taken.
    on_eviction
        ``(model)``, called each time a model is evicted to make room.
    """

    def __init__(
        self,
        manifests: ManifestReader,
        artifacts: ArtifactFetcher,
        served_models: Collection[str] | None = None,
        alias: str = "production",
        ttl_seconds: float = 30.0,
        loader: Loader = _default_loader,
        clock: Callable[[], float] = time.monotonic,
        on_load_failure: Callable[[str, str], None] | None = None,
        check: Check = _default_check,
        *,
        served_flavors: Collection[str] | None = None,
        budget_bytes: int | None = None,
        negative_ttl_seconds: float = 10.0,
        on_eviction: Callable[[str], None] | None = None,
        measure: Measure = measured_cost,
        memory: Callable[[], int | None] = resident_bytes,
    ) -> None:
        self._manifests = manifests
        self._artifacts = artifacts
        self._only = frozenset(served_models or ())
        self._flavors = None if served_flavors is None else frozenset(served_flavors)
        self._alias = alias
        self._ttl = ttl_seconds
        self._negative_ttl = negative_ttl_seconds
        self._budget = budget_bytes
        self._loader = loader
        self._check = check
        self._clock = clock
        self._on_load_failure = on_load_failure
        self._on_eviction = on_eviction
        self._measure = measure
        self._memory = memory
        self._entries: dict[str, _Entry] = {}
        self._recent: OrderedDict[str, None] = OrderedDict()  # loaded models, least recently used first
        self._negative: OrderedDict[str, None] = OrderedDict()  # negative entries, oldest first
        self._listed: dict[str, _Listed] = {}
        self._names: list[str] | None = None
        self._names_at = float("-inf")
        self._evictions = 0
        self._loads = 0
        self._negative_hits = 0
        self._lock = threading.RLock()

    @property
    def served_models(self) -> list[str]:
        """What /health reports: every model loaded here, or whose published version failed here."""
        return [name for name, entry in self._entries.items() if entry.tracked]

    @property
    def served_flavors(self) -> frozenset[str] | None:
        return self._flavors

    def get(self, model: str) -> LoadedModel:
        """Return the loaded model, loading it on first use or refreshing it when its manifest is due.

        Raises
        ------
        UnknownModel
            ``model`` has no manifest (remembered for the negative TTL), or is filtered out.
        FlavorNotServed
            Its manifest names a flavour this function does not carry.
        ModelUnavailable
            Its artifact cannot be loaded (or cannot score) and nothing was loaded before.
        """
        entry = self._entries.get(model)
        if entry is None or self._due(entry):
            # Only names that pass both checks ever get an entry: a hit skips them.
            if not is_valid_model_name(model) or (self._only and model not in self._only):
                raise UnknownModel(model)
            with self._lock:
                entry = self._entries.setdefault(model, _Entry())
                if self._due(entry):
                    # The check time is set only once the refresh is over, so concurrent
                    # first requests wait for the load instead of finding nothing loaded.
                    try:
                        self._refresh(model, entry)
                    finally:
                        entry.checked_at = self._clock()
                        self._remember_negative(model, entry)
        elif entry.missing:
            self._negative_hits += 1
        loaded = entry.loaded
        if loaded is None:
            if entry.missing:
                raise UnknownModel(model)
            if entry.reason == "flavor_not_served":
                raise FlavorNotServed(model, entry.failed_flavor or "", entry.failed_version or "")
            raise ModelUnavailable(model, self.state(model))
        # Not contextlib.suppress: on every request it would cost more than the rest of a hit.
        try:  # noqa: SIM105
            self._recent.move_to_end(model)
        except KeyError:  # evicted meanwhile by another thread's load
            pass
        return loaded

    def refresh_tracked(self) -> None:
        """Re-read the manifest of every model /health reports that is due (retrying a failed load).

        The least-recently-used order is left as requests made it.
        """
        for name in self.served_models:
            entry = self._entries.get(name)
            if entry is None or not self._due(entry):
                continue
            with self._lock:
                if self._entries.get(name) is entry and self._due(entry):
                    try:
                        self._refresh(name, entry)
                    finally:
                        entry.checked_at = self._clock()

    def model_names(self) -> list[str]:
        """Every model with a manifest under the alias, listed at most every ``ttl_seconds``.

        A listing that fails is logged and the last one is kept (empty at first).
        """
        now = self._clock()
        if self._names is None or now - self._names_at >= self._ttl:
            try:
                names = sorted(self._manifests.models(self._alias))
            except Exception as error:  # S3 unreachable: keep what was listed
                logger.warning("manifest listing failed", extra={"error": str(error)})
                names = self._names or []
            self._names = [n for n in names if not self._only or n in self._only]
            self._names_at = now
        return list(self._names)

    def is_known(self, model: str) -> bool:
        """Whether ``model`` has a manifest, from what is already known (no S3 call)."""
        entry = self._entries.get(model)
        if entry is not None and not entry.missing:
            return True
        return self._names is not None and model in self._names

    def manifest(self, model: str) -> ServingManifest | None:
        """The published manifest of ``model`` without loading its artifact (for listings).

        A loaded model answers with the manifest it serves; any other is read at most every
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
        """What ``model`` is serving now, and what it failed to take (KeyError when not known here)."""
        entry = self._entries[model]
        serving = entry.loaded.manifest.version if entry.loaded is not None else None
        reason: FailureReason | None = "manifest_unreadable" if entry.unreadable else entry.reason
        if entry.loaded is not None:
            candidate = entry.loaded.candidate
            if entry.failed_version is not None or entry.unreadable:
                return ModelState("degraded", serving, entry.failed_version, reason, candidate)
            return ModelState("ready", serving, candidate=candidate)
        if entry.missing:
            return ModelState("no_manifest")
        return ModelState("unavailable", None, entry.failed_version, reason)

    def status(self) -> dict[str, ModelState]:
        """The state of every model loaded here or that failed to load here."""
        return {name: self.state(name) for name in self.served_models}

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(
                models_loaded=len(self._recent),
                used_bytes=self._used(),
                budget_bytes=self._budget,
                evictions=self._evictions,
                loads=self._loads,
                negative_hits=self._negative_hits,
            )

    # --- internals ------------------------------------------------------------------------------

    def _due(self, entry: _Entry) -> bool:
        ttl = self._negative_ttl if entry.missing else self._ttl
        return self._clock() - entry.checked_at >= ttl

    def _used(self) -> int:
        return sum(self._entries[name].cost + self._entries[name].candidate_cost for name in self._recent)

    def _remember_negative(self, model: str, entry: _Entry) -> None:
        # Entries of models not loaded nor failed here (no manifest, another flavour, a manifest that
        # could not be read) are bounded together, so made-up names cannot grow memory.
        if entry.tracked:
            self._negative.pop(model, None)
            return
        self._negative[model] = None
        self._negative.move_to_end(model)
        while len(self._negative) > MAX_NEGATIVE_ENTRIES:
            oldest, _ = self._negative.popitem(last=False)
            if (old := self._entries.get(oldest)) is not None and not old.tracked:
                del self._entries[oldest]

    def _refresh(self, model: str, entry: _Entry) -> None:
        try:
            read = self._manifests.read(model, self._alias, if_none_match=entry.etag)
        except ManifestNotFound:
            entry.unreadable = False
            entry.missing = entry.loaded is None
            if entry.missing:
                entry.failed_version = entry.failed_flavor = entry.reason = None
            else:  # removed after a load: keep serving what is loaded, say so
                logger.warning("manifest disappeared; serving the loaded version", extra={"model": model})
            return
        except Exception as error:  # S3 unreachable, or not a manifest: keep serving, retry after the TTL
            entry.unreadable = True
            entry.missing = False
            logger.warning("manifest read failed", extra={"model": model, "error": str(error)})
            return
        entry.unreadable = entry.missing = False
        if read is None:  # 304: unchanged
            return
        if (
            entry.loaded is not None
            and entry.loaded.manifest == read.manifest
            and not _candidate_failed(entry)
        ):
            entry.etag = read.etag
            return
        self._load(model, entry, read.manifest, read.etag)

    def _load(self, model: str, entry: _Entry, manifest: ServingManifest, etag: str) -> None:
        if manifest.model != model:
            self._fail(
                model, entry, manifest.version, "manifest_for_another_model", f"names {manifest.model!r}"
            )
            return
        if self._flavors is not None and manifest.flavor not in self._flavors:
            # Not a load failure: the request should have reached another function (its route is
            # being written). The etag is not advanced, so the next check looks again.
            entry.failed_version, entry.failed_flavor = manifest.version, manifest.flavor
            entry.reason = "flavor_not_served"
            logger.warning(
                "model flavour not served by this function",
                extra={"model": model, "version": manifest.version, "flavor": manifest.flavor},
            )
            return
        previous = entry.loaded
        if previous is not None and _artifact_identity(previous.manifest) == _artifact_identity(manifest):
            predictor, cost = previous.predictor, entry.cost  # only the rollout changed
        else:
            try:
                predictor, cost = self._load_artifact(model, manifest)
            except _LoadFailed as failure:
                self._fail(model, entry, manifest.version, failure.reason, failure.error)
                return
            entry.cost = cost
            self._loads += 1
        candidate, candidate_cost = self._take_candidate(model, manifest, previous, entry.candidate_cost)
        entry.loaded = LoadedModel(manifest, predictor, candidate)
        entry.candidate_cost = candidate_cost
        # A candidate that failed is retried: the etag is not advanced, so the next check re-reads.
        if candidate is None or candidate.predictor is not None:
            entry.etag = etag
        entry.failed_version = entry.failed_flavor = entry.reason = None
        self._recent[model] = None
        self._recent.move_to_end(model)
        self._make_room(0, keep=model)
        if previous is None or previous.predictor is not predictor:
            logger.info(
                "model loaded",
                extra={"model": model, "version": manifest.version, "cost_mb": round(cost / MB, 1)},
            )
        total = cost + candidate_cost
        if self._budget is not None and total > self._budget:
            logger.warning(
                "model is bigger than the cache budget: it is served alone",
                extra={
                    "model": model,
                    "version": manifest.version,
                    "cost_mb": round(total / MB, 1),
                    "budget_mb": round(self._budget / MB, 1),
                },
            )

    def _take_candidate(
        self, model: str, manifest: ServingManifest, previous: LoadedModel | None, kept_cost: int
    ) -> tuple[LoadedCandidate | None, int]:
        """The candidate of the manifest's active rollout and its cost: kept, loaded, or failed."""
        rollout = manifest.rollout
        candidate_manifest = manifest.candidate_manifest()
        if rollout is None or not rollout.active or candidate_manifest is None:
            return None, 0
        kept = previous.candidate if previous is not None else None
        if (
            kept is not None
            and kept.predictor is not None
            and _artifact_identity(kept.manifest) == _artifact_identity(candidate_manifest)
        ):
            return LoadedCandidate(rollout, candidate_manifest, kept.predictor), kept_cost
        version = candidate_manifest.version
        reason: FailureReason | None = None
        error = ""
        if self._flavors is not None and candidate_manifest.flavor not in self._flavors:
            reason, error = "flavor_not_served", f"a {candidate_manifest.flavor} model"
        else:
            try:
                predictor, cost = self._load_artifact(model, candidate_manifest)
            except _LoadFailed as failure:
                reason, error = failure.reason, failure.error
            else:
                self._loads += 1
                logger.info(
                    "rollout candidate loaded",
                    extra={
                        "model": model,
                        "version": version,
                        "rollout": rollout.id,
                        "cost_mb": round(cost / MB, 1),
                    },
                )
                return LoadedCandidate(rollout, candidate_manifest, predictor), cost
        logger.error(
            "rollout candidate load failed; production serves every request",
            extra={
                "model": model,
                "version": version,
                "rollout": rollout.id,
                "reason": reason,
                "error": error,
                "serving": manifest.version,
            },
        )
        if self._on_load_failure is not None:
            self._on_load_failure(model, version)
        return LoadedCandidate(rollout, candidate_manifest, None, reason), 0

    def _load_artifact(self, model: str, manifest: ServingManifest) -> tuple[Predictor, int]:
        """Fetch, load and check ``manifest``'s artifact (room made first); its predictor and cost."""
        try:
            path = self._artifacts.fetch(manifest.artifact_uri)
            self._make_room(artifact_bytes(path), keep=model)
            before, modules = self._memory(), len(sys.modules)
            predictor = self._load_predictor(model, manifest, path)
        except Exception as error:  # download, unpickling and flavour runtime errors alike
            raise _LoadFailed("artifact_unloadable", str(error)) from error
        try:
            self._check(predictor, manifest)
        except Exception as error:  # it loads but cannot score: never swap it in
            raise _LoadFailed("scoring_failed", str(error)) from error
        after = self._memory()
        growth = after - before if after is not None and before is not None else 0
        if len(sys.modules) > modules:
            # The load imported code (the first model of its kind: 18 MB of scikit-learn modules
            # for a 40 KB forest, measured): the growth is the runtime's, not the model's.
            growth = 0
        return predictor, self._measure(path, max(growth, 0))

    def _load_predictor(self, model: str, manifest: ServingManifest, path: Path) -> Predictor:
        try:
            return self._loader(manifest, path)
        except MemoryError:
            if not any(name != model for name in self._recent):
                raise
            logger.warning("out of memory loading a model: evicting the others", extra={"model": model})
            self._make_room(math.inf, keep=model)
            return self._loader(manifest, path)

    def _make_room(self, extra: float, keep: str) -> None:
        """Evict least recently used models (never ``keep``) until ``extra`` more bytes fit."""
        if self._budget is None:
            return
        while self._used() + extra > self._budget:
            victim = next((name for name in self._recent if name != keep), None)
            if victim is None:
                return
            self._evict(victim)

    def _evict(self, model: str) -> None:
        entry = self._entries.pop(model)
        del self._recent[model]
        self._evictions += 1
        logger.info(
            "model evicted to make room",
            extra={
                "model": model,
                "version": entry.loaded.manifest.version if entry.loaded is not None else None,
                "cost_mb": round(entry.cost / MB, 1),
            },
        )
        if self._on_eviction is not None:
            self._on_eviction(model)

    def _fail(self, model: str, entry: _Entry, version: str, reason: FailureReason, error: str) -> None:
        # The etag is not advanced, so the next check (after the TTL) retries the load.
        entry.failed_version = version
        entry.failed_flavor = None
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


def _candidate_failed(entry: _Entry) -> bool:
    """Whether the loaded model's rollout candidate could not be taken (it is retried)."""
    candidate = entry.loaded.candidate if entry.loaded is not None else None
    return candidate is not None and candidate.predictor is None
