"""Settings of the notify function: the channels it sends to, and how long secrets stay cached."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field
from pydantic_settings import NoDecode

from modelwatch.contracts.channels import Channel, parse_channels
from modelwatch.settings.base import ModelwatchSettings, decode_json


def _channels(value: object) -> object:
    """JSON text (or a list) to validated channels; a ``ChannelConfigError`` names the channel."""
    value = decode_json(value)
    if isinstance(value, list | tuple):
        return parse_channels(value)
    return value


class NotifySettings(ModelwatchSettings):
    """The channel list (names, types, filters, secret ARNs: never a secret itself).

    ``MODELWATCH_CHANNELS`` is the JSON list of cdk.json's ``observability.channels`` (the e-mail
    ones included, which SNS delivers itself), validated at cold start naming the channel.
    """

    channels: Annotated[tuple[Channel, ...], NoDecode, BeforeValidator(_channels)] = Field(
        description="The alert channels (modelwatch.contracts.channels), as JSON."
    )
    secret_max_age_seconds: int = Field(300, ge=0, le=3600, description="How long a read secret is cached.")
    failure_alarm_name: str = Field(
        "", description="The alarm on ChannelDeliveryFailuresTotal: its own failures are not totalled."
    )
