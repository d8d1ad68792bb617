"""The rollout job: a running rollout's evidence from one window, judged, and acted on.

For a model whose production manifest has a ``running`` rollout, one run over a window (the
job's own, ``rollout_window_minutes`` long, so a breach is acted on within one evaluation
period):

1. computes the window's :class:`~modelwatch.contracts.rollout.WindowEvidence` with one query
   on the SQL engine (:mod:`modelwatch.monitoring.rollout_evidence`);
2. stores it in the rollout's evidence document (:mod:`modelwatch.stores.rollout_evidence`),
   replacing the window's own entry, so a rerun never counts a window twice;
3. judges every window since the rollout started
   (:func:`~modelwatch.monitoring.rollout_decisions.evaluate_rollout`): guardrails, always-valid
   tests, the canary's next step;
4. on a rollback or an advance, writes the production manifest back with the new rollout,
   after reading it again: only if the rollout is still the one judged (same id, state, share
   and step), so a registry stop or promote made meanwhile wins.

The result alerts when the rollout was rolled back (the runner puts ``RolloutRolledBack`` on
the platform bus with the summary).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Final

from modelwatch.contracts.manifest import ServingManifest
from modelwatch.contracts.rollout import Rollout, RolloutEvaluation
from modelwatch.contracts.window import Window
from modelwatch.jobs.context import JobContext
from modelwatch.jobs.outcome import JobOutcome
from modelwatch.monitoring.report_page import render_table_page
from modelwatch.monitoring.rollout_decisions import apply_evaluation, evaluate_rollout
from modelwatch.monitoring.rollout_evidence import (
    InvalidRolloutMetric,
    evidence_from_rows,
    rollout_evidence_query,
)
from modelwatch.stores.manifests import ManifestNotFound
from modelwatch.stores.objects import PreconditionFailed
from modelwatch.stores.rollout_evidence import RolloutEvidence, rollout_evidence_store
from modelwatch.stores.sql import QueryEngine, QueryLimitExceeded
from modelwatch.stores.state import StateConflict

ROLLOUT_ALIAS: Final = "production"  # the rollout lives in the production manifest
SAVE_ATTEMPTS: Final = 3


class NoQueryEngine(RuntimeError):
    """The rollout job was given no SQL engine."""


def _same_rollout(a: Rollout, b: Rollout) -> bool:
    return (a.id, a.state, a.share, a.step) == (b.id, b.state, b.share, b.step)


def _write_rollout(context: JobContext, judged: ServingManifest, rollout: Rollout) -> str | None:
    """Write ``rollout`` into the production manifest if it still holds the rollout judged.

    Returns the manifest's URI, or None when someone changed the rollout since it was read.
    """
    assert judged.rollout is not None
    try:
        read = context.manifests.read(judged.model, ROLLOUT_ALIAS)
    except ManifestNotFound:
        return None
    assert read is not None  # an unconditional read returns the manifest or raises
    current = read.manifest
    if current.rollout is None or not _same_rollout(current.rollout, judged.rollout):
        return None
    try:  # conditional on the ETag read: a change made since (a registry stop) wins
        return context.manifests.write(current.model_copy(update={"rollout": rollout}), if_match=read.etag)
    except PreconditionFailed:
        return None


def _evaluate(
    context: JobContext, engine: QueryEngine, manifest: ServingManifest, window: Window
) -> tuple[RolloutEvaluation, dict[str, Any]]:
    """Compute, store and judge the window's evidence (the document saved conditionally, retried)."""
    rollout = manifest.rollout
    assert rollout is not None
    store = rollout_evidence_store(
        context.storage, context.settings.events_bucket, manifest.model, rollout.id
    )
    now = context.clock()
    for attempt in range(SAVE_ATTEMPTS):
        document, version = store.load()
        if not document.rollout_id:
            document = RolloutEvidence(rollout_id=rollout.id)
        earlier = [w for key, w in document.windows.items() if key != window.key]
        fixed_labels = next((w.histogram_labels for w in sorted(earlier, key=lambda w: w.window_start)), None)
        planned = rollout_evidence_query(
            manifest.model,
            window,
            rollout,
            manifest.prediction_type,
            now=now,
            label_horizon=timedelta(days=context.settings.label_horizon_days),
            label_values=fixed_labels or None,
        )
        result = engine.run(planned.query)
        evidence = evidence_from_rows(result.rows, planned, rollout, window)
        document.windows[window.key] = evidence
        windows = [w for w in document.in_order() if w.window_end > rollout.started_at]
        evaluation = evaluate_rollout(rollout, windows, now, document.tests)
        document.tests = evaluation.tests
        document.latest = evaluation
        try:
            store.save(document, version)
        except StateConflict:
            if attempt + 1 == SAVE_ATTEMPTS:
                raise
            continue
        read = {"engine": result.engine, "bytes_scanned": result.bytes_scanned}
        if result.query_id is not None:
            read["query_id"] = result.query_id
        return evaluation, {**read, "window": evidence.model_dump(mode="json")}
    raise AssertionError("unreachable")  # pragma: no cover


