"""``ModelRegistry``: register, describe, compare and promote model versions in MLflow.

A version is registered from a model file (local, ``s3://``, ``runs:/`` or
``models:/``): the file is logged, with the version's input schema and reference
data profile, into a *registration run* of the experiment ``modelwatch-registry``,
and the version's source is that run's ``model/`` directory. Lineage (training
data URI, code revision, run, creator, created time), metrics, stage and the
history of transitions are version tags under ``modelwatch.``.

Promotion moves a version between stages (``stages`` module) with MLflow aliases
and, for a served alias, first publishes the serving manifest (``publishing``
module): if publishing fails, MLflow and serving are left as they were.

Everything goes through the registry's backend (``backend.RegistryBackend``); here
``mlflow_client.MlflowClientBackend``, which imports MLflow when a registry is created,
never on ``import modelwatch.registry``.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from modelwatch.contracts import layout
from modelwatch.contracts.layout import split_s3_uri
from modelwatch.contracts.manifest import Flavor, PredictionType, ServingManifest
from modelwatch.contracts.names import check_model_name
from modelwatch.contracts.schema import InputSchema, infer_input_schema
from modelwatch.registry import tags as tag
from modelwatch.registry.backend import RunRecord, VersionRecord
from modelwatch.registry.comparison import (
    ComparisonTable,
    VersionComparison,
    compare_model_versions,
    compare_versions,
)
from modelwatch.registry.errors import (
    ArtifactNotFoundError,
    IllegalTransitionError,
    RegistryConfigurationError,
    RegistryError,
    VersionNotFoundError,
)
from modelwatch.registry.publishing import publish_version, serving_details
from modelwatch.registry.stages import (
    ALIASED_STAGES,
    DISPLACED_TO,
    Stage,
    TransitionRecord,
    check_transition,
    current_stage,
    decode_history,
    parse_stage,
    record_transition,
)
from modelwatch.registry.training_data import coerce_columns, load_columns, rows_of
from modelwatch.stores import aws
from modelwatch.stores.artifacts import ArtifactStore
from modelwatch.stores.manifests import ManifestStore
from modelwatch.stores.objects import ObjectStorage, S3Storage

if TYPE_CHECKING:
    from modelwatch.registry.sync import SyncReport

T = TypeVar("T")

DEFAULT_SERVED_ALIASES: Final = ("staging", "production")
_FLAVOR_BY_SUFFIX: Final[dict[str, Flavor]] = {
    ".joblib": "sklearn",
    ".pkl": "sklearn",
    ".pickle": "sklearn",
    ".onnx": "onnx",
}
_MODEL_SUFFIXES: Final = tuple(_FLAVOR_BY_SUFFIX)


def default_actor() -> str:
    """Who acts: ``MODELWATCH_USER``, else the operating-system user."""
    explicit = os.environ.get("MODELWATCH_USER", "").strip()
    if explicit:
        return explicit
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def current_code_revision(cwd: Path | None = None) -> str | None:
    """The code revision: ``MODELWATCH_CODE_REVISION``, ``GITHUB_SHA``, else git's HEAD (None outside git)."""
    for name in ("MODELWATCH_CODE_REVISION", "GITHUB_SHA"):
        value = os.environ.get(name, "").strip()
        if value:
            return value
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=cwd or Path.cwd(),
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    revision = result.stdout.strip()
    return revision if result.returncode == 0 and revision else None


class ModelSummary(BaseModel):
    """A registered model in a listing."""

    model_config = ConfigDict(frozen=True)

    name: str
    aliases: dict[str, str]
    latest_version: str | None
    managed: bool = Field(description="Registered through modelwatch (the registry sync serves it).")
    description: str = ""
    updated_at: datetime | None = None


class ModelVersionInfo(BaseModel):
    """Everything modelwatch knows about one version."""

    model_config = ConfigDict(frozen=True, protected_namespaces=())

    name: str
    version: str
    uri: str = Field(description="models:/<name>/<version>")
    stage: Stage
    aliases: list[str]
    created_at: datetime | None
    run_id: str | None
    source: str
    flavor: str | None
    prediction_type: str | None
    servable: bool
    tags: dict[str, str] = Field(description="The user's tags (modelwatch's own are in the other fields).")
    lineage: dict[str, str]
    metrics: dict[str, float]
    history: list[TransitionRecord]
    description: str = ""


