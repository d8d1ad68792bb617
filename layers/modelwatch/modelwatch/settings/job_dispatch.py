"""Settings of the job dispatcher: what it lists, where it puts due windows, how far it catches up."""

from __future__ import annotations

from pydantic import Field

from modelwatch.settings.base import JsonSetting, ModelwatchSettings


class JobDispatchSettings(ModelwatchSettings):
    """The dispatcher finds every served model and puts its due windows on the job queues."""

    models_bucket: str = Field(description="Bucket of the serving manifests (listed under manifests/).")
    events_bucket: str = Field(description="Bucket of the dispatcher's state (state/job_dispatch/).")
    job_queue_urls: JsonSetting[dict[str, str]] = Field(
        description='JSON {"drift": "<queue url>", "quality": ..., "performance": ..., "rollout": ...}.',
        min_length=1,
    )
    served_alias: str = Field("production", description="The alias whose manifests are monitored.")
    window_minutes: int = Field(
        60, ge=5, le=7 * 24 * 60, description="Window length of a model whose manifest names none."
    )
    label_lag_minutes: int = Field(0, ge=0, description="The performance job's windows are this much older.")
    rollout_window_minutes: int = Field(
        5, ge=1, le=24 * 60, description="The rollout job's window (models with a running rollout only)."
    )
    delivery_lag_minutes: int = Field(
        3,
        ge=0,
        le=60,
        description=(
            "Every window is dispatched this long after it ends, so its last events are in S3: "
            "Firehose's dynamic partitioning delivers up to 1.5 x its 60 s buffer after the put."
        ),
    )
    dispatch_every_minutes: int = Field(
        5, ge=1, le=60, description="The dispatcher's schedule; how far back a first run looks."
    )
    max_catch_up_windows: int = Field(
        3, ge=1, le=1000, description="At most this many missed windows per model and job are dispatched."
    )
