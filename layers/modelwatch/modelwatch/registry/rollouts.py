"""Rollouts from the registry: start, stop and promote a candidate beside production, and their record.

A rollout is data in the model's **production** manifest (``ServingManifest.rollout``, see
``modelwatch.contracts.rollout``): serving routes or mirrors traffic by it, the rollout job
advances or rolls it back by rewriting it. This module makes the registry's changes:

- :func:`start_rollout` checks everything first (the version, the production manifest, the
  share, the key against both versions' input schemas, no rollout already running, the
  candidate serves), then publishes the candidate's model file, reference profile and version
  manifest copy to the models bucket (``publishing``; serving does not read them yet), and
  last writes the production manifest with the rollout: one conditional PUT. A failure
  anywhere before that PUT leaves serving as it was.
- :func:`stop_rollout` sets the share to 0 and the state to ``stopped``; the rollout stays in
  the manifest, so its record is there and serving stops routing.
- Promoting goes through the registry's stages (``promotion``); :func:`end_rollout_on_new_production`
  records how the rollout ended when production changes: ``promote`` when the candidate took
  production, ``stop`` ("production changed to version X") when another version did.

Every change is a ``RolloutTransition`` in ``rollout.history`` (who, when, why, the share before
and after) and, like stage transitions, in the registered model's MLflow tag
``modelwatch.rollout_history`` (:data:`MAX_ROLLOUT_HISTORY` records, oldest dropped), which also
keeps the rollout job's transitions once the registry next touches the rollout.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from modelwatch.contracts import layout
from modelwatch.contracts.manifest import ServingManifest
from modelwatch.contracts.rollout import (
    DEFAULT_ALPHA,
    DEFAULT_CANARY_STEPS,
    KEY_REQUEST_ID,
    BuiltinMetric,
    CanaryStep,
    CandidateErrorPolicy,
    Guardrails,
    Rollout,
    RolloutAction,
    RolloutCandidate,
    RolloutEvaluation,
    RolloutMetric,
    RolloutMode,
    RolloutState,
    RolloutTransition,
    check_key,
    key_feature,
)
from modelwatch.registry import tags as tag
from modelwatch.registry.backend import RegistryBackend
from modelwatch.registry.errors import RolloutError, TrackingServerUnavailable
from modelwatch.registry.publishing import prepare_manifest
from modelwatch.registry.stages import decode_records, encode_records
from modelwatch.stores.artifacts import ArtifactStore
from modelwatch.stores.manifests import ManifestStore
from modelwatch.stores.objects import ObjectNotFound, ObjectStorage, PreconditionFailed

# The alias whose manifest carries the rollout: the candidate is compared with production.
ROLLOUT_ALIAS: Final = "production"
DEFAULT_SHARES: Final[dict[RolloutMode, float]] = {"shadow": 1.0, "ab": 0.5}
MAX_ROLLOUT_HISTORY: Final = 50
# Lower is better for these builtins; higher for accuracy.
LOWER_IS_BETTER: Final = frozenset({"log_loss", "squared_error", "absolute_error"})

StepSpec = CanaryStep | Mapping[str, Any] | float
Document = TypeVar("Document", bound=BaseModel)


class RolloutRecord(BaseModel):
    """One rollout transition as the registry keeps it: which rollout, and the transition."""

    model_config = ConfigDict(extra="ignore")

    rollout_id: str
    mode: RolloutMode
    candidate_version: str
    production_version: str
    action: RolloutAction
    state: RolloutState
    actor: str
    at: datetime
    from_share: float
    to_share: float
    reason: str = ""


class RolloutStatus(BaseModel):
    """A model's rollout and, when the rollout job has evaluated it, its latest evaluation."""

    model_config = ConfigDict(protected_namespaces=())

    model: str
    production_version: str | None = Field(None, description="The version the production manifest serves.")
    rollout: Rollout | None = None
    evaluation: RolloutEvaluation | None = Field(
        None, description="The rollout job's latest evaluation (None before its first, or unread)."
    )
    evaluation_uri: str | None = Field(None, description="Where the rollout job keeps its evidence.")
    note: str = Field("", description="Why there is no evaluation, when that is not just 'none yet'.")


