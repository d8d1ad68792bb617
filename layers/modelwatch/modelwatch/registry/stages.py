"""Lifecycle stages of a model version, the rules between them, and the audit record of each move.

Stages are implemented with MLflow *aliases* and tags (MLflow 3 deprecates the
registry's own stages): ``staging`` and ``production`` are aliases, so each
points at exactly one version; every version also carries its stage in the tag
``modelwatch.stage`` and the history of its transitions (who, when, from, to,
why) as a JSON list in ``modelwatch.stage_history``.

Rules
-----
- A new version starts in ``development``.
- ``production`` is reachable only from ``staging``, unless forced.
- Any stage may move to ``archived``; an archived version may come back to
  ``development`` or ``staging`` (production again only through staging).
- Moving to the stage a version is already in is refused (nothing would change).
- When a version takes an alias from another version, that version is moved out
  of the stage too: to ``archived`` when replaced in production, to
  ``development`` when replaced in staging.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Final, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from modelwatch.registry.errors import IllegalTransitionError
from modelwatch.registry.tags import HISTORY as HISTORY_TAG
from modelwatch.registry.tags import MODEL_TRANSITIONS as MODEL_TRANSITIONS_TAG
from modelwatch.registry.tags import STAGE as STAGE_TAG

if TYPE_CHECKING:
    from modelwatch.registry.backend import RegistryBackend


class Stage(StrEnum):
    """Where a version is in its lifecycle."""

    DEVELOPMENT = "development"
    STAGING = "staging"
    PRODUCTION = "production"
    ARCHIVED = "archived"


# Stages held by an MLflow alias of the same name (one version each); these are the served ones.
ALIASED_STAGES: Final = (Stage.STAGING, Stage.PRODUCTION)

# Where a version goes when another version takes its alias.
DISPLACED_TO: Final = {Stage.STAGING: Stage.DEVELOPMENT, Stage.PRODUCTION: Stage.ARCHIVED}

_ALLOWED: Final = {
    Stage.DEVELOPMENT: {Stage.STAGING, Stage.ARCHIVED},
    Stage.STAGING: {Stage.PRODUCTION, Stage.DEVELOPMENT, Stage.ARCHIVED},
    Stage.PRODUCTION: {Stage.STAGING, Stage.DEVELOPMENT, Stage.ARCHIVED},
    Stage.ARCHIVED: {Stage.DEVELOPMENT, Stage.STAGING},
}

# Records kept per version, and across a model (on the registered model).
MAX_VERSION_HISTORY: Final = 100
MAX_MODEL_HISTORY: Final = 50


def parse_stage(value: str) -> Stage:
    """Return the stage named ``value`` (case-insensitive).

    Raises
    ------
    IllegalTransitionError
        ``value`` names no stage.
    """
    try:
        return Stage(value.strip().lower())
    except ValueError:
        names = ", ".join(stage.value for stage in Stage)
        raise IllegalTransitionError(f"unknown stage {value!r} (stages: {names})") from None


def check_transition(current: Stage, target: Stage, *, force: bool = False) -> None:
    """Raise unless a version in ``current`` may move to ``target``.

    Parameters
    ----------
    current, target:
        The version's stage now, and the one asked for.
    force:
        Allow any move between different stages (e.g. development straight to production).

    Raises
    ------
    IllegalTransitionError
        The move breaks the rules; the message says which moves are allowed.
    """
    if current == target:
        raise IllegalTransitionError(f"the version is already in {target.value}")
    if force or target in _ALLOWED[current]:
        return
    allowed = ", ".join(sorted(stage.value for stage in _ALLOWED[current]))
    hint = " (promote it to staging first, or force the transition)" if target is Stage.PRODUCTION else ""
    raise IllegalTransitionError(
        f"cannot move a version from {current.value} to {target.value}{hint}; "
        f"from {current.value} it may go to: {allowed}"
    )


class TransitionRecord(BaseModel):
    """One stage transition of one version: the audit trail's unit."""

    model_config = ConfigDict(extra="ignore")

    version: str
    from_stage: Stage
    to_stage: Stage
    actor: str = Field(description="Who made the transition (user, or 'registry-sync').")
    at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    reason: str = ""
    forced: bool = False


RecordT = TypeVar("RecordT", bound=BaseModel)


def decode_records(raw: str | None, record_type: type[RecordT]) -> list[RecordT]:
    """Records of ``record_type`` from a tag's JSON list (an unreadable tag reads as none, an
    unreadable entry is skipped): the stage histories and the rollout history alike."""
    if not raw:
        return []
    try:
        items = json.loads(raw)
    except json.JSONDecodeError:
        return []
    if not isinstance(items, list):
        return []
    records: list[RecordT] = []
    for item in items:
        try:
            records.append(record_type.model_validate(item))
        except ValidationError:
            continue
    return records


def encode_records(records: Sequence[BaseModel], keep: int) -> str:
    """JSON of the latest ``keep`` records, oldest first."""
    return json.dumps([record.model_dump(mode="json") for record in records[-keep:]], separators=(",", ":"))


def decode_history(raw: str | None) -> list[TransitionRecord]:
    """Records from a history tag's JSON (an unreadable tag reads as no history)."""
    return decode_records(raw, TransitionRecord)


def encode_history(records: list[TransitionRecord], keep: int) -> str:
    """JSON of the latest ``keep`` records, oldest first."""
    return encode_records(records, keep)


def current_stage(tags: dict[str, str]) -> Stage:
    """A version's stage from its tags (``development`` when none is recorded)."""
    raw = tags.get(STAGE_TAG, "")
    try:
        return Stage(raw)
    except ValueError:
        return Stage.DEVELOPMENT


def record_transition(
    backend: RegistryBackend,
    name: str,
    version: str,
    version_tags: dict[str, str],
    record: TransitionRecord,
) -> None:
    """Write ``record``: the version's stage tag and history, and the model's recent transitions."""
    history = decode_history(version_tags.get(HISTORY_TAG))
    history.append(record)
    backend.set_version_tag(name, version, HISTORY_TAG, encode_history(history, MAX_VERSION_HISTORY))
    backend.set_version_tag(name, version, STAGE_TAG, record.to_stage.value)
    model = backend.get_model(name)
    model_history = decode_history(model.tags.get(MODEL_TRANSITIONS_TAG))
    model_history.append(record)
    backend.set_model_tag(name, MODEL_TRANSITIONS_TAG, encode_history(model_history, MAX_MODEL_HISTORY))
