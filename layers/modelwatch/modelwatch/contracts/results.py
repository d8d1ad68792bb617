"""Job results: the JSON document every run writes (``layout.result_key``), HTML reports beside it.

The result exists for every run that got as far as reading its
window, whatever the outcome: ``ok``, ``no_data`` (an empty window is not a
failure) or ``failed`` (with the reason), so nothing a run found is lost.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

JOB_RESULT_SCHEMA_VERSION: Final = 1

# The jobs every served model gets on every window (and a backfill can recompute).
WindowJobName = Literal["drift", "quality", "performance"]
# ... and the rollout job, which runs only for a running rollout, on live evidence.
JobName = Literal[WindowJobName, "rollout"]
WINDOW_JOBS: Final[tuple[WindowJobName, ...]] = ("drift", "quality", "performance")
JobStatus = Literal["ok", "no_data", "failed"]


class JobResult(BaseModel):
    """The outcome of one job over one window of one model."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    schema_version: Literal[1] = JOB_RESULT_SCHEMA_VERSION
    job: JobName
    model: str
    window_start: datetime
    window_end: datetime
    status: JobStatus
    alert: bool = Field(False, description="Drift detected, quality violated or performance degraded.")
    versions: list[str] = Field(default_factory=list, description="Versions that served in the window.")
    summary: dict[str, Any] = Field(default_factory=dict, description="The few figures an alert carries.")
    details: dict[str, Any] = Field(default_factory=dict, description="The full report per version.")
    reason: str | None = None
    report_uri: str | None = Field(None, description="The HTML report of the version that matters most.")
    report_uris: dict[str, str] = Field(default_factory=dict, description="HTML report per version.")
    result_uri: str | None = None
    started_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    duration_seconds: float = 0.0
