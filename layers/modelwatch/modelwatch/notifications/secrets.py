"""The secret of each channel type: what Secrets Manager holds, parsed and checked.

=========== ==================================================================
type        secret value (JSON)
=========== ==================================================================
slack       ``{"url": "https://hooks.slack.com/services/..."}`` (or the bare URL)
teams       ``{"url": "<the Workflows webhook's https URL>"}`` (or the bare URL)
pagerduty   ``{"routing_key": "<32-character integration key>"}``
opsgenie    ``{"api_key": "<API integration key>", "region": "us" | "eu"}`` (default us)
webhook     ``{"url": "https://...", "signing_key": "<at least 16 characters>"}``
=========== ==================================================================

Errors say what is wrong without echoing the value, which is a credential.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

OPSGENIE_HOSTS: Final = {"us": "api.opsgenie.com", "eu": "api.eu.opsgenie.com"}
MIN_SIGNING_KEY: Final = 16


class SecretError(ValueError):
    """A channel's secret is missing a field or malformed (the message never holds the secret)."""


@dataclass(frozen=True, repr=False)
class ChannelSecret:
    """The credentials of one channel; ``repr`` hides them."""

    url: str = ""
    routing_key: str = ""
    api_key: str = ""
    region: str = "us"
    signing_key: str = ""

    def __repr__(self) -> str:
        return "ChannelSecret(<hidden>)"


def check_https_url(url: str) -> str:
    """Return ``url`` if it is an HTTPS URL, else raise ``SecretError`` (not echoing it)."""
    if not url.startswith("https://") or len(url) < 12 or any(c.isspace() for c in url):
        raise SecretError("the secret's url must be an https:// URL")
    return url


def _document(text: str) -> dict[str, Any]:
    stripped = text.strip()
    if not stripped.startswith("{"):
        return {"url": stripped}
    try:
        document = json.loads(stripped)
    except ValueError:
        raise SecretError("the secret is not valid JSON") from None
    if not isinstance(document, dict):
        raise SecretError("the secret is not a JSON object")
    return document


def _field(document: dict[str, Any], name: str) -> str:
    value = document.get(name)
    if not isinstance(value, str) or not value.strip():
        raise SecretError(f"the secret has no {name!r}")
    return value.strip()


def parse_secret(channel_type: str, text: str) -> ChannelSecret:
    """Return the credentials of a ``channel_type`` channel from its secret's value.

    A PagerDuty or Opsgenie secret may hold a ``url`` too: the endpoint to use instead of the
    provider's (PagerDuty's EU service region ``https://events.eu.pagerduty.com/v2/enqueue``, or a
    proxy); it must be HTTPS like every other.

    Raises
    ------
    SecretError
        A field is missing or malformed; the message names the field, never its value.
    """
    document = _document(text)

    def url() -> str:
        return check_https_url(_field(document, "url"))

    def endpoint() -> str:
        return url() if document.get("url") else ""

    if channel_type in {"slack", "teams"}:
        return ChannelSecret(url=url())
    if channel_type == "webhook":
        key = _field(document, "signing_key")
        if len(key) < MIN_SIGNING_KEY:
            raise SecretError(f"the secret's signing_key is shorter than {MIN_SIGNING_KEY} characters")
        return ChannelSecret(url=url(), signing_key=key)
    if channel_type == "pagerduty":
        key = _field(document, "routing_key")
        if len(key) != 32 or not key.isalnum():
            raise SecretError("the secret's routing_key is not a 32-character integration key")
        return ChannelSecret(routing_key=key, url=endpoint())
    if channel_type == "opsgenie":
        region = str(document.get("region") or "us").lower()
        if region not in OPSGENIE_HOSTS:
            raise SecretError("the secret's region is neither 'us' nor 'eu'")
        return ChannelSecret(api_key=_field(document, "api_key"), region=region, url=endpoint())
    raise SecretError(f"no secret for a channel of type {channel_type!r}")
