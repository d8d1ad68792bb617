"""Settings of the capture replay (the ``capture_replay`` function and ``modelwatch capture replay``)."""

from __future__ import annotations

from pydantic import Field

from modelwatch.settings.base import JsonSetting, ModelwatchSettings


class CaptureReplaySettings(ModelwatchSettings):
    """Which queue to drain, where its claims are kept, and how long a replay may hold messages."""

    capture_dlq_url: str = Field(description="The capture dead-letter queue (stack output CaptureDlqUrl).")
    events_bucket: str = Field(
        description="The events bucket: the replay's claims live under its state/capture_replay/."
    )
    replay_max_messages: int = Field(
        10_000, ge=1, le=1_000_000, description="Messages one replay reads at most."
    )
    replay_visibility_timeout_seconds: int = Field(
        360,
        ge=30,
        le=12 * 3600,
        description="How long a received message stays hidden from other readers (longer than a run).",
    )
    replay_claim_lease_seconds: float = Field(
        900.0,
        ge=60,
        le=24 * 3600,
        description="After this, a claim never confirmed is in doubt (its replay stopped midway).",
    )
    replay_concurrency: int = Field(16, ge=1, le=64, description="Claims written at once.")
    replay_reserve_seconds: float = Field(
        30.0, ge=0, le=600, description="In Lambda: stop reading this long before the invocation's deadline."
    )
    replay_stream_map: JsonSetting[dict[str, str]] = Field(
        default_factory=dict,
        description=(
            "JSON object: a stream named by dead letters -> the stream to replay them into (e.g. the "
            "per-model events streams of an earlier deployment -> the one events stream)."
        ),
    )
    replay_connect_timeout_seconds: float = Field(2.0, gt=0, le=30)
    replay_read_timeout_seconds: float = Field(10.0, gt=0, le=120)
