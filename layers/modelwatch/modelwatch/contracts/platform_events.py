"""Events the monitoring jobs put on the platform's EventBridge bus.

``DriftDetected``, ``DataQualityViolation`` and ``PerformanceDegraded``, source
``modelwatch``, with the model, versions, window, the figures that matter and the
report's URI, so retraining pipelines and notifications can subscribe.
"""

from __future__ import annotations

from typing import Any, Final

from modelwatch.contracts.results import JobResult

SOURCE: Final = "modelwatch"
DETAIL_TYPES: Final = {
    "drift": "DriftDetected",
    "quality": "DataQualityViolation",
    "performance": "PerformanceDegraded",
    "rollout": "RolloutRolledBack",  # the rollout job alerts only when it rolls a candidate back
}


def alert_detail(result: JobResult) -> dict[str, Any]:
    """The event detail of an alerting result."""
    return {
        "model": result.model,
        "versions": result.versions,
        "job": result.job,
        "window_start": result.window_start.isoformat(),
        "window_end": result.window_end.isoformat(),
        **result.summary,
        "report_uri": result.report_uri,
        "result_uri": result.result_uri,
    }
