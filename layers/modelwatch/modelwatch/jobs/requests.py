"""What invokes a monitoring function: a schedule, an on-demand call, or a delivered object."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from modelwatch.contracts.names import MODEL_NAME_PATTERN
from modelwatch.contracts.results import JobName


class JobRequest(BaseModel):
    """A dispatched run (a queue message), a timed one (``time``) or an on-demand one (``window_start``).

    The dispatcher sends ``{"job": ..., "model": ..., "window_start": ..., "window_minutes": ...}``
    (:meth:`modelwatch.jobs.dispatch.DueWindow.body`); the CLI and tests invoke with ``window_start``.
    """

    model_config = ConfigDict(extra="ignore", protected_namespaces=())

    job: JobName | None = Field(None, description="The job a dispatched message is for.")
    model: str = Field(pattern=MODEL_NAME_PATTERN)
    time: datetime | None = Field(None, description="When the schedule fired; the window before it is run.")
    window_start: datetime | None = Field(None, description="Run this window instead (backfill).")
    force: bool = Field(False, description="Recompute a window that already has a result.")
    window_minutes: int | None = Field(
        None, ge=1, description="This model's window length, if not the default."
    )
    refresh_late_labels: bool = Field(
        False,
        description="Performance only: after the run, recompute earlier windows that late labels reached "
        "(modelwatch.jobs.runner.refresh_late_labels). The dispatcher sets it on scheduled runs.",
    )


class ObjectCreated(BaseModel):
    """The parts of an S3 'Object Created' EventBridge event the profile function reads."""

    model_config = ConfigDict(extra="ignore")

    bucket: str
    key: str
    etag: str = ""

    @classmethod
    def from_event(cls, event: dict[str, object]) -> ObjectCreated:
        detail = event.get("detail")
        if not isinstance(detail, dict):
            raise ValueError("not an S3 Object Created event: no detail")
        bucket = detail.get("bucket") or {}
        obj = detail.get("object") or {}
        return cls(bucket=bucket.get("name", ""), key=obj.get("key", ""), etag=obj.get("etag", ""))