def _summary(evaluation: RolloutEvaluation) -> dict[str, Any]:
    return {
        "rollout_id": evaluation.rollout_id,
        "mode": evaluation.mode,
        "candidate_version": evaluation.candidate_version,
        "production_version": evaluation.production_version,
        "action": evaluation.action,
        "share_before": evaluation.share_before,
        "share_after": evaluation.share_after,
        "state_after": evaluation.state_after,
        "reason": evaluation.reason,
        "decisions": {name: test.decision for name, test in evaluation.tests.items()},
        "breached": [check.name for check in evaluation.breached],
        "windows": evaluation.windows,
    }


def run_rollout(context: JobContext, model: str, window: Window) -> JobOutcome:
    """Judge the running rollout of ``model`` on the evidence through ``window``, and act on it.

    Raises
    ------
    NoQueryEngine
        ``context.sql`` is None (the runner stores it as a failed result).
    """
    engine = context.sql
    if engine is None:
        raise NoQueryEngine(
            "the rollout job reads the variants' figures with SQL and no engine is configured: "
            "set MODELWATCH_QUERY_ENGINE (athena, with the workgroup and database; duckdb, with the lake dir)"
        )
    manifest = context.manifests.current(model, ROLLOUT_ALIAS)
    rollout = manifest.rollout if manifest is not None else None
    if manifest is None or rollout is None or rollout.state != "running":
        why = (
            f"model {model!r} has no {ROLLOUT_ALIAS} manifest"
            if manifest is None
            else f"model {model!r} has no running rollout"
            + (f" (rollout {rollout.id} is {rollout.state})" if rollout is not None else "")
        )
        return JobOutcome(status="no_data", reason=why)
    versions = [rollout.production_version, rollout.candidate.version]
    try:
        evaluation, read = _evaluate(context, engine, manifest, window)
    except InvalidRolloutMetric as error:
        return JobOutcome(
            status="failed", versions=versions, reason=str(error), summary={"rollout_id": rollout.id}
        )
    except QueryLimitExceeded as error:
        return JobOutcome(
            status="failed", versions=versions, reason=str(error), summary={"rollout_id": rollout.id}
        )
    summary = _summary(evaluation)
    changed = apply_evaluation(rollout, evaluation, context.clock())
    rolled_back = False
    if changed is not None:
        uri = _write_rollout(context, manifest, changed)
        if uri is None:
            summary["manifest"] = "not written: the rollout changed since it was read"
            summary["action"] = "none"
        else:
            summary["manifest"] = uri
            rolled_back = evaluation.action == "rollback"
    summary.update({key: value for key, value in read.items() if key != "window"})
    # The evaluation, and this window's own figures (what the metrics export per window).
    details = {**evaluation.model_dump(mode="json"), "window": read["window"]}
    page = render_table_page(
        f"{model}: rollout {rollout.id} ({rollout.mode}), window {window.key}",
        f"{evaluation.action}: {evaluation.reason}",
        rolled_back,
        _tables(evaluation),
    )
    return JobOutcome(
        status="ok",
        alert=rolled_back,
        versions=versions,
        summary=summary,
        details=details,
        pages={rollout.candidate.version: page},
        primary_version=rollout.candidate.version,
    )


def _tables(evaluation: RolloutEvaluation) -> dict[str, list[dict[str, Any]]]:
    """The report page's tables: both variants side by side, the tests, the guardrails."""
    return {
        "Variants since the start": [
            {"variant": variant, **totals.model_dump()} for variant, totals in evaluation.totals.items()
        ],
        "Always-valid tests": [test.model_dump() for test in evaluation.tests.values()],
        "Guardrails": [check.model_dump() for check in evaluation.guardrails],
    }