def metric_of(metric: RolloutMetric | Mapping[str, Any] | str | None) -> RolloutMetric:
    """The rollout metric: a model, a mapping of its fields, or a builtin's name (direction implied).

    Raises
    ------
    RolloutError
        Not a metric.
    """
    if metric is None:
        return RolloutMetric()
    if isinstance(metric, RolloutMetric):
        return metric
    if isinstance(metric, str):
        if metric not in get_args(BuiltinMetric):
            builtins = ", ".join(get_args(BuiltinMetric))
            raise RolloutError(
                f"unknown rollout metric {metric!r} (builtins: {builtins}; or give an expression)"
            )
        return RolloutMetric(name=metric, builtin=metric, higher_is_better=metric not in LOWER_IS_BETTER)
    return _validated(RolloutMetric, metric, "metric")


def guardrails_of(guardrails: Guardrails | Mapping[str, Any] | None) -> Guardrails:
    """The guardrails: a model, a mapping of its fields (the others keep their defaults), or the defaults."""
    if guardrails is None:
        return Guardrails()
    if isinstance(guardrails, Guardrails):
        return guardrails
    return _validated(Guardrails, guardrails, "guardrails")


def steps_of(steps: Sequence[StepSpec] | None) -> list[CanaryStep]:
    """Canary steps from models, mappings or bare shares (default: ``DEFAULT_CANARY_STEPS``)."""
    if steps is None:
        return [CanaryStep(share=share) for share in DEFAULT_CANARY_STEPS]
    parsed: list[CanaryStep] = []
    for index, step in enumerate(steps):
        if isinstance(step, CanaryStep):
            parsed.append(step)
        elif isinstance(step, int | float) and not isinstance(step, bool):
            parsed.append(_validated(CanaryStep, {"share": step}, f"steps.{index}"))
        elif isinstance(step, Mapping):
            parsed.append(_validated(CanaryStep, step, f"steps.{index}"))
        else:
            raise RolloutError(f"steps.{index}: a canary step is a share or a CanaryStep, not {step!r}")
    return parsed


def _validated(model: type[Document], value: Mapping[str, Any], what: str) -> Document:
    try:
        return model.model_validate(dict(value))
    except ValidationError as error:
        raise RolloutError(f"{what}: {_first_problem(error)}") from None


def _first_problem(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ()))
    message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def rollout_id(name: str, version: str, now: datetime, taken: Collection[str] = ()) -> str:
    """``<model>-<version>-<UTC yyyymmddTHHMMSS>``, with ``-2``, ``-3``... when that is ``taken``.

    Unique per start: it salts the assignment hash and keys the rollout job's evidence, so a
    rollout started in the same second as an earlier one must not share its id.
    """
    base = f"{name}-{version}-{now.astimezone(UTC):%Y%m%dT%H%M%S}"
    candidate, suffix = base, 1
    while candidate in taken:
        suffix += 1
        candidate = f"{base}-{suffix}"
    return candidate


def read_production(manifests: ManifestStore, name: str) -> tuple[ServingManifest, str]:
    """The production manifest and its ETag.

    Raises
    ------
    RolloutError
        None is published: there is nothing to compare a candidate with.
    """
    from modelwatch.stores.manifests import ManifestNotFound

    try:
        read = manifests.read(name, ROLLOUT_ALIAS)
    except ManifestNotFound:
        read = None
    if read is None:
        raise RolloutError(
            f"model {name!r} has no production manifest in s3://{manifests.bucket}: promote a version "
            "to production before rolling out a candidate beside it"
        )
    return read.manifest, read.etag


