"""The alert channels document: where alerts go, each channel with its own severities and models.

Declared in cdk.json (``observability.channels``), validated at ``cdk synth`` and again at the notify
function's cold start (``MODELWATCH_CHANNELS``, the same list as JSON)::

    channels:
      - {name: oncall-mail, type: email, address: ml-oncall@example.com, severities: [critical]}
      - {name: fraud-slack, type: slack, secret_arn: "arn:aws:secretsmanager:...", models: ["fraud*"]}
      - {name: pager, type: pagerduty, secret_arn: "arn:aws:secretsmanager:...", severities: [critical]}

``type`` is one of :data:`CHANNEL_TYPES`. An ``email`` channel has an ``address`` (an SNS e-mail
subscription with a filter policy); every other type has a ``secret_arn``: the Secrets Manager secret
holding its URL, routing key or API key, never the value itself. ``severities`` and ``models`` default
to all; ``models`` are glob patterns (``fraud*``), and an e-mail channel's patterns are names or
prefixes (``fraud_*``), which is what an SNS filter policy can match. This module holds the document
only (no I/O): the CDK app and the notify function both validate with it.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

ChannelType = Literal["email", "slack", "teams", "pagerduty", "opsgenie", "webhook"]
Severity = Literal["critical", "error", "warning", "info"]
CHANNEL_TYPES: Final[tuple[str, ...]] = ("email", "slack", "teams", "pagerduty", "opsgenie", "webhook")
SEVERITIES: Final[tuple[str, ...]] = ("critical", "error", "warning", "info")
SECRET_ARN_PATTERN: Final = r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$"
CHANNEL_NAME_PATTERN: Final = r"^[a-z0-9][a-z0-9_-]{0,63}$"
MODEL_PATTERN_PATTERN: Final = r"^[A-Za-z0-9_.*?\[\]-]{1,128}$"
# The value of the ``model`` message attribute of an alert about no one model (alertmanager.yml).
NO_MODEL: Final = "-"
MAX_EMAIL_MODEL_PATTERNS: Final = 40  # an SNS filter policy allows 150 value combinations (x3 severities)


class ChannelConfigError(ValueError):
    """The channel list is invalid; the message names the channel (or its position)."""


class Channel(BaseModel):
    """One alert channel (no secret in it: secrets stay in Secrets Manager)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=CHANNEL_NAME_PATTERN)
    type: ChannelType
    secret_arn: str | None = Field(None, pattern=SECRET_ARN_PATTERN)
    address: str | None = None
    severities: tuple[Severity, ...] = ("critical", "error", "warning", "info")
    models: tuple[str, ...] = ("*",)

    @field_validator("address")
    @classmethod
    def _check_address(cls, address: str | None) -> str | None:
        if address is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", address):
            raise ValueError(f"{address!r} is not an e-mail address")
        return address

    @field_validator("severities")
    @classmethod
    def _check_severities(cls, severities: tuple[str, ...]) -> tuple[str, ...]:
        if not severities:
            raise ValueError("at least one severity (leave severities out for all)")
        return severities

    @field_validator("models")
    @classmethod
    def _check_models(cls, models: tuple[str, ...]) -> tuple[str, ...]:
        if not models:
            raise ValueError("at least one model pattern (leave models out for all)")
        for pattern in models:
            if not re.fullmatch(MODEL_PATTERN_PATTERN, pattern):
                raise ValueError(f"{pattern!r} is not a model name or glob pattern")
        return models

    @model_validator(mode="after")
    def _check_type_fields(self) -> Channel:
        if self.type == "email":
            if self.address is None or self.secret_arn is not None:
                raise ValueError("an email channel has an address and no secret_arn")
            for pattern in self.models:
                if pattern != "*" and not re.fullmatch(r"[A-Za-z0-9_.-]+\*?", pattern):
                    raise ValueError(f"{pattern!r}: an email channel's models are names or prefixes (name*)")
            if len(self.models) > MAX_EMAIL_MODEL_PATTERNS:
                raise ValueError(f"an email channel takes at most {MAX_EMAIL_MODEL_PATTERNS} model patterns")
        elif self.secret_arn is None or self.address is not None:
            raise ValueError(f"a {self.type} channel has a secret_arn (Secrets Manager) and no address")
        return self

    @property
    def all_models(self) -> bool:
        """Whether the channel takes every model's alerts."""
        return "*" in self.models

    def wants(self, severity: str, model: str) -> bool:
        """Whether an alert of ``severity`` about ``model`` goes to this channel.

        An alert about no one model (``model`` empty or :data:`NO_MODEL`: platform alerts, CloudWatch
        alarms) goes to every channel of its severity, whatever its models.
        """
        if severity not in self.severities:
            return False
        if not model or model == NO_MODEL or self.all_models:
            return True
        return any(fnmatch.fnmatchcase(model, pattern) for pattern in self.models)


def parse_channels(entries: Iterable[Mapping[str, Any] | Channel]) -> tuple[Channel, ...]:
    """Return the validated channels of ``entries`` (cdk.json's list, or the notify function's).

    Raises
    ------
    ChannelConfigError
        An entry is invalid, or two share a name; the message names the channel and the field.
    """
    channels: list[Channel] = []
    for index, entry in enumerate(entries):
        if isinstance(entry, Channel):
            channels.append(entry)
            continue
        label = f"channels[{index}]"
        if isinstance(entry, Mapping) and isinstance(entry.get("name"), str):
            label += f" ({entry['name']})"
        if not isinstance(entry, Mapping):
            raise ChannelConfigError(f"{label}: a channel is a mapping with name and type")
        try:
            channels.append(Channel.model_validate(dict(entry)))
        except ValidationError as error:
            raise ChannelConfigError(f"{label}: {_problems(error)}") from None
    seen: set[str] = set()
    for channel in channels:
        if channel.name in seen:
            raise ChannelConfigError(
                f"channels ({channel.name}): two channels have the name {channel.name!r}"
            )
        seen.add(channel.name)
    return tuple(channels)


def _problems(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(part) for part in item.get("loc", ()))
        message = str(item["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def secret_arns(channels: Sequence[Channel]) -> tuple[str, ...]:
    """The distinct secrets of ``channels``, in order (what the notify function may read)."""
    return tuple(dict.fromkeys(c.secret_arn for c in channels if c.secret_arn is not None))
