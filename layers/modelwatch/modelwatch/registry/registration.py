"""Registration: a model file becomes a version, with its schema, reference profile, lineage and metrics.

The model (a local file or directory, ``s3://``, ``runs:/`` or ``models:/``) is staged in
a temporary directory with ``input_schema.json`` and ``reference_profile.json``, logged
into a *registration run* of the experiment ``modelwatch-registry``, and the version's
source is that run's ``model/`` directory. Lineage (training data URI, code revision,
run, source, creator, created time), metrics, flavour, prediction type and stage are
version tags under ``modelwatch.``; the model is tagged ``modelwatch.managed=true``.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from modelwatch.contracts.layout import split_s3_uri
from modelwatch.contracts.manifest import Flavor, PredictionType
from modelwatch.contracts.names import check_model_name
from modelwatch.contracts.schema import InputSchema, infer_input_schema
from modelwatch.registry import tags as tag
from modelwatch.registry.backend import RegistryBackend, RunRecord
from modelwatch.registry.errors import ArtifactNotFoundError, RegistryError
from modelwatch.registry.stages import Stage
from modelwatch.registry.training_data import coerce_columns, load_columns, rows_of
from modelwatch.stores.objects import ObjectStorage

FLAVOR_BY_SUFFIX: Final[dict[str, Flavor]] = {
    ".joblib": "sklearn",
    ".pkl": "sklearn",
    ".pickle": "sklearn",
    ".onnx": "onnx",
}
_MODEL_SUFFIXES: Final = tuple(FLAVOR_BY_SUFFIX)


def git_revision(cwd: Path | None = None) -> str | None:
    """git's HEAD in ``cwd`` (default: the working directory); None outside git."""
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


