"""Promotion: moving a version between stages, publishing first what serving will read.

A move follows the rules of ``stages``. For a served alias (``staging``, ``production``
by default) the steps are ordered so that a promotion reported as failed leaves serving on
the version it had:

1. the version's model file is test-loaded and copied into the models bucket and its
   manifest built (``publishing``), which serving does not read yet: a failure changes nothing;
2. the alias moves in MLflow and the version's other stage alias is dropped: a failure
   (MLflow down) leaves the manifest, so serving, as it was;
3. the manifest is written: from here serving takes the version. A failed write puts the
   aliases back (best effort; if MLflow refuses that too, the registry sync publishes what
   the alias names, as it does for a move made in the MLflow UI);
4. the transition is recorded and the version that held the stage is displaced
   (:func:`displace_previous_holder`: to ``archived`` from production, to ``development``
   from staging). The registry sync applies the same displacement to aliases moved outside
   modelwatch.

A new production manifest carries no rollout: a rollout the old one carried ends, recorded
as ``promote`` when its candidate took production, as ``stop`` when another version did
(:func:`modelwatch.registry.rollouts.end_rollout_on_new_production`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from modelwatch.contracts.manifest import ServingManifest
from modelwatch.contracts.rollout import Rollout
from modelwatch.registry.backend import ModelRecord, RegistryBackend
from modelwatch.registry.errors import IllegalTransitionError, PromotionError, VersionNotFoundError
from modelwatch.registry.publishing import (
    download_servable,
    prepare_manifest,
    serving_details,
    try_serving,
    write_manifest,
)
from modelwatch.registry.rollouts import ROLLOUT_ALIAS, end_rollout_on_new_production
from modelwatch.registry.stages import (
    ALIASED_STAGES,
    DISPLACED_TO,
    Stage,
    TransitionRecord,
    check_transition,
    current_stage,
    record_transition,
)
from modelwatch.stores.artifacts import ArtifactStore
from modelwatch.stores.manifests import ManifestStore

NO_BUCKET_NOTE = "no models bucket configured: the alias moved, no manifest was published"


class PromotionResult(BaseModel):
    """What a promotion did: the transition, the manifest it published, the version it displaced."""

    model_config = ConfigDict(frozen=True, protected_namespaces=())

    name: str
    version: str
    transition: TransitionRecord
    manifest: ServingManifest | None = None
    manifest_uri: str | None = None
    displaced_version: str | None = None
    rollout: Rollout | None = Field(
        None, description="The rollout that production's change ended (promoted, or stopped), if any."
    )
    note: str = ""


def promote_version(
    backend: RegistryBackend,
    name: str,
    version: str,
    target: Stage,
    *,
    actor: str,
    served_aliases: Sequence[str],
    manifests: ManifestStore | None,
    artifacts: ArtifactStore | None,
    reason: str = "",
    force: bool = False,
    check_serves: bool = True,
) -> PromotionResult:
    """Move ``version`` of ``name`` to ``target``; for a served alias, publish its manifest first.

    Parameters
    ----------
    backend:
        The registry.
    name, version:
        The version to move (a number, not an alias).
    target:
        The stage to move it to.
    actor, reason, force:
        Who moves it and why (recorded in its history); ``force`` allows a move the rules refuse.
    served_aliases:
        Aliases whose promotion publishes a manifest.
    manifests, artifacts:
        The models bucket's stores; without them a served alias moves with no manifest
        published (the result's ``note`` says so), but only a servable version may take it.
    check_serves:
        For a served alias, load the model file with its flavour's runtime and score the
        schema's example instance before publishing (needs the runtime in this process).

    Returns
    -------
    PromotionResult

    Raises
    ------
    IllegalTransitionError
        The move breaks the rules, or ``version`` is an alias.
    NotServableError
        The stage is served and the version lacks a flavour, model file or schema, or
        (checked) does not load or score.
    PromotionError
        Copying the version or writing its manifest failed: the previous manifest serves, and
        the message says whether the aliases were put back.
    TrackingServerUnavailable
        MLflow did not answer. Before or while the alias moved, serving is unchanged; after it
        (recording the transition), the version is published and serves.
    ModelNotFoundError, VersionNotFoundError
    """
    if not version.isdigit():
        raise IllegalTransitionError(f"promote a version number, not an alias ({version!r})")
    record = backend.get_version(name, version)
    current = current_stage(record.tags)
    check_transition(current, target, force=force)
    model = backend.get_model(name)
    manifest: ServingManifest | None = None
    manifest_uri: str | None = None
    note = ""
    if target.value in served_aliases:
        if manifests is not None and artifacts is not None:
            manifest = prepare_manifest(
                backend, record, target.value, manifests, artifacts, check_serves=check_serves
            )
        else:
            flavor, prediction_type, _, _ = serving_details(record)  # only servable versions
            if check_serves:
                with tempfile.TemporaryDirectory(prefix="modelwatch-check-") as tmp:
                    model_path, schema = download_servable(backend, record, Path(tmp))
                    try_serving(record, flavor, model_path, schema, prediction_type)
            note = NO_BUCKET_NOTE
    previous_manifest = _previous(manifests, name, manifest)
    moves = _move_aliases(backend, model, record.version, target)
    if manifest is not None and manifests is not None:
        try:
            manifest_uri = write_manifest(manifests, manifest)
        except PromotionError as error:
            raise _put_aliases_back(backend, name, moves, error) from error
    displaced = moves.displaced
    transition = TransitionRecord(
        version=record.version, from_stage=current, to_stage=target, actor=actor, reason=reason, forced=force
    )
    record_transition(backend, name, record.version, record.tags, transition)
    if displaced is not None:
        displace_previous_holder(backend, name, target, displaced, by=record.version, actor=actor)
    ended = end_rollout_on_new_production(
        backend, name, previous_manifest, record.version, actor=actor, reason=reason
    )
    return PromotionResult(
        name=name,
        version=record.version,
        transition=transition,
        manifest=manifest,
        manifest_uri=manifest_uri,
        displaced_version=displaced,
        rollout=ended,
        note=note,
    )


def _previous(
    manifests: ManifestStore | None, name: str, manifest: ServingManifest | None
) -> ServingManifest | None:
    """The production manifest about to be replaced (its rollout ends), or None."""
    if manifests is None or manifest is None or manifest.alias != ROLLOUT_ALIAS:
        return None
    try:
        return manifests.current(name, ROLLOUT_ALIAS)
    except Exception:  # unreadable: the promotion replaces it all the same
        return None


@dataclass
class _AliasMoves:
    """What :func:`_move_aliases` changed in MLflow, so a failed promotion can put it back."""

    target: str
    version: str
    moved: bool = False  # ``target`` is an alias (not development or archived) and was set
    previous: str | None = None  # who held ``target`` before
    dropped: dict[str, str] = field(default_factory=dict)  # other stage aliases deleted: alias -> version

    @property
    def displaced(self) -> str | None:
        return self.previous if self.previous and self.previous != self.version else None


def _move_aliases(backend: RegistryBackend, model: ModelRecord, version: str, target: Stage) -> _AliasMoves:
    """Point ``target``'s alias at ``version`` and drop its other stage alias; say what changed."""
    moves = _AliasMoves(target=target.value, version=version)
    if target in ALIASED_STAGES:
        moves.previous = model.aliases.get(target.value)
        backend.set_alias(model.name, target.value, version)
        moves.moved = True
    for other in ALIASED_STAGES:
        if other is not target and model.aliases.get(other.value) == version:
            backend.delete_alias(model.name, other.value)
            moves.dropped[other.value] = version
    return moves


def _put_aliases_back(
    backend: RegistryBackend, name: str, moves: _AliasMoves, error: PromotionError
) -> PromotionError:
    """Undo ``moves`` after the manifest write failed; the error to raise says how that went."""
    try:
        for alias, version in moves.dropped.items():
            backend.set_alias(name, alias, version)
        if moves.moved and moves.previous is not None:
            backend.set_alias(name, moves.target, moves.previous)
        elif moves.moved:
            backend.delete_alias(name, moves.target)
    except Exception as undo_error:  # MLflow refused too: the sync publishes what the alias names
        return PromotionError(
            f"{error}; the {moves.target} alias now names version {moves.version} and could not be put "
            f"back ({undo_error}): the registry sync publishes it once S3 takes writes, or promote again"
        )
    before = f"version {moves.previous}" if moves.previous else "no version"
    return PromotionError(f"{error}; the {moves.target} alias was put back ({before}), serving is unchanged")


def displace_previous_holder(
    backend: RegistryBackend,
    name: str,
    stage: Stage,
    previous: str | None,
    *,
    by: str,
    actor: str,
    note: str = "",
) -> TransitionRecord | None:
    """Move the version that held ``stage`` out of it, now that version ``by`` holds it.

    The rule: replaced in ``production`` goes to ``archived``, replaced in ``staging`` to
    ``development``. Nothing happens when there was no previous holder, when it is ``by``,
    when ``stage`` is not held by one version (development, archived), or when the previous
    holder's tags no longer say ``stage`` (it moved on, or was deleted).

    Parameters
    ----------
    previous:
        The version the stage's alias pointed at before.
    by, actor, note:
        The version that took the stage, who moved it, and words added to the reason.

    Returns
    -------
    TransitionRecord or None
        The previous holder's transition, when one was recorded.
    """
    if previous is None or previous == by or stage not in DISPLACED_TO:
        return None
    try:
        holder = backend.get_version(name, previous)
    except VersionNotFoundError:
        return None
    if current_stage(holder.tags) is not stage:
        return None
    transition = TransitionRecord(
        version=previous,
        from_stage=stage,
        to_stage=DISPLACED_TO[stage],
        actor=actor,
        reason=f"replaced in {stage.value} by version {by}{note}",
    )
    record_transition(backend, name, previous, holder.tags, transition)
    return transition
