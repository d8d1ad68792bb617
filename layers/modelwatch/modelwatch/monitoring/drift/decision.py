"""The decision rule: significant after false-discovery-rate control, and meaningful.

Every p-value of a run (each feature's distribution test, and its missing-share
and unseen-category tests) joins one Benjamini-Hochberg family. A signal is raised
when its adjusted p-value is below ``q`` (0.05) **and** its effect size reaches
the method's floor. With unchanged data the chance of any false flag in the run
stays at or below ``q`` whatever the number of features; the floor stops large
samples from flagging changes too small to matter, whose p-values are tiny anyway.
"""

from __future__ import annotations

from collections.abc import Sequence


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (step-up, monotone, capped at 1), in input order.

    Parameters
    ----------
    p_values:
        The raw p-values of the family.

    Returns
    -------
    list[float]
        ``p_adj[i] = min_{j: rank_j >= rank_i} p_j * m / rank_j``.
    """
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [1.0] * m
    running = 1.0
    for position in range(m - 1, -1, -1):
        index = order[position]
        running = min(running, p_values[index] * m / (position + 1))
        adjusted[index] = min(1.0, running)
    return adjusted


def is_flagged(p_adjusted: float | None, effect_size: float | None, threshold: float, q: float) -> bool:
    """Whether a signal is raised: ``p_adjusted < q`` and ``effect_size >= threshold``."""
    if p_adjusted is None or effect_size is None:
        return False
    return p_adjusted < q and effect_size >= threshold


def dataset_drift(n_drifted: int, n_features: int, drift_share: float) -> tuple[bool, float]:
    """Whether the dataset drifted (share of drifted features >= ``drift_share``), and that share."""
    if n_features == 0:
        return False, 0.0
    share = n_drifted / n_features
    return share >= drift_share, share