def register_model(
    backend: RegistryBackend,
    storage: Callable[[], ObjectStorage],
    model_path: str | Path,
    name: str,
    tags: Mapping[str, str] | None = None,
    *,
    creator: str,
    code_revision: str | None,
    flavor: Flavor | None = None,
    prediction_type: PredictionType | None = None,
    input_schema: InputSchema | str | Path | None = None,
    training_data: Mapping[str, Sequence[Any]] | str | Path | None = None,
    training_data_uri: str | None = None,
    metrics: Mapping[str, float] | None = None,
    description: str = "",
) -> str:
    """Register a new version of ``name`` and return its ``models:/<name>/<version>`` URI.

    The parameters are those of :meth:`modelwatch.registry.ModelRegistry.register_model`,
    with ``storage`` (called only for ``s3://`` inputs) and the lineage's ``creator`` and
    ``code_revision`` given.

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
    source_uri = str(model_path)
    with tempfile.TemporaryDirectory(prefix="modelwatch-register-") as tmp:
        staging = Path(tmp) / "model"
        source_run, source_tags = _stage_model(backend, storage, source_uri, staging, Path(tmp) / "download")
        model_file = _find_model_file(staging)
        flavor = flavor or (FLAVOR_BY_SUFFIX.get(Path(model_file).suffix.lower()) if model_file else None)
        if flavor is not None and flavor not in ("sklearn", "onnx"):
            raise ValueError(f"unsupported flavor {flavor!r}: use sklearn or onnx")
        schema = _load_schema(input_schema)
        staged_schema = staging / tag.INPUT_SCHEMA_ARTIFACT
        if schema is None and training_data is None and staged_schema.is_file():
            schema = InputSchema.model_validate_json(staged_schema.read_bytes())
        columns = None
        data_uri = training_data_uri
        if training_data is not None:
            on_s3 = isinstance(training_data, str | Path) and str(training_data).startswith("s3://")
            columns, file_uri = load_columns(training_data, storage() if on_s3 else None)
            data_uri = data_uri or file_uri
            if schema is None:
                schema = infer_input_schema(rows_of(columns, limit=10_000))
            columns = coerce_columns(columns, schema)
        version_tags: dict[str, str] = {**(tags or {})}
        if schema is not None:
            staged_schema.write_text(schema.model_dump_json(indent=2))
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
        version_tags[tag.PREDICTION_TYPE] = prediction_type or source_tags.get(tag.PREDICTION_TYPE) or "value"
        version_tags[tag.STAGE] = Stage.DEVELOPMENT.value
        run = _log_registration_run(backend, name, staging, metrics or {}, source_uri)
        lineage = {
            tag.TRAINING_DATA_URI: data_uri,
            tag.CODE_REVISION: code_revision,
            tag.RUN_ID: source_run or run.run_id,
            tag.SOURCE_URI: source_uri,
            tag.CREATOR: creator,
            tag.CREATED_AT: created_at.isoformat(),
        }
        version_tags.update({k: v for k, v in lineage.items() if v})
        for metric, value in (metrics or {}).items():
            version_tags[tag.METRIC_PREFIX + metric] = repr(float(value))
        backend.create_or_tag_model(name, {tag.MANAGED: "true"})
        created = backend.create_version(
            name,
            source=f"{run.artifact_uri.rstrip('/')}/model",
            run_id=run.run_id,
            tags=version_tags,
            description=description,
        )
    return f"models:/{name}/{created.version}"


def record_metrics(backend: RegistryBackend, name: str, version: str, metrics: Mapping[str, float]) -> None:
    """Record metrics on a version: as version tags, and on its run when it has one.

    Raises
    ------
    ModelNotFoundError, VersionNotFoundError, TrackingServerUnavailable
    """
    record = backend.get_version(name, version)
    for metric, value in metrics.items():
        number = float(value)
        backend.set_version_tag(name, record.version, tag.METRIC_PREFIX + metric, repr(number))
        if record.run_id:
            backend.log_metric(record.run_id, metric, number)


def _stage_model(
    backend: RegistryBackend,
    storage: Callable[[], ObjectStorage],
    model_path: str,
    staging: Path,
    download: Path,
) -> tuple[str | None, dict[str, str]]:
    """Put the model into ``staging`` (a directory); return the source run id and version tags."""
    staging.mkdir(parents=True)
    if model_path.startswith("s3://"):
        bucket, key = split_s3_uri(model_path)
        storage().download(bucket, key, staging / Path(key).name)
        return None, {}
    if model_path.startswith(("runs:/", "models:/")):
        return _stage_mlflow_model(backend, model_path, staging, download)
    local = Path(model_path.removeprefix("file://")).expanduser()
    if local.is_file():
        shutil.copy2(local, staging / local.name)
    elif local.is_dir():
        shutil.copytree(local, staging, dirs_exist_ok=True)
    else:
        raise FileNotFoundError(f"model file not found: {local}")
    return None, {}


def _stage_mlflow_model(
    backend: RegistryBackend, model_path: str, staging: Path, download: Path
) -> tuple[str | None, dict[str, str]]:
    """Stage a ``runs:/<run>/<path>`` or ``models:/<name>/<version or alias>[/<path>]`` model."""
    download.mkdir(parents=True, exist_ok=True)
    run_id: str | None
    source_tags: dict[str, str] = {}
    try:
        if model_path.startswith("runs:/"):
            run_id, _, path = model_path.removeprefix("runs:/").partition("/")
            local = backend.download_run_artifacts(run_id, path, download)
        else:
            parts = model_path.removeprefix("models:/").split("/")
            if len(parts) < 2 or not parts[0] or not parts[1]:
                raise ValueError(f"expected models:/<name>/<version or alias>, got {model_path!r}")
            source = backend.get_version(parts[0], parts[1])
            run_id, source_tags = source.run_id, source.tags
            local = backend.download_version_files(source.name, source.version, "/".join(parts[2:]), download)
    except ArtifactNotFoundError:
        raise RegistryError(f"nothing to register at {model_path}") from None
    if local.is_file():
        shutil.copy2(local, staging / local.name)
    else:
        shutil.copytree(local, staging, dirs_exist_ok=True)
    return run_id, source_tags


def _log_registration_run(
    backend: RegistryBackend, name: str, staging: Path, metrics: Mapping[str, float], source: str
) -> RunRecord:
    """Log the staged files and the metrics into a new run of the registration experiment."""
    experiment = backend.get_or_create_experiment(tag.EXPERIMENT)
    run = backend.create_run(
        experiment, run_name=f"register-{name}", tags={"modelwatch.model_name": name, tag.SOURCE_URI: source}
    )
    try:
        backend.log_artifacts(run.run_id, staging, "model")
        for metric, value in metrics.items():
            backend.log_metric(run.run_id, metric, float(value))
    except BaseException:
        with contextlib.suppress(RegistryError):
            backend.finish_run(run.run_id, "FAILED")
        raise
    backend.finish_run(run.run_id)
    return run


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
