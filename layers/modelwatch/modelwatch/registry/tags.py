"""Names of the MLflow tags modelwatch writes on registered models and model versions.

Everything modelwatch records in MLflow (lineage, stage, transition history,
metrics, how to serve a version) is a tag under the ``modelwatch.`` namespace,
so it is visible in the MLflow UI and readable through the plain REST API
(the registry-sync function has no MLflow client).
"""

from __future__ import annotations

from typing import Final

PREFIX: Final = "modelwatch."

# Registered model.
MANAGED: Final = "modelwatch.managed"  # "true": registered through modelwatch; the sync serves it
MODEL_TRANSITIONS: Final = "modelwatch.transitions"  # JSON list: the latest transitions of any version
ROLLOUT_HISTORY: Final = "modelwatch.rollout_history"  # JSON list: the latest rollout transitions

# Model version: how to serve it.
FLAVOR: Final = "modelwatch.flavor"
PREDICTION_TYPE: Final = "modelwatch.prediction_type"
MODEL_FILE: Final = "modelwatch.model_file"  # file name inside the version's artifact directory
INPUT_SCHEMA_FILE: Final = "modelwatch.input_schema_file"
PROFILE_FILE: Final = "modelwatch.reference_profile_file"
MONITORING_WINDOW_MINUTES: Final = "modelwatch.monitoring_window_minutes"  # this model's job window

# Model version: lifecycle.
STAGE: Final = "modelwatch.stage"
HISTORY: Final = "modelwatch.stage_history"  # JSON list of TransitionRecord

# Model version: lineage.
LINEAGE_PREFIX: Final = "modelwatch.lineage."
TRAINING_DATA_URI: Final = "modelwatch.lineage.training_data_uri"
CODE_REVISION: Final = "modelwatch.lineage.code_revision"
RUN_ID: Final = "modelwatch.lineage.run_id"
SOURCE_URI: Final = "modelwatch.lineage.source_uri"
CREATOR: Final = "modelwatch.lineage.creator"
CREATED_AT: Final = "modelwatch.lineage.created_at"

# Model version: metrics (float as text), ``modelwatch.metric.<name>``.
METRIC_PREFIX: Final = "modelwatch.metric."

# Artifact names inside a version's directory.
INPUT_SCHEMA_ARTIFACT: Final = "input_schema.json"
PROFILE_ARTIFACT: Final = "reference_profile.json"

# Experiment holding the registration runs.
EXPERIMENT: Final = "modelwatch-registry"


def user_tags(tags: dict[str, str]) -> dict[str, str]:
    """The tags a user set, without modelwatch's own and MLflow's (``mlflow.``) ones."""
    return {k: v for k, v in tags.items() if not k.startswith((PREFIX, "mlflow."))}


def lineage(tags: dict[str, str]) -> dict[str, str]:
    """The lineage tags, keyed by their short name (``training_data_uri``, ``run_id``, ...)."""
    return {k[len(LINEAGE_PREFIX) :]: v for k, v in tags.items() if k.startswith(LINEAGE_PREFIX)}


def metrics(tags: dict[str, str]) -> dict[str, float]:
    """The metrics recorded as version tags (unparseable values are ignored)."""
    found: dict[str, float] = {}
    for key, value in tags.items():
        if key.startswith(METRIC_PREFIX):
            try:
                found[key[len(METRIC_PREFIX) :]] = float(value)
            except ValueError:
                continue
    return found
