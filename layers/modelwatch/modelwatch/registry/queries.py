"""Reading the registry: model listings, what is known of a version, its metrics, schema, profile, history."""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from modelwatch.contracts.schema import InputSchema
from modelwatch.registry import tags as tag
from modelwatch.registry.backend import RegistryBackend, VersionRecord
from modelwatch.registry.errors import RegistryError
from modelwatch.registry.publishing import serving_details
from modelwatch.registry.stages import Stage, TransitionRecord, current_stage, decode_history


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


def list_models(backend: RegistryBackend) -> list[ModelSummary]:
    """Every registered model, by name, with its latest version."""
    summaries = []
    for model in sorted(backend.list_models(), key=lambda m: m.name):
        versions = backend.version_numbers(model.name)
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


def version_metrics(backend: RegistryBackend, record: VersionRecord) -> dict[str, float]:
    """The metrics of a version: those of its run, overridden by those recorded on the version."""
    found: dict[str, float] = {}
    if record.run_id:
        found.update(backend.get_run_metrics(record.run_id))
    found.update(tag.metrics(record.tags))
    return found


def version_info(backend: RegistryBackend, name: str, version: str) -> ModelVersionInfo:
    """A version (or the version an alias points at) with its stage, lineage, metrics and history.

    Raises
    ------
    ModelNotFoundError, VersionNotFoundError, TrackingServerUnavailable
    """
    record = backend.get_version(name, version)
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
        metrics=version_metrics(backend, record),
        history=decode_history(record.tags.get(tag.HISTORY)),
        description=record.description,
    )


def list_versions(backend: RegistryBackend, name: str) -> list[ModelVersionInfo]:
    """Every version of a model, oldest first.

    Raises
    ------
    ModelNotFoundError, TrackingServerUnavailable
    """
    backend.get_model(name)
    return [version_info(backend, name, v) for v in backend.version_numbers(name)]


def _artifact_text(backend: RegistryBackend, name: str, version: str, path_tag: str) -> str | None:
    """The text of the version's artifact named by tag ``path_tag`` (None without the tag)."""
    record = backend.get_version(name, version)
    path = record.tags.get(path_tag)
    if not path:
        return None
    with tempfile.TemporaryDirectory(prefix="modelwatch-artifact-") as tmp:
        return backend.download_version_artifact(name, record.version, path, Path(tmp)).read_text()


def input_schema(backend: RegistryBackend, name: str, version: str) -> InputSchema | None:
    """The version's input schema (None when it was registered without one)."""
    text = _artifact_text(backend, name, version, tag.INPUT_SCHEMA_FILE)
    return None if text is None else InputSchema.model_validate_json(text)


def reference_profile_json(backend: RegistryBackend, name: str, version: str) -> str | None:
    """The version's reference data profile as JSON text (None when it has none)."""
    return _artifact_text(backend, name, version, tag.PROFILE_FILE)


def transition_history(
    backend: RegistryBackend, name: str, version: str | None = None
) -> list[TransitionRecord]:
    """Transitions of one version, or the latest transitions of any version of the model."""
    if version is None:
        return decode_history(backend.get_model(name).tags.get(tag.MODEL_TRANSITIONS))
    return decode_history(backend.get_version(name, version).tags.get(tag.HISTORY))
