"""An in-memory registry backend, with MLflow's shape: models, versions, aliases, tags, artifact files."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from modelwatch.registry.backend import ModelRecord, VersionRecord
from modelwatch.registry.errors import (
    ModelNotFoundError,
    RegistryError,
    TrackingServerUnavailable,
    VersionNotFoundError,
)


class FakeBackend:
    """Implements ``RegistryBackend`` in memory; ``down = True`` makes every call fail like a dead server."""

    def __init__(self) -> None:
        self.models: dict[str, ModelRecord] = {}
        self.versions: dict[tuple[str, str], VersionRecord] = {}
        self.files: dict[tuple[str, str, str], bytes] = {}
        self.down = False

    @property
    def uri(self) -> str:
        return "http://mlflow.test:5000"

    def _check(self) -> None:
        if self.down:
            raise TrackingServerUnavailable(self.uri, "connection refused")

    def add_version(
        self, name: str, version: str, tags: dict[str, str], files: dict[str, bytes], managed: bool = True
    ) -> None:
        if name not in self.models:
            self.models[name] = ModelRecord(name=name, tags={"modelwatch.managed": "true"} if managed else {})
        self.versions[(name, version)] = VersionRecord(
            name=name,
            version=version,
            source=f"mem://{name}/{version}",
            run_id=f"run{version}",
            tags=dict(tags),
        )
        for path, content in files.items():
            self.files[(name, version, path)] = content

    def set_alias(self, name: str, alias: str, version: str) -> None:
        model = self.models[name]
        self.models[name] = replace(model, aliases={**model.aliases, alias: version})

    def list_models(self) -> list[ModelRecord]:
        self._check()
        return list(self.models.values())

    def get_model(self, name: str) -> ModelRecord:
        self._check()
        if name not in self.models:
            raise ModelNotFoundError(name)
        return self.models[name]

    def get_version(self, name: str, version: str) -> VersionRecord:
        self.get_model(name)
        if (name, version) not in self.versions:
            raise VersionNotFoundError(name, version, [v for (n, v) in self.versions if n == name])
        return self.versions[(name, version)]

    def download_version_artifact(self, name: str, version: str, path: str, destination: Path) -> Path:
        self.get_version(name, version)
        if (name, version, path) not in self.files:
            raise RegistryError(f"no artifact {path}")
        destination.mkdir(parents=True, exist_ok=True)
        target = destination / Path(path).name
        target.write_bytes(self.files[(name, version, path)])
        return target

    def set_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        record = self.get_version(name, version)
        self.versions[(name, version)] = replace(record, tags={**record.tags, key: value})

    def set_model_tag(self, name: str, key: str, value: str) -> None:
        model = self.get_model(name)
        self.models[name] = replace(model, tags={**model.tags, key: value})


class FakeMetrics:
    """A ``MetricSource``: metrics by (model, version)."""

    def __init__(self, metrics: dict[str, dict[str, float]], name: str = "fraud") -> None:
        self._metrics = metrics
        self._name = name

    def get_metrics(self, name: str, version: str) -> dict[str, float]:
        if name != self._name:
            raise ModelNotFoundError(name)
        if version not in self._metrics:
            raise VersionNotFoundError(name, version, self._metrics)
        return dict(self._metrics[version])
