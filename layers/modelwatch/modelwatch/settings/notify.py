"""Settings of the notify function (alerts from the SNS topic to a webhook)."""

from __future__ import annotations

from pydantic import Field

from modelwatch.settings.base import ModelwatchSettings


class NotifySettings(ModelwatchSettings):
    """Where the webhook URL is kept: never the URL itself, which is a credential."""

    webhook_secret_arn: str = Field(
        description="Secrets Manager secret holding the webhook's HTTPS URL (read, cached 5 minutes)."
    )
    webhook_secret_max_age_seconds: int = Field(300, ge=0, le=3600)
