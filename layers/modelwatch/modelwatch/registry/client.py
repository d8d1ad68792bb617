"""``ModelRegistry``: register, describe, compare and promote model versions, in one object.

A facade: each method hands over to the module that owns the concern (``registration``,
``queries``, ``comparison``, ``promotion``, ``rollouts``, ``sync``), all talking to MLflow through a
``RegistryBackend``. The backend follows from the tracking URI: ``http(s)://`` goes to
the REST client (``rest``; MLflow is not imported), anything else to ``MlflowClientBackend``
(``mlflow_client``); ``backend=`` injects one (tests pass ``InMemoryRegistryBackend``).
Nothing here changes the process's environment.
"""

from __future__ import annotations

import getpass
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from modelwatch.contracts import layout
from modelwatch.contracts.manifest import DEFAULT_SERVED_ALIASES, Flavor, PredictionType
from modelwatch.contracts.rollout import (
    DEFAULT_ALPHA,
    KEY_REQUEST_ID,
    CandidateErrorPolicy,
    Guardrails,
    Rollout,
    RolloutMetric,
    RolloutMode,
)
from modelwatch.contracts.schema import InputSchema
from modelwatch.registry import queries, registration, rollouts
from modelwatch.registry.backend import RegistryBackend
from modelwatch.registry.comparison import (
    ComparisonTable,
    VersionComparison,
    compare_model_versions,
    compare_versions,
)
from modelwatch.registry.errors import RegistryConfigurationError, RolloutError
from modelwatch.registry.promotion import PromotionResult, promote_version
from modelwatch.registry.queries import ModelSummary, ModelVersionInfo
from modelwatch.registry.rollouts import RolloutRecord, RolloutStatus, StepSpec
from modelwatch.registry.stages import Stage, TransitionRecord, parse_stage
from modelwatch.registry.sync import SyncReport, sync_models_bucket
from modelwatch.settings.base import load_settings
from modelwatch.settings.registry_client import RegistryClientSettings
from modelwatch.stores import aws
from modelwatch.stores.artifacts import ArtifactStore
from modelwatch.stores.manifests import ManifestStore
from modelwatch.stores.objects import ObjectStorage, S3Storage

__all__ = ["ModelRegistry", "ModelSummary", "ModelVersionInfo", "PromotionResult", "connect_backend"]


def connect_backend(
    tracking_uri: str,
    settings: RegistryClientSettings | None = None,
    *,
    max_retries: int = 3,
    timeout: float = 10.0,
) -> RegistryBackend:
    """The backend for ``tracking_uri``: the REST client for ``http(s)://``, else ``MlflowClientBackend``.

    Over HTTP the credentials are the URI's ``user:password@``, else ``MLFLOW_TRACKING_USERNAME`` and
    ``MLFLOW_TRACKING_PASSWORD``, else ``MLFLOW_TRACKING_TOKEN`` (from ``settings``); ``max_retries``
    and ``timeout`` bound each call. Other URIs follow MLflow's own variables.

    Raises
    ------
    RegistryConfigurationError
        The tracking URI cannot be used.
    """
    if urlsplit(tracking_uri).scheme in ("http", "https"):
        from modelwatch.registry.rest import MlflowRestClient

        settings = settings or load_settings(RegistryClientSettings)
        password = settings.tracking_password.get_secret_value() if settings.tracking_password else None
        token = settings.tracking_token.get_secret_value() if settings.tracking_token else None
        basic = urlsplit(tracking_uri).username is None and bool(settings.tracking_username and password)
        return MlflowRestClient(
            tracking_uri,
            username=settings.tracking_username if basic else None,
            password=password if basic else None,
            token=token,
            timeout=timeout,
            max_attempts=max_retries + 1,
        )
    from modelwatch.registry.mlflow_client import MlflowClientBackend

    return MlflowClientBackend(tracking_uri)


