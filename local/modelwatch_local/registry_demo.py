"""The registry part of ``make demo``: two versions, a comparison, a promotion that serving follows.

Trains two versions of the demo fraud model (a small and a larger gradient-boosted
ensemble, on the same data), registers both in the local MLflow server with their
hold-out AUC, training data profile and input schema, prints the comparison
table, promotes the better one development -> staging -> production (which
publishes its serving manifest to the local S3), and polls the running API until
it answers with the new version: no restart, no deployment.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from modelwatch.registry import ModelRegistry, VersionComparison, compare_model_versions
from modelwatch_local.fraud import FRAUD_SCHEMA, save_model, synthetic_transactions, train_fraud_model
from modelwatch_local.stack import MODELS_BUCKET, LocalStack

MODEL = "fraud_detection"
CANDIDATES = ({"n_estimators": 10, "seed": 0}, {"n_estimators": 150, "seed": 0})
TRAINING_ROWS = 10_000


@dataclass
class RegistryDemoResult:
    """What the registry demo did, for the caller's summary and exit code."""

    versions: list[str]
    comparison: VersionComparison
    promoted: str
    served_before: str | None
    served_after: str | None
    switch_seconds: float | None
    api_pid_unchanged: bool

    @property
    def ok(self) -> bool:
        """Serving switched to the promoted version without restarting the API."""
        return self.switch_seconds is not None and self.api_pid_unchanged


def _instance() -> dict[str, Any]:
    rows, _ = synthetic_transactions(1, seed=42)
    return rows[0]


def served_version(api_url: str, model: str = MODEL) -> tuple[str | None, datetime | None]:
    """The version the API predicts with (a real predict call), and its manifest's created time."""
    try:
        response = httpx.post(
            f"{api_url}/v1/models/{model}/predict", json={"instances": [_instance()]}, timeout=10.0
        )
        version = str(response.json()["version"]) if response.status_code == 200 else None
        listing = httpx.get(f"{api_url}/v1/models", timeout=10.0).json()
    except (httpx.HTTPError, ValueError, KeyError):
        return None, None
    for entry in listing.get("models", []):
        if entry.get("name") == model:
            return version, datetime.fromisoformat(str(entry["created_at"]).replace("Z", "+00:00"))
    return version, None


def _process_alive(pid: int | None) -> bool:
    import os

    if pid is None:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_registry_demo(
    stack: LocalStack,
    registry_uri: str,
    say: Callable[[str], None] = print,
    switch_timeout: float = 60.0,
) -> RegistryDemoResult:
    """Register two versions, compare them, promote the better one and watch serving switch.

    Parameters
    ----------
    stack:
        The running local stack (its API serves ``fraud_detection``; its S3 holds the models bucket).
    registry_uri:
        The local MLflow server's URL (``start_mlflow_server(...).url``).
    say:
        Where progress lines go.
    switch_timeout:
        Seconds to wait for the API to serve the promoted version (manifest TTL locally: 5 s).

    Returns
    -------
    RegistryDemoResult
        ``ok`` when the API switched to the promoted version with the same process.

    Raises
    ------
    modelwatch.registry.RegistryError
        The registry refused something (should not happen in the demo).
    """
    registry = ModelRegistry(registry_uri, models_bucket=MODELS_BUCKET, storage=stack.storage())
    rows, _ = synthetic_transactions(TRAINING_ROWS, seed=0)
    columns = {name: [row[name] for row in rows] for name in FRAUD_SCHEMA.feature_names}
    versions: list[str] = []
    say(f"MLflow tracking server at {registry_uri} (UI: {registry_uri}/#/models/{MODEL})")
    for params in CANDIDATES:
        trained = train_fraud_model(n=TRAINING_ROWS, **params)
        path = save_model(
            trained, Path(stack.state_dir) / "registry" / f"candidate-{params['n_estimators']}.joblib"
        )
        uri = registry.register_model(
            model_path=str(path),
            name=MODEL,
            tags={"algorithm": "gradient_boosting", "n_estimators": str(params["n_estimators"])},
            flavor="sklearn",
            prediction_type="probability",
            input_schema=FRAUD_SCHEMA,
            training_data=columns,
            metrics={"auc": trained.auc},
            description=f"GradientBoostingClassifier, {params['n_estimators']} trees",
        )
        versions.append(uri.rsplit("/", 1)[-1])
        say(f"registered {uri}: {params['n_estimators']} trees, hold-out AUC {trained.auc:.4f}")

    from modelwatch.cli.registry import format_comparison_table

    say("")
    say(format_comparison_table(registry.compare_table(MODEL, versions, ["auc"])))
    comparison = compare_model_versions(
        registry,
        model_name=MODEL,
        version1=versions[0],
        version2=versions[1],
        metric="auc",
        min_absolute_change=0.005,
    )
    winner = comparison.winner or versions[1]
    gate = comparison.gate
    if gate is not None:
        say(f"gate (AUC +0.005 over v{versions[0]}): {'passed' if gate.passed else 'failed'}: {gate.reason}")
    served_before, _ = served_version(stack.api_url)
    api_pid = stack.pids.get("api")
    say(f"serving before promotion: version {served_before}")

    registry.promote(MODEL, winner, "staging", reason=f"best AUC ({comparison.metric})")
    result = registry.promote(MODEL, winner, "production", reason="passed staging")
    assert result.manifest is not None
    say(f"promoted version {winner}: development -> staging -> production")
    say(f"serving manifest published: {result.manifest_uri}")

    started = time.monotonic()
    served_after: str | None = None
    switched: float | None = None
    while time.monotonic() - started < switch_timeout:
        served_after, created = served_version(stack.api_url)
        if served_after == winner and created == result.manifest.created_at:
            switched = time.monotonic() - started
            break
        time.sleep(0.5)
    same_process = _process_alive(api_pid) and stack.pids.get("api") == api_pid
    if switched is not None:
        say(
            f"serving switched to version {winner} {switched:.1f} s after the promotion "
            f"(API process {api_pid} kept running: no restart, no deployment)"
        )
    else:
        say(f"FAILED: the API still serves version {served_after} after {switch_timeout:.0f} s")
    return RegistryDemoResult(
        versions=versions,
        comparison=comparison,
        promoted=winner,
        served_before=served_before,
        served_after=served_after,
        switch_seconds=switched,
        api_pid_unchanged=same_process,
    )
