"""What invokes a monitoring function: a schedule, an on-demand call, or a delivered object."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from modelwatch.contracts.names import MODEL_NAME_PATTERN


class JobRequest(BaseModel):
    """A scheduled run (``time`` from the EventBridge event) or an on-demand one (``window_start``).

    The schedule's rule target sends ``{"model": "<m>", "time": <event time>}``.
    """

    model_config = ConfigDict(extra="ignore", protected_namespaces=())

    model: str = Field(pattern=MODEL_NAME_PATTERN)
    time: datetime | None = Field(None, description="When the schedule fired; the window before it is run.")
    window_start: datetime | None = Field(None, description="Run this window instead (backfill).")
    force: bool = Field(False, description="Recompute a window that already has a result.")
    window_minutes: int | None = Field(
        None, ge=1, description="This model's window length, if not the default."
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