class ModelRegistry:
    """The model registry: MLflow underneath, serving manifests on promotion.

    Parameters
    ----------
    tracking_uri:
        ``http(s)://host:port`` of a tracking server, ``sqlite:///path.db``, a directory
        (a SQLite database and artifacts inside it), a database URI, or a SageMaker MLflow
        ARN (needs the ``sagemaker-mlflow`` plugin). Default: ``MLFLOW_TRACKING_URI``.
    models_bucket:
        The models bucket serving reads manifests from. Without it, promotions move
        aliases but publish no manifest. Default: ``MODELWATCH_MODELS_BUCKET``.
    storage:
        Object storage of the models bucket and ``s3://`` inputs (default: S3 through a new
        boto3 client, created on first use).
    manifest_prefix:
        Key prefix of manifests in the models bucket.
    served_aliases:
        Aliases whose promotion publishes a manifest.
    events_bucket:
        The events bucket, where the rollout job keeps its evaluations (``rollout_status`` reads
        the latest). Default: ``MODELWATCH_EVENTS_BUCKET``.
    max_retries, timeout:
        For an ``http(s)://`` server: retries of each call (exponential backoff from 0.5 s) and
        the per-request timeout in seconds, for this registry only. Other URIs follow MLflow's
        ``MLFLOW_HTTP_REQUEST_*`` variables.
    backend:
        The registry backend to use instead of the one the tracking URI names (tests pass
        ``InMemoryRegistryBackend``); ``tracking_uri`` is then ignored.

    Raises
    ------
    RegistryConfigurationError
        No tracking URI, or one that cannot be used.
    """

    def __init__(
        self,
        tracking_uri: str | None = None,
        *,
        models_bucket: str | None = None,
        storage: ObjectStorage | None = None,
        manifest_prefix: str = layout.MANIFESTS_PREFIX,
        served_aliases: Sequence[str] = DEFAULT_SERVED_ALIASES,
        events_bucket: str | None = None,
        max_retries: int = 3,
        timeout: float = 10.0,
        backend: RegistryBackend | None = None,
    ) -> None:
        self._settings = load_settings(RegistryClientSettings)
        if backend is None:
            uri = tracking_uri or self._settings.tracking_uri
            if not uri:
                raise RegistryConfigurationError(
                    "no tracking URI: pass tracking_uri= or set MLFLOW_TRACKING_URI"
                )
            backend = connect_backend(uri, self._settings, max_retries=max_retries, timeout=timeout)
        self.backend = backend
        self.models_bucket = models_bucket or self._settings.models_bucket
        self._storage = storage
        self.manifest_prefix = manifest_prefix
        self.served_aliases = tuple(served_aliases)
        self.events_bucket = events_bucket or self._settings.events_bucket

    @property
    def tracking_uri(self) -> str:
        """The tracking URI in use (without credentials)."""
        return self.backend.uri

    @property
    def storage(self) -> ObjectStorage:
        if self._storage is None:
            self._storage = S3Storage(aws.client("s3"))
        return self._storage

    def _actor(self, actor: str | None) -> str:
        """Who acts: ``actor``, else ``MODELWATCH_USER``, else the operating-system user."""
        if actor:
            return actor
        if self._settings.user:
            return self._settings.user
        try:
            return getpass.getuser()
        except (KeyError, OSError):
            return "unknown"

    def register_model(
        self,
        model_path: str | Path,
        name: str,
        tags: Mapping[str, str] | None = None,
        *,
        flavor: Flavor | None = None,
        prediction_type: PredictionType | None = None,
        input_schema: InputSchema | str | Path | None = None,
        training_data: Mapping[str, Sequence[Any]] | str | Path | None = None,
        training_data_uri: str | None = None,
        metrics: Mapping[str, float] | None = None,
        description: str = "",
        code_revision: str | None = None,
        creator: str | None = None,
    ) -> str:
        """Register a new version of ``name`` and return its ``models:/<name>/<version>`` URI.

        Parameters
        ----------
        model_path:
            The model: a local file or directory, ``s3://bucket/key``, ``runs:/<run_id>/<path>``
            or ``models:/<name>/<version or alias>``.
        name:
            The registered model (created on first registration); 1-63 letters, digits, ``_.-``.
        tags:
            Tags of the version (e.g. ``{"algorithm": "xgboost"}``).
        flavor:
            ``sklearn`` or ``onnx``; inferred from the file's suffix (.joblib/.pkl/.onnx) when omitted.
        prediction_type:
            ``probability``, ``label`` or ``value``: what serving returns (default: the source
            version's for ``models:/``, else ``value``).
        input_schema:
            An ``InputSchema`` or its JSON file; inferred from ``training_data`` when omitted (a
            ``models:/`` source's schema and profile are kept). A version without a schema is
            registered but cannot be served.
        training_data:
            Columns (``{"amount": [...]}``) or a .csv/.json/.jsonl/.parquet file (local or s3://):
            profiled into the version's reference data profile.
        training_data_uri:
            Lineage: where the training data lives (default: the file's URI when a file is given).
        metrics:
            Metrics to record on the version (``log_metrics`` can add more later).
        description:
            Description of the version.
        code_revision:
            Lineage: the training code's revision (default: ``MODELWATCH_CODE_REVISION``,
            ``GITHUB_SHA`` or git's HEAD).
        creator:
            Lineage: who registers (default: ``MODELWATCH_USER`` or the OS user).

        Returns
        -------
        str
            ``models:/<name>/<version>``.

        Raises
        ------
        FileNotFoundError
            A local model or data file does not exist.
        ValueError
            A bad name, flavour, schema or training data.
        TrackingServerUnavailable
            The tracking server did not answer.
        """
        return registration.register_model(
            self.backend,
            lambda: self.storage,
            model_path,
            name,
            tags,
            creator=self._actor(creator),
            code_revision=code_revision or self._settings.code_revision or registration.git_revision(),
            flavor=flavor,
            prediction_type=prediction_type,
            input_schema=input_schema,
            training_data=training_data,
            training_data_uri=training_data_uri,
            metrics=metrics,
            description=description,
        )

    def log_metrics(self, name: str, version: str | int, metrics: Mapping[str, float]) -> None:
        """Record metrics on a version (as version tags, and on its run when it has one)."""
        registration.record_metrics(self.backend, name, str(version), metrics)

    def get_metrics(self, name: str, version: str | int) -> dict[str, float]:
        """The metrics of a version: those of its run, overridden by those recorded on the version."""
        return queries.version_metrics(self.backend, self.backend.get_version(name, str(version)))

    def list_models(self) -> list[ModelSummary]:
        """Every registered model, by name."""
        return queries.list_models(self.backend)

    def get_version(self, name: str, version: str | int) -> ModelVersionInfo:
        """A version (or the version an alias points at) with its stage, lineage, metrics and history."""
        return queries.version_info(self.backend, name, str(version))

    def list_versions(self, name: str) -> list[ModelVersionInfo]:
        """Every version of a model, oldest first."""
        return queries.list_versions(self.backend, name)

    def get_input_schema(self, name: str, version: str | int) -> InputSchema | None:
        """The version's input schema (None when it was registered without one)."""
        return queries.input_schema(self.backend, name, str(version))

    def get_reference_profile_json(self, name: str, version: str | int) -> str | None:
        """The version's reference data profile as JSON text (None when it has none)."""
        return queries.reference_profile_json(self.backend, name, str(version))

    def history(self, name: str, version: str | int | None = None) -> list[TransitionRecord]:
        """Transitions of one version, or the latest transitions of any version of the model."""
        return queries.transition_history(self.backend, name, None if version is None else str(version))

    def compare(
        self, model_name: str, version1: str | int, version2: str | int, metric: str, **options: Any
    ) -> VersionComparison:
        """Shorthand for :func:`modelwatch.registry.compare_model_versions` on this registry."""
        return compare_model_versions(self, model_name, version1, version2, metric, **options)

    def compare_table(
        self,
        model_name: str,
        versions: Sequence[str | int],
        metrics: Sequence[str],
        directions: Mapping[str, bool] | None = None,
    ) -> ComparisonTable:
        """Shorthand for :func:`modelwatch.registry.compare_versions` on this registry."""
        return compare_versions(self, model_name, versions, metrics, directions=directions)

    def promote(
        self,
        name: str,
        version: str | int,
        stage: Stage | str,
        *,
        reason: str = "",
        force: bool = False,
        actor: str | None = None,
        check_serves: bool = True,
    ) -> PromotionResult:
        """Move a version to ``stage``; for a served alias, publish its serving manifest first.

        Parameters
        ----------
        name, version:
            The version to move.
        stage:
            ``development``, ``staging``, ``production`` or ``archived``.
        reason:
            Why (kept in the version's transition history).
        force:
            Allow a move the rules refuse (e.g. development straight to production).
        actor:
            Who (default: ``MODELWATCH_USER`` or the OS user).
        check_serves:
            For a served stage, first load the model file with its flavour's runtime (which
            must be installed here: ``modelwatch[sklearn]`` or ``[onnx]``) and score the
            schema's example instance, so a version that cannot serve is never published.

        Returns
        -------
        PromotionResult
            The transition record, and the manifest when one was published.

        Raises
        ------
        IllegalTransitionError
            The move breaks the rules.
        NotServableError
            The stage is served and the version lacks a flavour, model file or schema.
        PromotionError
            Publishing the manifest failed: nothing was changed, the previous manifest serves.
        ModelNotFoundError, VersionNotFoundError, TrackingServerUnavailable
        """
        target = stage if isinstance(stage, Stage) else parse_stage(stage)
        bucket = self.models_bucket if target.value in self.served_aliases else None
        return promote_version(
            self.backend,
            name,
            str(version),
            target,
            actor=self._actor(actor),
            served_aliases=self.served_aliases,
            manifests=ManifestStore(self.storage, bucket, self.manifest_prefix) if bucket else None,
            artifacts=ArtifactStore(self.storage) if bucket else None,
            reason=reason,
            force=force,
            check_serves=check_serves,
        )

    def sync_serving(self, models: Sequence[str] | None = None) -> SyncReport:
        """Reconcile served aliases with the published manifests (what the registry-sync function runs).

        Raises
        ------
        RegistryConfigurationError
            No models bucket is configured.
        TrackingServerUnavailable
            MLflow did not answer; no manifest was changed.
        """
        if not self.models_bucket:
            raise RegistryConfigurationError(
                "no models bucket: pass models_bucket= or set MODELWATCH_MODELS_BUCKET"
            )
        return sync_models_bucket(
            self.backend,
            self.storage,
            self.models_bucket,
            manifest_prefix=self.manifest_prefix,
            aliases=self.served_aliases,
            models=models,
        )

    # -- rollouts -----------------------------------------------------------------------------------

    def _models_bucket(self, what: str) -> ManifestStore:
        if not self.models_bucket:
            raise RegistryConfigurationError(
                f"no models bucket: {what} changes the serving manifest; pass models_bucket= or set "
                "MODELWATCH_MODELS_BUCKET"
            )
        return ManifestStore(self.storage, self.models_bucket, self.manifest_prefix)

    def start_rollout(
        self,
        name: str,
        version: str | int,
        *,
        mode: RolloutMode,
        share: float | None = None,
        key: str = KEY_REQUEST_ID,
        steps: Sequence[StepSpec] | None = None,
        guardrails: Guardrails | Mapping[str, Any] | None = None,
        metric: RolloutMetric | Mapping[str, Any] | str | None = None,
        alpha: float = DEFAULT_ALPHA,
        on_candidate_error: CandidateErrorPolicy = "production",
        reason: str = "",
        actor: str | None = None,
        check_serves: bool = True,
    ) -> Rollout:
        """Start comparing ``version`` with production on live traffic (see ``docs/rollouts.md``).

        Parameters
        ----------
        name, version:
            The model and the candidate version (production is the version its production
            manifest serves).
        mode:
            ``shadow`` (the candidate scores a copy of requests after the answer), ``ab`` (a stable
            share of requests is answered by the candidate) or ``canary`` (``ab`` whose share climbs
            through ``steps`` while the guardrails hold).
        share:
            The candidate's share of requests: default 1.0 for shadow, 0.5 for ab; a canary starts
            at its first step's share.
        key:
            What decides a request's variant: ``request_id``, ``header:<name>`` or ``feature:<name>``
            (a feature both versions' input schemas have). A request without the header or feature
            falls back to its request id.
        steps:
            Canary only: the shares to climb, as ``CanaryStep``, mappings of its fields, or bare
            shares (default ``DEFAULT_CANARY_STEPS``: 5%, 25%, 50%, 100%, each held 10 minutes and
            200 candidate requests).
        guardrails:
            ``Guardrails`` or a mapping of its fields; a breach rolls the candidate back to share 0.
        metric:
            The labelled metric compared: ``RolloutMetric``, a mapping of its fields, or a builtin's
            name (``accuracy``, ``log_loss``, ``squared_error``, ``absolute_error``).
        alpha:
            Error level of the always-valid tests.
        on_candidate_error:
            ab/canary: answer a request the candidate fails with production's answer
            (``production``) or with the error (``error``).
        reason, actor:
            Why and who (recorded in the rollout's history and the model's MLflow tag).
        check_serves:
            Load the candidate's model file with its flavour's runtime and score the schema's
            example instance first, as a promotion does.

        Returns
        -------
        Rollout
            The rollout as written into the production manifest.

        Raises
        ------
        RolloutError
            No production manifest, the candidate is production's version, a share outside [0, 1],
            a bad key or one naming a feature the schemas lack, a rollout already running, bad
            steps, guardrails or metric. Nothing was changed.
        NotServableError
            The candidate cannot be served.
        ModelNotFoundError, VersionNotFoundError, PromotionError, TrackingServerUnavailable
        """
        manifests = self._models_bucket("a rollout")
        return rollouts.start_rollout(
            self.backend,
            manifests,
            ArtifactStore(self.storage),
            name,
            str(version),
            mode=mode,
            actor=self._actor(actor),
            share=share,
            key=key,
            steps=steps,
            guardrails=guardrails,
            metric=metric,
            alpha=alpha,
            on_candidate_error=on_candidate_error,
            reason=reason,
            check_serves=check_serves,
        )

    def rollout_status(self, name: str, events_bucket: str | None = None) -> RolloutStatus:
        """The model's rollout (None without one) and the rollout job's latest evaluation of it.

        The evaluation is read from ``events_bucket`` (default: the registry's, from
        ``MODELWATCH_EVENTS_BUCKET``); without an events bucket only the rollout is returned.

        Raises
        ------
        RegistryConfigurationError
            No models bucket is configured.
        """
        manifests = self._models_bucket("rollout status reads")
        return rollouts.rollout_status(
            manifests, name, storage=self.storage, events_bucket=events_bucket or self.events_bucket
        )

    def promote_rollout(
        self,
        name: str,
        reason: str = "",
        actor: str | None = None,
        *,
        force: bool = False,
        check_serves: bool = True,
    ) -> PromotionResult:
        """Promote the rollout's candidate to production, through the registry's stages (``promote``).

        The new production manifest has no rollout; the rollout's last transition (``promote``,
        state ``promoted``) is recorded and returned in the result's ``rollout``. A candidate not
        in staging is refused unless ``force``; a rolled-back one too.

        Raises
        ------
        RolloutError
            No rollout, one already promoted, or (without ``force``) one rolled back.
        IllegalTransitionError, NotServableError, PromotionError, TrackingServerUnavailable
            As ``promote``.
        """
        rollout = rollouts.running_rollout(self._models_bucket("promoting a rollout"), name)
        if rollout.state == "promoted":
            raise RolloutError(f"rollout {rollout.id} of {name!r} is already promoted")
        if rollout.state == "rolled_back" and not force:
            raise RolloutError(
                f"rollout {rollout.id} of {name!r} was rolled back ({rollout.reason}): promote its "
                "candidate with force=True (--force) if that is really meant"
            )
        return self.promote(
            name,
            rollout.candidate.version,
            "production",
            reason=reason or f"rollout {rollout.id} promoted",
            force=force,
            actor=actor,
            check_serves=check_serves,
        )

    def stop_rollout(self, name: str, reason: str = "", actor: str | None = None) -> Rollout:
        """Stop the model's running rollout: share 0, state ``stopped``; the record stays in the manifest.

        Raises
        ------
        RolloutError
            No running rollout, or the manifest changed meanwhile.
        PromotionError
            The manifest write failed; the rollout runs on.
        """
        return rollouts.stop_rollout(
            self.backend,
            self._models_bucket("stopping a rollout"),
            name,
            actor=self._actor(actor),
            reason=reason,
        )

    def rollout_history(self, name: str) -> list[RolloutRecord]:
        """Every recorded start, advance, rollback, stop and promotion of the model's rollouts, oldest first.

        The registry's record (the model's MLflow tag ``modelwatch.rollout_history``) with the current
        rollout's transitions from the production manifest (the rollout job's among them).
        """
        manifests = (
            ManifestStore(self.storage, self.models_bucket, self.manifest_prefix)
            if self.models_bucket
            else None
        )
        return rollouts.rollout_history(self.backend, name, manifests)
