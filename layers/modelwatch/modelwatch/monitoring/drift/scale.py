"""The scale that makes numeric effect sizes comparable across features."""

from __future__ import annotations

from modelwatch.contracts.profile import Moments


def reference_scale(moments: Moments) -> float:
    """The reference's standard deviation; for a constant reference, ``max(|mean|, 1)``."""
    std = moments.std
    if std > 0:
        return std
    return max(abs(moments.mean), 1.0)