def write_production(manifests: ManifestStore, manifest: ServingManifest, etag: str) -> str:
    """Write the production manifest if nobody changed it since it was read at ``etag``.

    Raises
    ------
    RolloutError
        It changed in between (the rollout job, or another user): nothing was written.
    PromotionError
        The write failed; the previous manifest still serves.
    """
    from modelwatch.registry.errors import PromotionError

    try:
        return manifests.write(manifest, if_match=etag)
    except PreconditionFailed:
        raise RolloutError(
            f"the production manifest of {manifest.model!r} changed while this change was made "
            "(the rollout job, or another user): nothing was written; look at the rollout's status "
            "and try again"
        ) from None
    except Exception as error:
        raise PromotionError(
            f"writing the production manifest of {manifest.model!r} to s3://{manifests.bucket} failed: "
            f"{error}"
        ) from error


def start_rollout(
    backend: RegistryBackend,
    manifests: ManifestStore,
    artifacts: ArtifactStore,
    name: str,
    version: str,
    *,
    mode: RolloutMode,
    actor: str,
    share: float | None = None,
    key: str = KEY_REQUEST_ID,
    steps: Sequence[StepSpec] | None = None,
    guardrails: Guardrails | Mapping[str, Any] | None = None,
    metric: RolloutMetric | Mapping[str, Any] | str | None = None,
    alpha: float = DEFAULT_ALPHA,
    on_candidate_error: CandidateErrorPolicy = "production",
    reason: str = "",
    check_serves: bool = True,
    now: datetime | None = None,
) -> Rollout:
    """Start a rollout of ``version`` beside production; see ``ModelRegistry.start_rollout``.

    Raises
    ------
    RolloutError
        Bad mode, share, key, steps, guardrails or metric; no production manifest; the candidate
        is production's version; a rollout is already running; the manifest changed meanwhile.
    ModelNotFoundError, VersionNotFoundError
        No such model or version.
    NotServableError
        The candidate lacks what serving needs or (checked) does not load and score.
    PromotionError
        Copying the candidate or writing the manifest failed; serving is unchanged.
    """
    if mode not in get_args(RolloutMode):
        raise RolloutError(f"unknown rollout mode {mode!r} (modes: shadow, ab, canary)")
    try:
        key = check_key(key)
    except ValueError as error:
        raise RolloutError(str(error)) from None
    canary_steps = steps_of(steps) if mode == "canary" else []
    if mode != "canary" and steps is not None:
        raise RolloutError(f"steps are for a canary, not a {mode} rollout")
    if share is not None and not 0.0 <= share <= 1.0:
        raise RolloutError(f"share must be within [0, 1], got {share}")
    if mode == "canary":
        if not canary_steps:
            raise RolloutError("a canary needs at least one step")
        if share is not None and share != canary_steps[0].share:
            raise RolloutError(
                f"a canary starts at its first step's share ({canary_steps[0].share}), not {share}: "
                "give the steps instead"
            )
        start_share = canary_steps[0].share
    else:
        start_share = DEFAULT_SHARES[mode] if share is None else share
    rails = guardrails_of(guardrails)
    compared = metric_of(metric)
    record = backend.get_version(name, version)  # ModelNotFoundError / VersionNotFoundError
    production, etag = read_production(manifests, name)
    if record.version == production.version:
        raise RolloutError(
            f"version {record.version} of {name!r} is already production: a rollout compares another "
            "version with it"
        )
    running = production.rollout
    if running is not None and running.state == "running":
        raise RolloutError(
            f"model {name!r} already has a running rollout {running.id} (candidate version "
            f"{running.candidate.version}, {running.mode} at {running.share:.0%}): stop or promote it first"
        )
    feature = key_feature(key)
    _check_key_feature(feature, production, "production", production.version)
    started = now or datetime.now(UTC)
    # Every rule of the rollout document is checked before anything is copied: the candidate's
    # fields are production's until the candidate is prepared.
    try:
        draft = Rollout(
            id=rollout_id(name, record.version, started, _taken_ids(backend, name, production.rollout)),
            mode=mode,
            candidate=RolloutCandidate(
                version=record.version,
                flavor=production.flavor,
                artifact_uri=production.artifact_uri,
                input_schema=production.input_schema,
            ),
            production_version=production.version,
            share=0.0,
            key=key,
            steps=canary_steps,
            step=0,
            step_started_at=started,
            guardrails=rails,
            metric=compared,
            alpha=alpha,
            on_candidate_error=on_candidate_error,
            started_at=started,
            started_by=actor,
        )
    except ValidationError as error:
        raise RolloutError(f"invalid rollout: {_first_problem(error)}") from None
    candidate = prepare_manifest(
        backend, record, ROLLOUT_ALIAS, manifests, artifacts, check_serves=check_serves
    )
    _check_key_feature(feature, candidate, "candidate", record.version)
    served = RolloutCandidate(
        version=candidate.version,
        flavor=candidate.flavor,
        artifact_uri=candidate.artifact_uri,
        input_schema=candidate.input_schema,
        prediction_type=candidate.prediction_type,
        reference_profile_uri=candidate.reference_profile_uri,
        source=candidate.source,
    )
    rollout = draft.model_copy(update={"candidate": served}).with_transition(
        "start", actor, reason, share=start_share
    )
    rollout = _stamp_last(rollout, started)
    previous = production.rollout
    _write_candidate_copy(manifests, candidate)
    write_production(manifests, production.model_copy(update={"rollout": rollout}), etag)
    record_rollout(backend, name, rollout, earlier=previous)
    return rollout


