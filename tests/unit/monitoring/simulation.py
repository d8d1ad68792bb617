"""Seeded data generators for the statistical tests of the monitoring engine."""

from __future__ import annotations

from typing import Any

import numpy as np

from modelwatch.contracts.profile import DatasetProfile, FeatureProfile, Moments, NumericSummary
from modelwatch.contracts.schema import FeatureType
from modelwatch.monitoring.drift import DriftConfig, DriftReport, detect_drift
from modelwatch.monitoring.profile import profile_against, profile_dataset

CATEGORIES = np.array(["a", "b", "c", "d", "e"])
CATEGORY_WEIGHTS = np.array([0.4, 0.25, 0.15, 0.12, 0.08])


def dataset(
    rng: np.random.Generator,
    n: int,
    n_numeric: int = 4,
    n_categorical: int = 2,
    shift: float = 0.0,
    scale: float = 1.0,
    weights: Any = None,
) -> dict[str, Any]:
    """Columns num_0.. (normal; num_0 optionally shifted/scaled) and cat_0.. (categorical)."""
    columns: dict[str, Any] = {}
    for i in range(n_numeric):
        columns[f"num_{i}"] = rng.normal(shift if i == 0 else 0.0, scale if i == 0 else 1.0, n)
    for i in range(n_categorical):
        p = CATEGORY_WEIGHTS if weights is None or i > 0 else np.asarray(weights)
        columns[f"cat_{i}"] = CATEGORIES[rng.choice(len(CATEGORIES), size=n, p=p / p.sum())].tolist()
    return columns


def run(
    reference: dict[str, Any], current: dict[str, Any], config: DriftConfig | None = None, raw: bool = False
) -> DriftReport:
    ref_profile = profile_dataset(reference)
    cur_profile = profile_against(ref_profile, current)
    if raw:
        return detect_drift(ref_profile, cur_profile, config, reference, current)
    return detect_drift(ref_profile, cur_profile, config)


def binned_profile(name: str, counts: np.ndarray, edges: np.ndarray, moments: Moments) -> FeatureProfile:
    total = int(counts.sum())
    return FeatureProfile(
        name=name,
        kind="numeric",
        value_type=FeatureType.NUMBER,
        count=total,
        numeric=NumericSummary(edges=edges.tolist(), counts=[int(c) for c in counts], moments=moments),
    )


def profile_level_pair(
    rng: np.random.Generator, n: int, n_features: int, edges: np.ndarray, probabilities: np.ndarray
) -> tuple[DatasetProfile, DatasetProfile]:
    """Reference and current profiles of ``n`` rows each drawn from the same binned distribution.

    Under- and overflow bins are empty (probability 0); moments are those of a standard normal.
    """
    moments = Moments(count=n, mean=0.0, m2=float(n), min=float(edges[0]), max=float(edges[-1]))
    ref_features, cur_features = [], []
    full = np.concatenate([[0.0], probabilities, [0.0]])
    for i in range(n_features):
        ref_features.append(binned_profile(f"f{i}", rng.multinomial(n, full), edges, moments))
        cur_features.append(binned_profile(f"f{i}", rng.multinomial(n, full), edges, moments))
    return DatasetProfile(n_rows=n, features=ref_features), DatasetProfile(n_rows=n, features=cur_features)
