"""``MlflowClientBackend``: the registry backend over ``mlflow.MlflowClient``, for non-HTTP tracking URIs.

``ModelRegistry`` uses it for SQLite files, directories, ``file:`` stores, databases,
Databricks and SageMaker MLflow ARNs (an ``http(s)://`` server goes through the
lighter ``rest.MlflowRestClient``). Importing this module imports MLflow (~1.5 s).

MLflow's own environment variables apply here and nothing sets them for you:
``MLFLOW_HTTP_REQUEST_MAX_RETRIES`` / ``_BACKOFF_FACTOR`` / ``_TIMEOUT`` for the HTTP calls
MLflow makes (Databricks, SageMaker), and ``MLFLOW_DISABLE_TELEMETRY=true`` to turn
MLflow's usage telemetry off.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlparse

from mlflow import MlflowClient
from mlflow.artifacts import download_artifacts
from mlflow.exceptions import MlflowException

from modelwatch.registry.backend import (
    ModelRecord,
    RunRecord,
    RunStatus,
    VersionRecord,
    from_millis,
    redact_uri,
)
from modelwatch.registry.errors import (
    ArtifactNotFoundError,
    ModelNotFoundError,
    RegistryConfigurationError,
    RegistryError,
    TrackingServerUnavailable,
    VersionNotFoundError,
)

_CONNECTION_HINTS: Final = (
    "max retries exceeded",
    "failed to establish a new connection",
    "connection refused",
    "connection aborted",
    "read timed out",
    "timed out",
    "name or service not known",
    "temporary failure in name resolution",
    "remote end closed connection",
)


def normalise_tracking_uri(uri: str) -> tuple[str, Path | None]:
    """Return the URI MLflow gets, and the local artifact directory for SQLite, file or path URIs.

    Raises
    ------
    RegistryConfigurationError
        An in-memory SQLite database, an unsupported scheme, or a SageMaker ARN without its plugin.
    """
    parsed = urlparse(uri)
    if parsed.scheme in ("http", "https", "databricks", "databricks-uc", "uc"):
        return uri, None
    if parsed.scheme == "arn":
        if ":sagemaker:" in uri:
            if importlib.util.find_spec("sagemaker_mlflow") is None:
                raise RegistryConfigurationError(
                    f"tracking URI {uri} is a SageMaker MLflow ARN: install the plugin "
                    "(pip install sagemaker-mlflow) to use it"
                )
            return uri, None
        raise RegistryConfigurationError(f"unsupported ARN tracking URI {uri}")
    if parsed.scheme == "sqlite":
        database = uri.removeprefix("sqlite:///")
        if database in ("", ":memory:"):
            raise RegistryConfigurationError("use a sqlite database file, not an in-memory database")
        path = Path("/" + database.lstrip("/") if uri.startswith("sqlite:////") else database).resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{path}", path.parent / "artifacts"
    if parsed.scheme in ("postgresql", "mysql", "mssql") or parsed.scheme.startswith(
        ("postgresql+", "mysql+", "mssql+")
    ):
        return uri, None
    if parsed.scheme == "file":
        path = Path(parsed.path).resolve()
        return path.as_uri(), path / "artifacts"
    if parsed.scheme and len(parsed.scheme) > 1:
        raise RegistryConfigurationError(
            f"unsupported tracking URI {redact_uri(uri)}: use http(s)://, sqlite:///, a file path, "
            "a database URI or a SageMaker MLflow ARN"
        )
    path = Path(uri).expanduser().resolve()
    if path.suffix == ".db":
        path.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{path}", path.parent / "artifacts"
    path.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path / 'mlflow.db'}", path / "artifacts"


class MlflowClientBackend:
    """``RegistryBackend`` over ``mlflow.MlflowClient``, mapping MLflow's errors to the registry's.

    Parameters
    ----------
    tracking_uri:
        Any tracking URI MLflow supports; SQLite, ``file:`` and plain paths are normalised
        (a directory gets ``mlflow.db`` and ``artifacts/`` inside it).
    client:
        An ``MlflowClient`` to use instead of a new one (tests).

    Raises
    ------
    RegistryConfigurationError
        The tracking URI cannot be used.
    """

    def __init__(self, tracking_uri: str, *, client: MlflowClient | None = None) -> None:
        self._uri, self._artifact_root = normalise_tracking_uri(tracking_uri)
        self.client = client or MlflowClient(tracking_uri=self._uri, registry_uri=self._uri)

    @property
    def uri(self) -> str:
        return redact_uri(self._uri)

    @contextmanager
    def _errors(self, not_found: Callable[[], RegistryError] | None = None) -> Iterator[None]:
        """Turn MLflow and connection errors raised inside into the registry's typed errors."""
        try:
            yield
        except MlflowException as error:
            code = str(getattr(error, "error_code", ""))
            message = str(getattr(error, "message", error))
            lowered = message.lower()
            missing = code == "RESOURCE_DOES_NOT_EXIST" or (
                code == "INVALID_PARAMETER_VALUE" and "alias" in lowered and "not found" in lowered
            )
            if missing and not_found is not None:
                raise not_found() from None
            if any(hint in lowered for hint in _CONNECTION_HINTS) or code == "TEMPORARILY_UNAVAILABLE":
                raise TrackingServerUnavailable(self.uri, _first_line(message)) from None
            raise RegistryError(f"MLflow ({self.uri}): {_first_line(message)}") from None
        except OSError as error:  # requests' ConnectionError is an OSError
            raise TrackingServerUnavailable(self.uri, _first_line(str(error))) from None

    # -- registered models ----------------------------------------------------------------------

    def list_models(self) -> list[ModelRecord]:
        with self._errors():
            models = self.client.search_registered_models(max_results=1000)
            records = [_model_record(m) for m in models]
            token = getattr(models, "token", None)
            while token:
                models = self.client.search_registered_models(max_results=1000, page_token=token)
                records.extend(_model_record(m) for m in models)
                token = getattr(models, "token", None)
        return records

    def get_model(self, name: str) -> ModelRecord:
        with self._errors(lambda: ModelNotFoundError(name)):
            return _model_record(self.client.get_registered_model(name))

    def create_or_tag_model(self, name: str, tags: Mapping[str, str]) -> None:
        with self._errors():
            try:
                self.client.create_registered_model(name, tags=dict(tags))
            except MlflowException as error:
                if getattr(error, "error_code", "") != "RESOURCE_ALREADY_EXISTS":
                    raise
                for key, value in tags.items():
                    self.client.set_registered_model_tag(name, key, value)

    def set_model_tag(self, name: str, key: str, value: str) -> None:
        with self._errors(lambda: ModelNotFoundError(name)):
            self.client.set_registered_model_tag(name, key, value)

    # -- versions -------------------------------------------------------------------------------

    def version_numbers(self, name: str) -> list[str]:
        with self._errors(lambda: ModelNotFoundError(name)):
            found = self.client.search_model_versions(f"name = '{name}'", max_results=10_000)
        return sorted((str(v.version) for v in found), key=lambda v: (len(v), v))

    def get_version(self, name: str, version: str) -> VersionRecord:
        def missing() -> RegistryError:
            model = self.get_model(name)  # raises ModelNotFoundError
            return VersionNotFoundError(name, version, self.version_numbers(model.name))

        with self._errors(missing):
            if version.isdigit():
                found = self.client.get_model_version(name, version)
            else:
                found = self.client.get_model_version_by_alias(name, version)
        return _version_record(found)

    def create_version(
        self, name: str, source: str, run_id: str, tags: Mapping[str, str], description: str = ""
    ) -> VersionRecord:
        with self._errors(lambda: ModelNotFoundError(name)):
            created = self.client.create_model_version(
                name, source=source, run_id=run_id, tags=dict(tags), description=description or None
            )
        return _version_record(created)

    def set_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        with self._errors(lambda: VersionNotFoundError(name, version)):
            self.client.set_model_version_tag(name, version, key, value)

    def _version_uri(self, name: str, version: str, path: str) -> str:
        with self._errors(lambda: VersionNotFoundError(name, version)):
            base = str(self.client.get_model_version_download_uri(name, version))
        return f"{base.rstrip('/')}/{path}" if path else base

    def download_version_artifact(self, name: str, version: str, path: str, destination: Path) -> Path:
        uri = self._version_uri(name, version, path)
        missing = f"version {version} of model {name!r} has no artifact {path!r}"
        return self._download(uri, destination, missing)

    def download_version_files(self, name: str, version: str, path: str, destination: Path) -> Path:
        uri = self._version_uri(name, version, path)
        return self._download(
            uri, destination, f"version {version} of model {name!r} has nothing at {path!r}"
        )

    def _download(self, uri: str, destination: Path, missing: str) -> Path:
        destination.mkdir(parents=True, exist_ok=True)
        with self._errors(lambda: ArtifactNotFoundError(missing)):
            try:
                local = download_artifacts(
                    artifact_uri=uri, dst_path=str(destination), tracking_uri=self._uri
                )
            except FileNotFoundError:  # a local artifact store: no such file
                raise ArtifactNotFoundError(missing) from None
        return Path(local)

    # -- aliases --------------------------------------------------------------------------------

    def set_alias(self, name: str, alias: str, version: str) -> None:
        with self._errors(lambda: VersionNotFoundError(name, version)):
            self.client.set_registered_model_alias(name, alias, version)

    def delete_alias(self, name: str, alias: str) -> None:
        with self._errors(lambda: ModelNotFoundError(name)):
            self.client.delete_registered_model_alias(name, alias)

    # -- experiments and runs -------------------------------------------------------------------

    def get_or_create_experiment(self, name: str) -> str:
        with self._errors():
            found = self.client.get_experiment_by_name(name)
            if found is not None:
                return str(found.experiment_id)
            location = None
            if self._artifact_root is not None:
                self._artifact_root.mkdir(parents=True, exist_ok=True)
                location = self._artifact_root.as_uri()
            try:
                return str(self.client.create_experiment(name, artifact_location=location))
            except MlflowException:
                found = self.client.get_experiment_by_name(name)  # created concurrently
                if found is None:
                    raise
                return str(found.experiment_id)

    def create_run(self, experiment_id: str, run_name: str, tags: Mapping[str, str]) -> RunRecord:
        with self._errors():
            run = self.client.create_run(experiment_id, run_name=run_name, tags=dict(tags))
        return RunRecord(str(run.info.run_id), str(run.info.experiment_id), str(run.info.artifact_uri))

    def log_artifacts(self, run_id: str, local_dir: Path, artifact_path: str) -> None:
        with self._errors():
            self.client.log_artifacts(run_id, str(local_dir), artifact_path=artifact_path or None)

    def log_metric(self, run_id: str, key: str, value: float) -> None:
        with self._errors(lambda: RegistryError(f"run {run_id} not found")):
            self.client.log_metric(run_id, key, float(value))

    def finish_run(self, run_id: str, status: RunStatus = "FINISHED") -> None:
        with self._errors(lambda: RegistryError(f"run {run_id} not found")):
            self.client.set_terminated(run_id, status=status)

    def get_run_metrics(self, run_id: str) -> dict[str, float]:
        with self._errors(lambda: RegistryError(f"run {run_id} not found")):
            return {str(k): float(v) for k, v in self.client.get_run(run_id).data.metrics.items()}

    def download_run_artifacts(self, run_id: str, path: str, destination: Path) -> Path:
        uri = f"runs:/{run_id}/{path}" if path else f"runs:/{run_id}"
        return self._download(uri, destination, f"run {run_id} has no artifact {path!r}")


def _first_line(message: str) -> str:
    line = message.strip().splitlines()[0] if message.strip() else ""
    return line[:300]


def _model_record(model: Any) -> ModelRecord:
    return ModelRecord(
        name=str(model.name),
        aliases={str(k): str(v) for k, v in (model.aliases or {}).items()},
        tags=dict(model.tags or {}),
        description=str(model.description or ""),
        updated_at=from_millis(model.last_updated_timestamp),
    )


def _version_record(found: Any) -> VersionRecord:
    return VersionRecord(
        name=str(found.name),
        version=str(found.version),
        source=str(found.source or ""),
        run_id=str(found.run_id) if found.run_id else None,
        tags=dict(found.tags or {}),
        aliases=tuple(str(a) for a in (found.aliases or ())),
        created_at=from_millis(found.creation_timestamp),
        description=str(found.description or ""),
    )