class PromotionResult(BaseModel):
    """What a promotion did: the transition, the manifest it published, the version it displaced."""

    model_config = ConfigDict(frozen=True, protected_namespaces=())

    name: str
    version: str
    transition: TransitionRecord
    manifest: ServingManifest | None = None
    manifest_uri: str | None = None
    displaced_version: str | None = None
    note: str = ""


def _set_http_retries(max_retries: int, timeout: float) -> None:
    """Bound MLflow's HTTP retries, so an unreachable server fails in seconds (the user's values win)."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", str(max_retries))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", "0.5")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(max(1, int(timeout))))


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
        boto3 client).
    manifest_prefix:
        Key prefix of manifests in the models bucket.
    served_aliases:
        Aliases whose promotion publishes a manifest.
    max_retries, timeout:
        HTTP retries (with exponential backoff) and per-request timeout in seconds, so an
        unreachable server fails in seconds (``MLFLOW_HTTP_REQUEST_*`` variables win when set).

    Raises
    ------
    RegistryConfigurationError
        The tracking URI cannot be used.
    """

    def __init__(
        self,
        tracking_uri: str | None = None,
        *,
        models_bucket: str | None = None,
        storage: ObjectStorage | None = None,
        manifest_prefix: str = layout.MANIFESTS_PREFIX,
        served_aliases: Sequence[str] = DEFAULT_SERVED_ALIASES,
        max_retries: int = 3,
        timeout: float = 10.0,
    ) -> None:
        uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI", "")
        if not uri:
            raise RegistryConfigurationError("no tracking URI: pass tracking_uri= or set MLFLOW_TRACKING_URI")
        _set_http_retries(max_retries, timeout)
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        from modelwatch.registry.mlflow_client import MlflowClientBackend

        self.backend = MlflowClientBackend(uri)
        self.models_bucket = models_bucket or os.environ.get("MODELWATCH_MODELS_BUCKET") or None
        self._storage = storage
        self.manifest_prefix = manifest_prefix
        self.served_aliases = tuple(served_aliases)

    @property
    def tracking_uri(self) -> str:
        """The tracking URI in use (without credentials)."""
        return self.backend.uri

    @property
    def storage(self) -> ObjectStorage:
        if self._storage is None:
            self._storage = S3Storage(aws.client("s3"))
        return self._storage

    # -- registration -------------------------------------------------------------------------

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
        check_model_name(name)
        created_at = datetime.now(UTC)
        with tempfile.TemporaryDirectory(prefix="modelwatch-register-") as tmp:
            staging = Path(tmp) / "model"
            source_run, source_tags = self._stage_model(str(model_path), staging, Path(tmp) / "download")
            model_file = _find_model_file(staging)
            flavor = flavor or (
                _FLAVOR_BY_SUFFIX.get(Path(model_file).suffix.lower()) if model_file else None
            )
            if flavor is not None and flavor not in ("sklearn", "onnx"):
                raise ValueError(f"unsupported flavor {flavor!r}: use sklearn or onnx")
            schema = _load_schema(input_schema)
            staged_schema = staging / tag.INPUT_SCHEMA_ARTIFACT
            if schema is None and training_data is None and staged_schema.is_file():
                schema = InputSchema.model_validate_json(staged_schema.read_bytes())
            columns = None
            data_uri = training_data_uri
            if training_data is not None:
                columns, file_uri = load_columns(training_data, self.storage)
                data_uri = data_uri or file_uri
                if schema is None:
                    schema = infer_input_schema(rows_of(columns, limit=10_000))
                columns = coerce_columns(columns, schema)
            version_tags: dict[str, str] = {**(tags or {})}
            if schema is not None:
                (staging / tag.INPUT_SCHEMA_ARTIFACT).write_text(schema.model_dump_json(indent=2))
                version_tags[tag.INPUT_SCHEMA_FILE] = tag.INPUT_SCHEMA_ARTIFACT
            if columns is not None:
                if _write_profile(columns, schema, staging / tag.PROFILE_ARTIFACT):
                    version_tags[tag.PROFILE_FILE] = tag.PROFILE_ARTIFACT
                else:
                    (staging / tag.PROFILE_ARTIFACT).unlink(missing_ok=True)
            elif (staging / tag.PROFILE_ARTIFACT).is_file():
                version_tags[tag.PROFILE_FILE] = tag.PROFILE_ARTIFACT
            if model_file:
                version_tags[tag.MODEL_FILE] = model_file
            if flavor:
                version_tags[tag.FLAVOR] = flavor
            version_tags[tag.PREDICTION_TYPE] = (
                prediction_type or source_tags.get(tag.PREDICTION_TYPE) or "value"
            )
            version_tags[tag.STAGE] = Stage.DEVELOPMENT.value
            run = self._log_registration_run(name, staging, metrics or {}, str(model_path))
            lineage = {
                tag.TRAINING_DATA_URI: data_uri,
                tag.CODE_REVISION: code_revision or current_code_revision(),
                tag.RUN_ID: source_run or run.run_id,
                tag.SOURCE_URI: str(model_path),
                tag.CREATOR: creator or default_actor(),
                tag.CREATED_AT: created_at.isoformat(),
            }
            version_tags.update({k: v for k, v in lineage.items() if v})
            for metric, value in (metrics or {}).items():
                version_tags[tag.METRIC_PREFIX + metric] = repr(float(value))
            self.backend.create_or_tag_model(name, {tag.MANAGED: "true"})
            created = self.backend.create_version(
                name,
                source=f"{run.artifact_uri.rstrip('/')}/model",
                run_id=run.run_id,
                tags=version_tags,
                description=description,
            )
        return f"models:/{name}/{created.version}"

    def _stage_model(
        self, model_path: str, staging: Path, download: Path
    ) -> tuple[str | None, dict[str, str]]:
        """Put the model into ``staging`` (a directory); return the source run id and version tags."""
        staging.mkdir(parents=True)
        if model_path.startswith("s3://"):
            bucket, key = split_s3_uri(model_path)
            self.storage.download(bucket, key, staging / Path(key).name)
            return None, {}
        if model_path.startswith(("runs:/", "models:/")):
            return self._stage_mlflow_model(model_path, staging, download)
        local = Path(model_path.removeprefix("file://")).expanduser()
        if local.is_file():
            shutil.copy2(local, staging / local.name)
        elif local.is_dir():
            shutil.copytree(local, staging, dirs_exist_ok=True)
        else:
            raise FileNotFoundError(f"model file not found: {local}")
        return None, {}

    def _stage_mlflow_model(
        self, model_path: str, staging: Path, download: Path
    ) -> tuple[str | None, dict[str, str]]:
        download.mkdir(parents=True, exist_ok=True)
        run_id: str | None
        source_tags: dict[str, str] = {}
        try:
            if model_path.startswith("runs:/"):
                run_id, _, path = model_path.removeprefix("runs:/").partition("/")
                local = self.backend.download_run_artifacts(run_id, path, download)
            else:
                parts = model_path.removeprefix("models:/").split("/")
                if len(parts) < 2 or not parts[0] or not parts[1]:
                    raise ValueError(f"expected models:/<name>/<version or alias>, got {model_path!r}")
                source = self.backend.get_version(parts[0], parts[1])
                run_id, source_tags = source.run_id, source.tags
                below = "/".join(parts[2:])
                local = self.backend.download_version_files(source.name, source.version, below, download)
        except ArtifactNotFoundError:
            raise RegistryError(f"nothing to register at {model_path}") from None
        if local.is_file():
            shutil.copy2(local, staging / local.name)
        else:
            shutil.copytree(local, staging, dirs_exist_ok=True)
        return run_id, source_tags

    def _log_registration_run(
        self, name: str, staging: Path, metrics: Mapping[str, float], source: str
    ) -> RunRecord:
        experiment = self.backend.get_or_create_experiment(tag.EXPERIMENT)
        run = self.backend.create_run(
            experiment,
            run_name=f"register-{name}",
            tags={"modelwatch.model_name": name, tag.SOURCE_URI: source},
        )
        try:
            self.backend.log_artifacts(run.run_id, staging, "model")
            for metric, value in metrics.items():
                self.backend.log_metric(run.run_id, metric, float(value))
        except BaseException:
            with contextlib.suppress(RegistryError):
                self.backend.finish_run(run.run_id, "FAILED")
            raise
        self.backend.finish_run(run.run_id)
        return run

    # -- metrics ------------------------------------------------------------------------------

    def log_metrics(self, name: str, version: str | int, metrics: Mapping[str, float]) -> None:
        """Record metrics on a version (as version tags, and on its run when it has one).

        Raises
        ------
        ModelNotFoundError, VersionNotFoundError, TrackingServerUnavailable
        """
        record = self.backend.get_version(name, str(version))
        for metric, value in metrics.items():
            number = float(value)
            self.backend.set_version_tag(name, record.version, tag.METRIC_PREFIX + metric, repr(number))
            if record.run_id:
                self.backend.log_metric(record.run_id, metric, number)

    def get_metrics(self, name: str, version: str | int) -> dict[str, float]:
        """The metrics of a version: those of its run, overridden by those recorded on the version.

        Raises
        ------
        ModelNotFoundError, VersionNotFoundError, TrackingServerUnavailable
        """
        record = self.backend.get_version(name, str(version))
        return self._metrics(record)

    def _metrics(self, record: VersionRecord) -> dict[str, float]:
        found: dict[str, float] = {}
        if record.run_id:
            found.update(self.backend.get_run_metrics(record.run_id))
        found.update(tag.metrics(record.tags))
        return found

    # -- reading ------------------------------------------------------------------------------

    def list_models(self) -> list[ModelSummary]:
        """Every registered model, by name."""
        summaries = []
        for model in sorted(self.backend.list_models(), key=lambda m: m.name):
            versions = self.backend.version_numbers(model.name)
            summaries.append(
                ModelSummary(
                    name=model.name,
                    aliases=model.aliases,
                    latest_version=versions[-1] if versions else None,
                    managed=model.tags.get(tag.MANAGED) == "true",
                    description=model.description,
                    updated_at=model.updated_at,
                )
            )
        return summaries

    def get_version(self, name: str, version: str | int) -> ModelVersionInfo:
        """A version (or the version an alias points at) with its stage, lineage, metrics and history.

        Raises
        ------
        ModelNotFoundError, VersionNotFoundError, TrackingServerUnavailable
        """
        record = self.backend.get_version(name, str(version))
        try:
            serving_details(record)
            servable = True
        except RegistryError:
            servable = False
        return ModelVersionInfo(
            name=record.name,
            version=record.version,
            uri=f"models:/{record.name}/{record.version}",
            stage=current_stage(record.tags),
            aliases=sorted(record.aliases),
            created_at=record.created_at,
            run_id=record.run_id,
            source=record.source,
            flavor=record.tags.get(tag.FLAVOR),
            prediction_type=record.tags.get(tag.PREDICTION_TYPE),
            servable=servable,
            tags=tag.user_tags(record.tags),
            lineage=tag.lineage(record.tags),
            metrics=self._metrics(record),
            history=decode_history(record.tags.get(tag.HISTORY)),
            description=record.description,
        )

    def list_versions(self, name: str) -> list[ModelVersionInfo]:
        """Every version of a model, oldest first.

        Raises
        ------
        ModelNotFoundError, TrackingServerUnavailable
        """
        self.backend.get_model(name)
        return [self.get_version(name, v) for v in self.backend.version_numbers(name)]

    def get_input_schema(self, name: str, version: str | int) -> InputSchema | None:
        """The version's input schema (None when it was registered without one)."""
        record = self.backend.get_version(name, str(version))
        path = record.tags.get(tag.INPUT_SCHEMA_FILE)
        if not path:
            return None
        with tempfile.TemporaryDirectory(prefix="modelwatch-schema-") as tmp:
            local = self.backend.download_version_artifact(name, record.version, path, Path(tmp))
            return InputSchema.model_validate_json(local.read_bytes())

    def get_reference_profile_json(self, name: str, version: str | int) -> str | None:
        """The version's reference data profile as JSON text (None when it has none)."""
        record = self.backend.get_version(name, str(version))
        path = record.tags.get(tag.PROFILE_FILE)
        if not path:
            return None
        with tempfile.TemporaryDirectory(prefix="modelwatch-profile-") as tmp:
            local = self.backend.download_version_artifact(name, record.version, path, Path(tmp))
            return local.read_text()

    def history(self, name: str, version: str | int | None = None) -> list[TransitionRecord]:
        """Transitions of one version, or the latest transitions of any version of the model."""
        if version is None:
            return decode_history(self.backend.get_model(name).tags.get(tag.MODEL_TRANSITIONS))
        return decode_history(self.backend.get_version(name, str(version)).tags.get(tag.HISTORY))

    # -- comparison ---------------------------------------------------------------------------

    def compare(
        self,
        model_name: str,
        version1: str | int,
        version2: str | int,
        metric: str,
        **options: Any,
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

    # -- lifecycle ----------------------------------------------------------------------------

    def promote(
        self,
        name: str,
        version: str | int,
        stage: Stage | str,
        *,
        reason: str = "",
        force: bool = False,
        actor: str | None = None,
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
        if not str(version).isdigit():
            raise IllegalTransitionError(f"promote a version number, not an alias ({version!r})")
        record = self.backend.get_version(name, str(version))
        current = current_stage(record.tags)
        check_transition(current, target, force=force)
        model = self.backend.get_model(name)
        who = actor or default_actor()
        manifest: ServingManifest | None = None
        manifest_uri: str | None = None
        note = ""
        if target.value in self.served_aliases:
            if self.models_bucket:
                manifest, manifest_uri = publish_version(
                    self.backend,
                    record,
                    target.value,
                    ManifestStore(self.storage, self.models_bucket, self.manifest_prefix),
                    ArtifactStore(self.storage),
                )
            else:
                serving_details(record)  # a served stage takes only servable versions
                note = "no models bucket configured: the alias moved, no manifest was published"
        displaced: str | None = None
        if target in ALIASED_STAGES:
            previous = model.aliases.get(target.value)
            self.backend.set_alias(name, target.value, record.version)
            if previous and previous != record.version:
                displaced = previous
        for other in ALIASED_STAGES:
            if other is not target and model.aliases.get(other.value) == record.version:
                self.backend.delete_alias(name, other.value)
        transition = TransitionRecord(
            version=record.version,
            from_stage=current,
            to_stage=target,
            actor=who,
            reason=reason,
            forced=force,
        )
        record_transition(self.backend, name, record.version, record.tags, transition)
        if displaced is not None and target in DISPLACED_TO:
            self._displace(name, displaced, target, record.version, who)
        return PromotionResult(
            name=name,
            version=record.version,
            transition=transition,
            manifest=manifest,
            manifest_uri=manifest_uri,
            displaced_version=displaced,
            note=note,
        )

    def _displace(self, name: str, version: str, stage: Stage, by: str, actor: str) -> None:
        try:
            previous = self.backend.get_version(name, version)
        except VersionNotFoundError:
            return
        if current_stage(previous.tags) is not stage:
            return
        record_transition(
            self.backend,
            name,
            version,
            previous.tags,
            TransitionRecord(
                version=version,
                from_stage=stage,
                to_stage=DISPLACED_TO[stage],
                actor=actor,
                reason=f"replaced in {stage.value} by version {by}",
            ),
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
        from modelwatch.registry.sync import reconcile_manifests

        if not self.models_bucket:
            raise RegistryConfigurationError(
                "no models bucket: pass models_bucket= or set MODELWATCH_MODELS_BUCKET"
            )
        return reconcile_manifests(
            self.backend,
            ManifestStore(self.storage, self.models_bucket, self.manifest_prefix),
            ArtifactStore(self.storage),
            aliases=self.served_aliases,
            models=models,
        )


def _find_model_file(directory: Path) -> str | None:
    """The model file of a staged model: the only .joblib/.pkl/.onnx file, at the top or one level down."""
    candidates = [p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in _MODEL_SUFFIXES]
    if not candidates:
        candidates = [p for p in directory.glob("*/*") if p.is_file() and p.suffix.lower() in _MODEL_SUFFIXES]
    if len(candidates) != 1:
        return None
    return candidates[0].relative_to(directory).as_posix()


def _load_schema(schema: InputSchema | str | Path | None) -> InputSchema | None:
    if schema is None or isinstance(schema, InputSchema):
        return schema
    path = Path(schema)
    if not path.is_file():
        raise FileNotFoundError(f"input schema not found: {path}")
    return InputSchema.model_validate_json(path.read_bytes())


def _write_profile(columns: dict[str, list[Any]], schema: InputSchema | None, target: Path) -> bool:
    """Profile the training data into ``target``; False when the profile module is not available."""
    try:
        from modelwatch.monitoring.profile import profile_dataset  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return False
    profile = profile_dataset(columns, schema)
    target.write_text(profile.model_dump_json())
    return True
