"""The few registry operations that promotion and sync need, behind one small interface.

Two implementations: the MLflow client (``client.MlflowClientBackend``, used by
``ModelRegistry``; any tracking URI MLflow supports) and plain HTTP calls to the
MLflow REST API (``rest.MlflowRestClient``, used by the registry-sync function,
which must stay free of the 600 MB MLflow package).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit


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


class RegistryBackend(Protocol):
    """Registry reads and tag writes, from the MLflow client or the REST API."""

    @property
    def uri(self) -> str:
        """The tracking URI, without credentials (safe to print)."""
        ...

    def list_models(self) -> list[ModelRecord]:
        """Every registered model (prompts excluded)."""
        ...

    def get_model(self, name: str) -> ModelRecord:
        """Raise ``ModelNotFoundError`` when it does not exist."""
        ...

    def get_version(self, name: str, version: str) -> VersionRecord:
        """Raise ``ModelNotFoundError`` / ``VersionNotFoundError`` when it does not exist."""
        ...

    def download_version_artifact(self, name: str, version: str, path: str, destination: Path) -> Path:
        """Download the file ``path`` (relative to the version's artifact directory) into ``destination``."""
        ...

    def set_version_tag(self, name: str, version: str, key: str, value: str) -> None: ...

    def set_model_tag(self, name: str, key: str, value: str) -> None: ...


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
