"""``InMemoryRegistryBackend``: the registry backend in memory, with MLflow's shape, for unit tests.

Models, versions, aliases, tags, experiments, runs with metrics, and artifact files
(kept by artifact URI, so a version created from a run's ``model/`` directory reads
that run's files, as in MLflow). ``down = True`` makes every call raise
``TrackingServerUnavailable``, like a tracking server that does not answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from modelwatch.registry import tags as tag
from modelwatch.registry.backend import ModelRecord, RunRecord, RunStatus, VersionRecord
from modelwatch.registry.errors import (
    ArtifactNotFoundError,
    ModelNotFoundError,
    RegistryError,
    TrackingServerUnavailable,
    VersionNotFoundError,
)


@dataclass
class _Run:
    record: RunRecord
    tags: dict[str, str]
    status: str = "RUNNING"
    metrics: dict[str, float] = field(default_factory=dict)


class InMemoryRegistryBackend:
    """Implements ``RegistryBackend`` in memory.

    Parameters
    ----------
    uri:
        What ``uri`` answers (error messages and manifests name it).
    """

    def __init__(self, uri: str = "memory://mlflow") -> None:
        self._uri = uri
        self.down = False
        self._models: dict[str, ModelRecord] = {}
        self._versions: dict[tuple[str, str], VersionRecord] = {}
        self._experiments: dict[str, str] = {}
        self._runs: dict[str, _Run] = {}
        self.files: dict[str, bytes] = {}  # artifact URI -> content

    @property
    def uri(self) -> str:
        return self._uri

    def _check(self) -> None:
        if self.down:
            raise TrackingServerUnavailable(self._uri, "connection refused")

    # -- seeding (tests) ------------------------------------------------------------------------

    def add_version(
        self,
        name: str,
        version: str,
        tags: Mapping[str, str],
        files: Mapping[str, bytes],
        managed: bool = True,
        run_id: str | None = None,
    ) -> VersionRecord:
        """Put a version with its files straight into the registry (the model is created if need be).

        ``run_id`` names a run of this backend (``create_run``) whose metrics the version has; by
        default the version has no run.
        """
        if name not in self._models:
            self._models[name] = ModelRecord(name=name, tags={tag.MANAGED: "true"} if managed else {})
        source = f"memory://models/{name}/{version}"
        record = VersionRecord(
            name=name,
            version=version,
            source=source,
            run_id=run_id,
            tags=dict(tags),
            created_at=datetime.now(UTC),
        )
        self._versions[(name, version)] = record
        for path, content in files.items():
            self.files[f"{source}/{path}"] = content
        return record

    # -- registered models ----------------------------------------------------------------------

    def list_models(self) -> list[ModelRecord]:
        self._check()
        return list(self._models.values())

    def get_model(self, name: str) -> ModelRecord:
        self._check()
        if name not in self._models:
            raise ModelNotFoundError(name)
        return self._models[name]

    def create_or_tag_model(self, name: str, tags: Mapping[str, str]) -> None:
        self._check()
        model = self._models.get(name, ModelRecord(name=name))
        self._models[name] = replace(model, tags={**model.tags, **tags}, updated_at=datetime.now(UTC))

    def set_model_tag(self, name: str, key: str, value: str) -> None:
        model = self.get_model(name)
        self._models[name] = replace(model, tags={**model.tags, key: value}, updated_at=datetime.now(UTC))

    # -- versions -------------------------------------------------------------------------------

    def version_numbers(self, name: str) -> list[str]:
        self._check()
        return sorted((v for (n, v) in self._versions if n == name), key=lambda v: (len(v), v))

    def get_version(self, name: str, version: str) -> VersionRecord:
        model = self.get_model(name)
        number = version if version.isdigit() else model.aliases.get(version)
        record = self._versions.get((name, number or ""))
        if record is None:
            raise VersionNotFoundError(name, version, self.version_numbers(name))
        aliases = tuple(sorted(a for a, v in model.aliases.items() if v == record.version))
        return replace(record, aliases=aliases)

    def create_version(
        self, name: str, source: str, run_id: str, tags: Mapping[str, str], description: str = ""
    ) -> VersionRecord:
        self.get_model(name)
        numbers = self.version_numbers(name)
        version = str(int(numbers[-1]) + 1) if numbers else "1"
        self._versions[(name, version)] = VersionRecord(
            name=name,
            version=version,
            source=source,
            run_id=run_id,
            tags=dict(tags),
            created_at=datetime.now(UTC),
            description=description,
        )
        return self.get_version(name, version)

    def set_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        record = self.get_version(name, version)
        self._versions[(name, record.version)] = replace(record, tags={**record.tags, key: value}, aliases=())

    def download_version_artifact(self, name: str, version: str, path: str, destination: Path) -> Path:
        record = self.get_version(name, version)
        uri = f"{record.source}/{path}"
        if uri not in self.files:
            raise ArtifactNotFoundError(f"version {version} of model {name!r} has no artifact {path!r}")
        return self._write(uri, destination / Path(path).name)

    def download_version_files(self, name: str, version: str, path: str, destination: Path) -> Path:
        record = self.get_version(name, version)
        return self._download_tree(_join(record.source, path), destination)

    # -- aliases --------------------------------------------------------------------------------

    def set_alias(self, name: str, alias: str, version: str) -> None:
        model = self.get_model(name)
        if (name, version) not in self._versions:
            raise VersionNotFoundError(name, version, self.version_numbers(name))
        self._models[name] = replace(model, aliases={**model.aliases, alias: version})

    def delete_alias(self, name: str, alias: str) -> None:
        model = self.get_model(name)
        self._models[name] = replace(model, aliases={a: v for a, v in model.aliases.items() if a != alias})

    # -- experiments and runs -------------------------------------------------------------------

    def get_or_create_experiment(self, name: str) -> str:
        self._check()
        return self._experiments.setdefault(name, str(len(self._experiments) + 1))

    def create_run(self, experiment_id: str, run_name: str, tags: Mapping[str, str]) -> RunRecord:
        self._check()
        if experiment_id not in self._experiments.values():
            raise RegistryError(f"experiment {experiment_id} not found")
        run_id = f"r{len(self._runs) + 1:04d}"
        record = RunRecord(run_id, experiment_id, f"memory://runs/{run_id}/artifacts")
        self._runs[run_id] = _Run(record, {"mlflow.runName": run_name, **tags})
        return record

    def _run(self, run_id: str) -> _Run:
        self._check()
        if run_id not in self._runs:
            raise RegistryError(f"run {run_id} not found")
        return self._runs[run_id]

    def run_ids(self) -> list[str]:
        """Every run, oldest first (tests look)."""
        return list(self._runs)

    def run_status(self, run_id: str) -> str:
        """``RUNNING``, ``FINISHED`` or ``FAILED`` (tests look)."""
        return self._run(run_id).status

    def log_artifacts(self, run_id: str, local_dir: Path, artifact_path: str) -> None:
        root = _join(self._run(run_id).record.artifact_uri, artifact_path)
        for path in sorted(local_dir.rglob("*")):
            if path.is_file():
                self.files[f"{root}/{path.relative_to(local_dir).as_posix()}"] = path.read_bytes()

    def log_metric(self, run_id: str, key: str, value: float) -> None:
        self._run(run_id).metrics[key] = float(value)

    def finish_run(self, run_id: str, status: RunStatus = "FINISHED") -> None:
        self._run(run_id).status = status

    def get_run_metrics(self, run_id: str) -> dict[str, float]:
        return dict(self._run(run_id).metrics)

    def download_run_artifacts(self, run_id: str, path: str, destination: Path) -> Path:
        return self._download_tree(_join(self._run(run_id).record.artifact_uri, path), destination)

    # -- artifact files -------------------------------------------------------------------------

    def _write(self, uri: str, target: Path) -> Path:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(self.files[uri])
        return target

    def _download_tree(self, uri: str, destination: Path) -> Path:
        name = uri.rstrip("/").rsplit("/", 1)[-1]
        if uri in self.files:
            return self._write(uri, destination / name)
        below = sorted(key for key in self.files if key.startswith(uri.rstrip("/") + "/"))
        if not below:
            raise ArtifactNotFoundError(f"no artifacts at {uri}")
        target = destination / name
        for key in below:
            self._write(key, target / key[len(uri.rstrip("/")) + 1 :])
        return target


def _join(uri: str, path: str) -> str:
    return f"{uri.rstrip('/')}/{path.strip('/')}" if path.strip("/") else uri.rstrip("/")
