"""Opsgenie Alert API v2: create an alert on firing, close it (by alias) on resolution.

Documented shape: https://docs.opsgenie.com/docs/alert-api (Create Alert, Close Alert). Create is
POST ``https://api.opsgenie.com/v2/alerts`` (``api.eu.opsgenie.com`` for EU accounts) with
``Authorization: GenieKey <key>`` and ``message`` (at most 130 characters), ``alias`` (the dedup
key, at most 512), ``description`` (at most 15,000), ``tags`` (each at most 50), ``details``,
``entity``, ``source`` and ``priority`` P1-P5; close is POST
``/v2/alerts/<alias>/close?identifierType=alias``. Both answer 202 Accepted (processed
asynchronously). Opsgenie folds a create with the alias of an open alert into it, so repeats of a
firing group are one alert.
"""

from __future__ import annotations

import json
from typing import Any, Final
from urllib.parse import quote

from modelwatch.notifications.alert import AlertNotification
from modelwatch.notifications.secrets import OPSGENIE_HOSTS, ChannelSecret
from modelwatch.notifications.slack import truncate
from modelwatch.notifications.transport import USER_AGENT, HttpRequest

MAX_MESSAGE: Final = 130
MAX_ALIAS: Final = 512
MAX_DESCRIPTION: Final = 15000
MAX_ENTITY: Final = 512
MAX_TAG: Final = 50
PRIORITIES: Final = {"critical": "P1", "error": "P2", "warning": "P3", "info": "P5"}


def priority(severity: str) -> str:
    """Opsgenie's priority of an alert's severity (unknown ones: P3, Opsgenie's default)."""
    return PRIORITIES.get(severity, "P3")


def base_url(secret: ChannelSecret) -> str:
    """The API's base URL: the secret's ``url``, else the region's host."""
    return (secret.url or f"https://{OPSGENIE_HOSTS[secret.region]}").rstrip("/")


def create_body(notification: AlertNotification) -> dict[str, Any]:
    """Return the Create Alert body of a firing ``notification``."""
    tags = ["modelwatch", notification.severity]
    if notification.alertname:
        tags.append(notification.alertname)
    if notification.model:
        tags.append(f"model:{notification.model}")
    return {
        "message": truncate(notification.subject, MAX_MESSAGE),
        "alias": notification.dedup_key[:MAX_ALIAS],
        "description": truncate(notification.message, MAX_DESCRIPTION),
        "tags": [truncate(tag, MAX_TAG) for tag in tags],
        "details": {
            "severity": notification.severity,
            "status": notification.status,
            "alertname": notification.alertname,
            "model": notification.model or "-",
            "timestamp": notification.timestamp or "-",
        },
        "entity": truncate(notification.model or "modelwatch platform", MAX_ENTITY),
        "source": "modelwatch",
        "priority": priority(notification.severity),
    }


def close_body(notification: AlertNotification) -> dict[str, Any]:
    """Return the Close Alert body of a resolved ``notification``."""
    return {"source": "modelwatch", "note": truncate(f"Resolved: {notification.subject}", MAX_DESCRIPTION)}


def request(notification: AlertNotification, secret: ChannelSecret) -> HttpRequest:
    """Create (firing) or close by alias (resolved) the alert of ``notification``."""
    headers = {
        "Content-Type": "application/json",
        "Authorization": f"GenieKey {secret.api_key}",
        "User-Agent": USER_AGENT,
    }
    if notification.resolved:
        alias = quote(notification.dedup_key[:MAX_ALIAS], safe="")
        url = f"{base_url(secret)}/v2/alerts/{alias}/close?identifierType=alias"
        return HttpRequest(url=url, body=json.dumps(close_body(notification)).encode(), headers=headers)
    return HttpRequest(
        url=f"{base_url(secret)}/v2/alerts",
        body=json.dumps(create_body(notification)).encode(),
        headers=headers,
    )