def _taken_ids(backend: RegistryBackend, name: str, previous: Rollout | None) -> set[str]:
    """The ids of the model's earlier rollouts (recorded, and the one being replaced)."""
    taken = {
        r.rollout_id for r in decode_rollout_history(backend.get_model(name).tags.get(tag.ROLLOUT_HISTORY))
    }
    return taken | ({previous.id} if previous is not None else set())


def _stamp_last(rollout: Rollout, at: datetime) -> Rollout:
    """The rollout with its latest transition dated ``at`` (so a given clock reads the same everywhere)."""
    last = rollout.history[-1].model_copy(update={"at": at})
    return rollout.model_copy(update={"history": [*rollout.history[:-1], last]})


def _write_candidate_copy(manifests: ManifestStore, candidate: ServingManifest) -> None:
    from modelwatch.registry.errors import PromotionError

    try:
        manifests.write_version(candidate)
    except Exception as error:
        raise PromotionError(
            f"writing the manifest copy of candidate version {candidate.version} of {candidate.model!r} "
            f"failed: {error}; serving is unchanged"
        ) from error


def _check_key_feature(feature: str | None, manifest: ServingManifest, role: str, version: str) -> None:
    if feature is None:
        return
    names = manifest.input_schema.feature_names
    if feature not in names:
        raise RolloutError(
            f"rollout key feature:{feature}: the {role} (version {version}) input schema has no feature "
            f"{feature!r} (it has: {', '.join(names)})"
        )


def stop_rollout(
    backend: RegistryBackend,
    manifests: ManifestStore,
    name: str,
    *,
    actor: str,
    reason: str = "",
) -> Rollout:
    """Stop the running rollout of ``name``: share 0, state stopped, kept in the manifest.

    It needs only the models bucket: with MLflow down the rollout stops all the same, and the
    transition reaches the model's tag with the registry's next rollout change.

    Raises
    ------
    RolloutError
        No production manifest, no rollout, a rollout that is not running, or the manifest
        changed meanwhile.
    PromotionError
        The manifest write failed; the rollout runs on.
    """
    production, etag = read_production(manifests, name)
    rollout = production.rollout
    if rollout is None:
        raise RolloutError(f"model {name!r} has no rollout to stop")
    if rollout.state != "running":
        raise RolloutError(
            f"rollout {rollout.id} of {name!r} is already {rollout.state.replace('_', ' ')}"
            + (f" ({rollout.reason})" if rollout.reason else "")
        )
    stopped = rollout.with_transition("stop", actor, reason or "stopped by hand", share=0.0, state="stopped")
    write_production(manifests, production.model_copy(update={"rollout": stopped}), etag)
    # The brake works without MLflow: the record is in the manifest, the tag catches up later.
    with contextlib.suppress(TrackingServerUnavailable):
        record_rollout(backend, name, stopped)
    return stopped


