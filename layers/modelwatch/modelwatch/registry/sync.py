"""Reconciling MLflow aliases with the published serving manifests.

For every model registered through modelwatch and every served alias, the
version the alias points at in MLflow is compared with the version the
manifest names; when they differ, that version is published (artifact copied,
manifest written). So a promotion made directly in the MLflow UI reaches
serving, and a promotion whose manifest write failed is retried. The move is
also recorded in the versions' stage tags and history, as ``registry-sync``.

An alias that points nowhere leaves its manifest in place: serving keeps
answering. When MLflow is unreachable the sync fails (``TrackingServerUnavailable``)
before touching any manifest.

The registry-sync Lambda function (``functions/registry_sync``, through
:class:`SyncRunner`) and ``ModelRegistry.sync_serving`` both call
:func:`sync_models_bucket`; the function uses the REST client, every minute and on demand.
Displacing the version an alias was taken from follows the promotion's rule
(:func:`modelwatch.registry.promotion.displace_previous_holder`).

A rollout lives in the production manifest. An up-to-date manifest is left alone, so a
running rollout is never dropped; one republished for the same version keeps its rollout;
one published for a new production version ends the rollout as a promotion does (recorded
as ``promote`` when the alias moved to the candidate, else ``stop``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from modelwatch.contracts import layout
from modelwatch.contracts.manifest import DEFAULT_SERVED_ALIASES, ServingManifest
from modelwatch.registry import tags as tag
from modelwatch.registry.backend import ModelRecord, RegistryBackend
from modelwatch.registry.errors import (
    CredentialsRefused,
    PromotionError,
    RegistryError,
    TrackingServerUnavailable,
)
from modelwatch.registry.promotion import displace_previous_holder
from modelwatch.registry.publishing import PUBLISHER, prepare_manifest, write_manifest
from modelwatch.registry.rollouts import ROLLOUT_ALIAS, end_rollout_on_new_production
from modelwatch.registry.stages import Stage, TransitionRecord, current_stage, record_transition
from modelwatch.settings.registry_sync import RegistrySyncSettings
from modelwatch.stores import aws
from modelwatch.stores.artifacts import ArtifactStore
from modelwatch.stores.manifests import ManifestStore
from modelwatch.stores.objects import ObjectStorage

SYNC_ACTOR = "registry-sync"

Action = Literal["published", "unchanged", "no_alias", "failed"]


class SyncAction(BaseModel):
    """What the sync did for one model and alias."""

    model_config = {"protected_namespaces": ()}

    model: str
    alias: str
    action: Action
    version: str | None = Field(None, description="The version the alias points at in MLflow.")
    previous_version: str | None = Field(None, description="The version the manifest named before.")
    manifest_uri: str | None = None
    error: str | None = None


class SyncReport(BaseModel):
    """The outcome of one reconciliation."""

    tracking_uri: str
    started_at: datetime
    finished_at: datetime
    actions: list[SyncAction]
    skipped_models: list[str] = Field(
        default_factory=list, description="Registered models not managed by modelwatch (not served)."
    )

    @property
    def published(self) -> list[SyncAction]:
        return [a for a in self.actions if a.action == "published"]

    @property
    def failures(self) -> list[SyncAction]:
        return [a for a in self.actions if a.action == "failed"]

    def raise_for_failures(self) -> None:
        """Raise ``SyncFailed`` naming each model and alias that could not be reconciled."""
        if self.failures:
            raise SyncFailed("; ".join(f"{a.model}/{a.alias}: {a.error}" for a in self.failures))


def mlflow_credentials(secret_id: str, secrets_client: Any) -> tuple[str, str]:
    """``(username, password)`` from a Secrets Manager secret ``{"username": ..., "password": ...}``.

    Raises
    ------
    RegistryError
        The secret is not JSON with both keys.
    """
    raw = secrets_client.get_secret_value(SecretId=secret_id)["SecretString"]
    try:
        secret = json.loads(raw)
        return str(secret["username"]), str(secret["password"])
    except (json.JSONDecodeError, KeyError, TypeError):
        raise RegistryError(f"secret {secret_id} must be JSON with 'username' and 'password'") from None


class SyncFailed(RegistryError):
    """Some manifests could not be reconciled (the message names each model and alias)."""


class SyncRunner:
    """What the registry-sync function does on each invocation, set up once per environment.

    The MLflow credentials are read from Secrets Manager on the first run and kept; when
    MLflow refuses them (the secret was rotated or reset), they are read again once and the
    run retried. The REST client (standard library only: no MLflow in the bundle) is built
    per run.
    """

    def __init__(
        self, settings: RegistrySyncSettings, storage: ObjectStorage, secrets_client: Any | None = None
    ) -> None:
        self._settings = settings
        self._storage = storage
        self._secrets = secrets_client
        self._credentials: tuple[str, str] | None = None

    def _backend(self) -> RegistryBackend:
        from modelwatch.registry.rest import MlflowRestClient

        settings = self._settings
        username = password = None
        if settings.mlflow_credentials_secret:
            if self._credentials is None:
                if self._secrets is None:
                    self._secrets = aws.client("secretsmanager")
                self._credentials = mlflow_credentials(settings.mlflow_credentials_secret, self._secrets)
            username, password = self._credentials
        return MlflowRestClient(
            settings.mlflow_tracking_uri,
            username=username,
            password=password,
            timeout=settings.mlflow_timeout_seconds,
            max_attempts=settings.mlflow_max_attempts,
        )

    def run(self, models: Sequence[str] | None = None) -> SyncReport:
        """Reconcile the served aliases of ``models`` (all registered models when None).

        Raises
        ------
        TrackingServerUnavailable
            MLflow cannot be reached (every manifest stays as it was).
        """
        settings = self._settings

        def reconcile() -> SyncReport:
            return sync_models_bucket(
                self._backend(),
                self._storage,
                settings.models_bucket,
                manifest_prefix=settings.manifest_prefix,
                aliases=settings.served_aliases,
                models=models,
            )

        try:
            return reconcile()
        except CredentialsRefused:
            if self._credentials is None:
                raise
            self._credentials = None  # read the secret again: it may have changed since
            return reconcile()


def _up_to_date(manifest: ServingManifest | None, version: str) -> bool:
    return (
        manifest is not None
        and manifest.version == version
        and manifest.source.get("publisher") == PUBLISHER
        and manifest.source.get("registered_version") == version
    )


def _record_stages(
    backend: RegistryBackend, model: str, alias: str, version: str, previous: str | None
) -> None:
    """Bring stage tags in line with an alias moved outside modelwatch (e.g. in the MLflow UI)."""
    try:
        stage = Stage(alias)
    except ValueError:
        return  # a custom alias (canary, ...) has no stage
    reason = f"alias {alias!r} set outside modelwatch (found by the registry sync)"
    record = backend.get_version(model, version)
    current = current_stage(record.tags)
    if current is not stage:
        record_transition(
            backend,
            model,
            version,
            record.tags,
            TransitionRecord(
                version=version, from_stage=current, to_stage=stage, actor=SYNC_ACTOR, reason=reason
            ),
        )
    displace_previous_holder(
        backend, model, stage, previous, by=version, actor=SYNC_ACTOR, note=" (found by the registry sync)"
    )


def sync_models_bucket(
    backend: RegistryBackend,
    storage: ObjectStorage,
    bucket: str,
    *,
    manifest_prefix: str = layout.MANIFESTS_PREFIX,
    aliases: Sequence[str] = DEFAULT_SERVED_ALIASES,
    models: Sequence[str] | None = None,
) -> SyncReport:
    """Reconcile the served aliases with the manifests of the models bucket ``bucket``.

    What ``SyncRunner.run`` (the registry-sync function) and ``ModelRegistry.sync_serving`` do:
    :func:`reconcile_manifests` on the bucket's manifest and artifact stores.

    Raises
    ------
    TrackingServerUnavailable
        MLflow did not answer; manifests already reconciled in this run stay, the others are untouched.
    """
    return reconcile_manifests(
        backend,
        ManifestStore(storage, bucket, manifest_prefix),
        ArtifactStore(storage),
        aliases=aliases,
        models=models,
    )


def reconcile_manifests(
    backend: RegistryBackend,
    manifests: ManifestStore,
    artifacts: ArtifactStore,
    *,
    aliases: Sequence[str] = DEFAULT_SERVED_ALIASES,
    models: Sequence[str] | None = None,
) -> SyncReport:
    """Publish the manifest of every served alias whose MLflow version differs from the manifest's.

    Parameters
    ----------
    backend:
        The registry: ``MlflowRestClient`` in the Lambda function, ``ModelRegistry.backend`` elsewhere.
    manifests, artifacts:
        Where manifests and model files are published (the models bucket).
    aliases:
        The served aliases.
    models:
        Only these models (default: every model registered through modelwatch).

    Returns
    -------
    SyncReport
        One action per model and alias; failures of one model do not stop the others.

    Raises
    ------
    TrackingServerUnavailable
        MLflow did not answer; manifests already reconciled in this run stay, the others are untouched.
    """
    started = datetime.now(UTC)
    listed: list[ModelRecord] = backend.list_models()
    wanted = set(models) if models is not None else None
    actions: list[SyncAction] = []
    skipped: list[str] = []
    for model in sorted(listed, key=lambda m: m.name):
        if wanted is not None and model.name not in wanted:
            continue
        if model.tags.get(tag.MANAGED) != "true":
            skipped.append(model.name)
            continue
        for alias in aliases:
            actions.append(_reconcile_one(backend, manifests, artifacts, model, alias))
    return SyncReport(
        tracking_uri=backend.uri,
        started_at=started,
        finished_at=datetime.now(UTC),
        actions=actions,
        skipped_models=skipped,
    )


def _reconcile_one(
    backend: RegistryBackend,
    manifests: ManifestStore,
    artifacts: ArtifactStore,
    model: ModelRecord,
    alias: str,
) -> SyncAction:
    version = model.aliases.get(alias)
    try:
        current = manifests.current(model.name, alias)
    except Exception as error:  # S3 unreadable: report, do not publish blind
        return SyncAction(model=model.name, alias=alias, action="failed", version=version, error=str(error))
    previous = current.version if current is not None else None
    if version is None:
        return SyncAction(model=model.name, alias=alias, action="no_alias", previous_version=previous)
    if _up_to_date(current, version):
        return SyncAction(
            model=model.name, alias=alias, action="unchanged", version=version, previous_version=previous
        )
    try:
        record = backend.get_version(model.name, version)
        manifest = prepare_manifest(backend, record, alias, manifests, artifacts)
        kept = current.rollout if current is not None and current.version == record.version else None
        if kept is not None:  # the same version republished: its rollout goes on
            manifest = manifest.model_copy(update={"rollout": kept})
        uri = write_manifest(manifests, manifest)
    except TrackingServerUnavailable:
        raise
    except (RegistryError, PromotionError) as error:
        return SyncAction(
            model=model.name,
            alias=alias,
            action="failed",
            version=version,
            previous_version=previous,
            error=str(error),
        )
    try:
        _record_stages(backend, model.name, alias, version, previous)
        if alias == ROLLOUT_ALIAS:
            end_rollout_on_new_production(
                backend,
                model.name,
                current,
                version,
                actor=SYNC_ACTOR,
                note=" (alias moved outside modelwatch, found by the registry sync)",
            )
    except TrackingServerUnavailable:
        raise
    except RegistryError:
        pass  # the manifest is published; stage tags are caught up on by the next run's promotion
    return SyncAction(
        model=model.name,
        alias=alias,
        action="published",
        version=version,
        previous_version=previous,
        manifest_uri=uri,
    )
