"""Where metric samples go: the Prometheus remote-write endpoint (AMP, or the local Prometheus)."""

from __future__ import annotations

from typing import Final

from pydantic import Field

from modelwatch.settings.base import ModelwatchSettings

# Defaults of the remote-write client (modelwatch.metrics.remote_write uses them too).
DEFAULT_MAX_SERIES_PER_REQUEST: Final = 500
DEFAULT_MAX_ATTEMPTS: Final = 3
DEFAULT_BACKOFF_SECONDS: Final = 0.5
DEFAULT_TIMEOUT_SECONDS: Final = 5.0


class RemoteWriteSettings(ModelwatchSettings):
    """Settings of every function that pushes metrics (the jobs, the metrics export)."""

    remote_write_url: str | None = Field(
        None,
        description=(
            "Prometheus remote-write endpoint: AMP's (signed with SigV4, region from the URL) "
            "or a plain one such as the local Prometheus's http://127.0.0.1:9090/api/v1/write."
        ),
        pattern=r"^https?://\S+$",
    )
    remote_write_max_series: int = Field(DEFAULT_MAX_SERIES_PER_REQUEST, ge=1, le=10_000)
    remote_write_max_attempts: int = Field(DEFAULT_MAX_ATTEMPTS, ge=1, le=10)
    remote_write_backoff_seconds: float = Field(DEFAULT_BACKOFF_SECONDS, ge=0, le=30)
    remote_write_timeout_seconds: float = Field(DEFAULT_TIMEOUT_SECONDS, gt=0, le=60)