def running_rollout(manifests: ManifestStore, name: str) -> Rollout:
    """The rollout a ``promote_rollout`` would promote: in the production manifest, not promoted.

    Raises
    ------
    RolloutError
        No production manifest or no rollout to promote.
    """
    production, _ = read_production(manifests, name)
    rollout = production.rollout
    if rollout is None:
        raise RolloutError(f"model {name!r} has no rollout to promote")
    return rollout


def end_rollout_on_new_production(
    backend: RegistryBackend,
    name: str,
    previous: ServingManifest | None,
    version: str,
    *,
    actor: str,
    reason: str = "",
    note: str = "",
) -> Rollout | None:
    """Record how the rollout of the replaced production manifest ``previous`` ended, if it had one.

    ``promote`` when ``version`` is the candidate (reason: ``reason``), ``stop`` with the reason
    "production changed to version X" when another version took production while the rollout
    ran; nothing for a rollout that had already ended, or when there was none.

    Returns
    -------
    Rollout or None
        The ended rollout (no longer in any manifest: the new one has none), when one was recorded.
    """
    rollout = previous.rollout if previous is not None else None
    if rollout is None or previous is None or previous.version == version:
        return None
    if rollout.candidate.version == version and rollout.state != "promoted":
        ended = rollout.with_transition(
            "promote",
            actor,
            reason or f"candidate version {version} promoted to production{note}",
            share=1.0,
            state="promoted",
        )
    elif rollout.state == "running":
        ended = rollout.with_transition(
            "stop", actor, f"production changed to version {version}{note}", share=0.0, state="stopped"
        )
    else:
        return None
    record_rollout(backend, name, ended)
    return ended


# --- the record in MLflow ------------------------------------------------------------------------


def records_of(rollout: Rollout) -> list[RolloutRecord]:
    """The rollout's transitions as registry records."""
    return [
        RolloutRecord(
            rollout_id=rollout.id,
            mode=rollout.mode,
            candidate_version=rollout.candidate.version,
            production_version=rollout.production_version,
            action=transition.action,
            state=_state_after(transition, rollout),
            actor=transition.actor,
            at=transition.at,
            from_share=transition.from_share,
            to_share=transition.to_share,
            reason=transition.reason,
        )
        for transition in rollout.history
    ]


_STATE_AFTER: Final[dict[str, RolloutState]] = {
    "start": "running",
    "advance": "running",
    "rollback": "rolled_back",
    "fail": "rolled_back",
    "stop": "stopped",
    "promote": "promoted",
}


def _state_after(transition: RolloutTransition, rollout: Rollout) -> RolloutState:
    if transition is rollout.history[-1]:
        return rollout.state
    return _STATE_AFTER.get(transition.action, "running")


def decode_rollout_history(raw: str | None) -> list[RolloutRecord]:
    """Records from the ``modelwatch.rollout_history`` tag (unreadable entries are skipped)."""
    return decode_records(raw, RolloutRecord)


def _identity(record: RolloutRecord) -> tuple[str, str, str]:
    return (record.rollout_id, record.action, record.at.isoformat())


def merge_records(*groups: Sequence[RolloutRecord]) -> list[RolloutRecord]:
    """The records of every group once each (by rollout, action and time), oldest first."""
    seen: dict[tuple[str, str, str], RolloutRecord] = {}
    for group in groups:
        for record in group:
            seen.setdefault(_identity(record), record)
    return sorted(seen.values(), key=lambda record: record.at)


