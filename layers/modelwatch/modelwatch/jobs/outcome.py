"""What a job computed, before it is stored as a ``JobResult``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelwatch.contracts.results import JobStatus


@dataclass
class JobOutcome:
    status: JobStatus
    alert: bool = False
    versions: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None
    pages: dict[str, str] = field(default_factory=dict)  # HTML report per version
    primary_version: str | None = None  # the version whose report an alert links to
