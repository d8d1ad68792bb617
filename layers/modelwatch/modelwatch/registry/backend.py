"""Everything the registry asks of MLflow, behind one interface, and the records it answers with.

Three implementations:

- ``rest.MlflowRestClient``: MLflow's REST API 2.0 and the server's artifact proxy, with
  the standard library only. ``ModelRegistry`` uses it for ``http(s)://`` tracking URIs; the
  registry-sync function uses it because it must stay free of the 600 MB MLflow package.
- ``mlflow_client.MlflowClientBackend``: ``mlflow.MlflowClient``, for every other tracking
  URI (SQLite, a directory, a database, Databricks, a SageMaker MLflow ARN).
- ``memory.InMemoryRegistryBackend``: in memory, for unit tests.

Every method raises the registry's typed errors: ``ModelNotFoundError``,
``VersionNotFoundError``, ``ArtifactNotFoundError``, ``TrackingServerUnavailable`` (after
retries), else ``RegistryError``. Versions are passed as text: a number, or where said, an alias.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, Protocol
from urllib.parse import urlsplit, urlunsplit

RunStatus = Literal["FINISHED", "FAILED"]


@dataclass(frozen=True)
class ModelRecord:
    """A registered model: its name, aliases (alias to version) and tags."""

    name: str
    aliases: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    description: str = ""
    updated_at: datetime | None = None


@dataclass(frozen=True)
class VersionRecord:
    """One model version as MLflow stores it."""

    name: str
    version: str
    source: str
    run_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    created_at: datetime | None = None
    description: str = ""


@dataclass(frozen=True)
class RunRecord:
    """A run of the tracking server: where its artifacts go."""

    run_id: str
    experiment_id: str
    artifact_uri: str


class RegistryBackend(Protocol):
    """Models, versions, aliases, and the runs registrations are logged in."""

    @property
    def uri(self) -> str:
        """The tracking URI, without credentials (safe to print)."""
        ...

    # -- registered models ----------------------------------------------------------------------

    def list_models(self) -> list[ModelRecord]:
        """Every registered model (prompts excluded)."""
        ...

    def get_model(self, name: str) -> ModelRecord:
        """Raise ``ModelNotFoundError`` when it does not exist."""
        ...

    def create_or_tag_model(self, name: str, tags: Mapping[str, str]) -> None:
        """Create the model with ``tags``, or set ``tags`` on it when it exists already."""
        ...

    def set_model_tag(self, name: str, key: str, value: str) -> None: ...

    # -- versions -------------------------------------------------------------------------------

    def version_numbers(self, name: str) -> list[str]:
        """The model's version numbers, oldest first (none for an unknown model)."""
        ...

    def get_version(self, name: str, version: str) -> VersionRecord:
        """A version by number, or the version an alias points at.

        Raises ``ModelNotFoundError``, or ``VersionNotFoundError`` listing the versions there are.
        """
        ...

    def create_version(
        self, name: str, source: str, run_id: str, tags: Mapping[str, str], description: str = ""
    ) -> VersionRecord:
        """Create the next version of ``name`` from ``source`` (artifact URI); return it once READY."""
        ...

    def set_version_tag(self, name: str, version: str, key: str, value: str) -> None: ...

    def download_version_artifact(self, name: str, version: str, path: str, destination: Path) -> Path:
        """Download the file ``path`` (relative to the version's artifact directory) into ``destination``."""
        ...

    def download_version_files(self, name: str, version: str, path: str, destination: Path) -> Path:
        """Download the version's files under ``path`` (``""``: all of them) into ``destination``.

        Returns the downloaded file, or the directory holding what was under ``path``.
        """
        ...

    # -- aliases --------------------------------------------------------------------------------

    def set_alias(self, name: str, alias: str, version: str) -> None:
        """Point ``alias`` at ``version`` (an alias names one version of a model)."""
        ...

    def delete_alias(self, name: str, alias: str) -> None: ...

    # -- experiments and runs -------------------------------------------------------------------

    def get_or_create_experiment(self, name: str) -> str:
        """The id of experiment ``name``, created when it does not exist."""
        ...

    def create_run(self, experiment_id: str, run_name: str, tags: Mapping[str, str]) -> RunRecord:
        """Start a run in the experiment."""
        ...

    def log_artifacts(self, run_id: str, local_dir: Path, artifact_path: str) -> None:
        """Upload every file under ``local_dir`` to ``artifact_path`` of the run's artifacts."""
        ...

    def log_metric(self, run_id: str, key: str, value: float) -> None: ...

    def finish_run(self, run_id: str, status: RunStatus = "FINISHED") -> None:
        """End the run with ``status``."""
        ...

    def get_run_metrics(self, run_id: str) -> dict[str, float]:
        """The latest value of each metric of the run (``RegistryError`` when the run does not exist)."""
        ...

    def download_run_artifacts(self, run_id: str, path: str, destination: Path) -> Path:
        """Download the run's artifact file or directory ``path`` (``""``: all) into ``destination``."""
        ...


def from_millis(value: object) -> datetime | None:
    """A datetime from MLflow's epoch milliseconds (None when absent)."""
    if value in (None, "", 0):
        return None
    try:
        return datetime.fromtimestamp(int(str(value)) / 1000, tz=UTC)
    except (TypeError, ValueError):
        return None


def redact_uri(uri: str) -> str:
    """``uri`` without user name and password, safe to print and to store in a manifest."""
    parts = urlsplit(uri)
    if parts.username is None and parts.password is None:
        return uri
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