def record_rollout(
    backend: RegistryBackend, name: str, rollout: Rollout, *, earlier: Rollout | None = None
) -> None:
    """Add the rollout's transitions (and ``earlier``'s, a rollout it replaces) to the model's tag.

    Transitions already recorded are not repeated; those the rollout job made since the
    registry last wrote are caught up on here. The latest :data:`MAX_ROLLOUT_HISTORY` are kept.
    """
    model = backend.get_model(name)
    known = decode_rollout_history(model.tags.get(tag.ROLLOUT_HISTORY))
    merged = merge_records(known, records_of(earlier) if earlier else [], records_of(rollout))
    backend.set_model_tag(name, tag.ROLLOUT_HISTORY, encode_records(merged, MAX_ROLLOUT_HISTORY))


def rollout_history(
    backend: RegistryBackend, name: str, manifests: ManifestStore | None = None
) -> list[RolloutRecord]:
    """Every recorded rollout transition of ``name``, oldest first.

    The registry's record (the MLflow tag), completed with the current rollout's transitions
    from the production manifest when ``manifests`` is given (the rollout job's advances and
    rollbacks reach the tag only when the registry next changes the rollout).
    """
    recorded = decode_rollout_history(backend.get_model(name).tags.get(tag.ROLLOUT_HISTORY))
    current = _current_rollout(manifests, name) if manifests is not None else None
    return merge_records(recorded, records_of(current) if current else [])


def _current_rollout(manifests: ManifestStore, name: str) -> Rollout | None:
    try:
        manifest = manifests.current(name, ROLLOUT_ALIAS)
    except (ObjectNotFound, ValueError):
        return None
    return manifest.rollout if manifest is not None else None


# --- status ----------------------------------------------------------------------------------------


def rollout_status(
    manifests: ManifestStore,
    name: str,
    *,
    storage: ObjectStorage | None = None,
    events_bucket: str | None = None,
) -> RolloutStatus:
    """The model's rollout (None without one) and the rollout job's latest evaluation when readable.

    The evaluation is read from the rollout job's state document in ``events_bucket``
    (``layout.rollout_evidence_key``): JSON whose ``latest`` holds a ``RolloutEvaluation``.
    A missing or unreadable document is no evaluation (``note`` says why when it was unreadable).
    """
    manifest = manifests.current(name, ROLLOUT_ALIAS)
    if manifest is None:
        return RolloutStatus(model=name, note=f"model {name!r} has no production manifest")
    status = RolloutStatus(model=name, production_version=manifest.version, rollout=manifest.rollout)
    if manifest.rollout is None or storage is None or not events_bucket:
        return status
    key = layout.rollout_evidence_key(name, manifest.rollout.id)
    uri = layout.s3_uri(events_bucket, key)
    evaluation, note = _latest_evaluation(storage, events_bucket, key)
    return status.model_copy(update={"evaluation": evaluation, "evaluation_uri": uri, "note": note})


def _latest_evaluation(storage: ObjectStorage, bucket: str, key: str) -> tuple[RolloutEvaluation | None, str]:
    try:
        found = storage.get(bucket, key)
    except ObjectNotFound:
        return None, ""
    except Exception as error:  # S3 refused: the status still shows the rollout
        return None, f"the rollout job's evidence could not be read ({type(error).__name__}: {error})"
    if found is None:
        return None, ""
    try:
        document = json.loads(found.body)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        return None, f"the rollout job's evidence is not JSON ({error})"
    latest = document.get("latest") if isinstance(document, dict) else None
    if latest is None:
        return None, ""
    try:
        return RolloutEvaluation.model_validate(latest), ""
    except ValidationError as error:
        return None, f"the rollout job's latest evaluation is unreadable ({_first_problem(error)})"
