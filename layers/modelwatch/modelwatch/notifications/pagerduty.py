"""PagerDuty Events API v2: ``trigger`` on firing, ``resolve`` on resolution, one ``dedup_key``.

Documented shape: https://developer.pagerduty.com/docs/events-api-v2/trigger-events/ and
https://developer.pagerduty.com/docs/events-api-v2/resolve-events/ . POST
``https://events.pagerduty.com/v2/enqueue`` with ``routing_key``, ``event_action`` and
``dedup_key``; a trigger has a ``payload`` with ``summary`` (at most 1,024 characters), ``source``,
``severity`` (critical, error, warning or info) and the optional ``timestamp``, ``component``,
``group``, ``class`` and ``custom_details``. PagerDuty answers 202 Accepted. The dedup key is the
alert group's, so the firing notification opens one incident, repeats of it add nothing, and the
resolved notification resolves it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Final

from modelwatch.notifications.alert import AlertNotification
from modelwatch.notifications.secrets import ChannelSecret
from modelwatch.notifications.slack import truncate
from modelwatch.notifications.transport import USER_AGENT, HttpRequest

ENQUEUE_URL: Final = "https://events.pagerduty.com/v2/enqueue"
MAX_SUMMARY: Final = 1024
MAX_DEDUP_KEY: Final = 255
SEVERITIES: Final = ("critical", "error", "warning", "info")
SOURCE: Final = "modelwatch"


def severity(value: str) -> str:
    """PagerDuty's severity of an alert's (unknown ones become ``error``)."""
    return value if value in SEVERITIES else "error"


def timestamp(value: str) -> str | None:
    """``value`` as ISO 8601 in UTC (``2027-01-15T08:05:00.000Z``); ``None`` if it is not a time.

    CloudWatch writes ``+0000`` offsets; PagerDuty refuses an event whose timestamp it cannot read,
    so an unreadable one is left out (the field is optional).
    """
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event(notification: AlertNotification, routing_key: str) -> dict[str, Any]:
    """Return the Events API v2 event of ``notification``."""
    dedup_key = notification.dedup_key[:MAX_DEDUP_KEY]
    if notification.resolved:
        return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": dedup_key}
    payload: dict[str, Any] = {
        "summary": truncate(notification.subject, MAX_SUMMARY),
        "source": SOURCE,
        "severity": severity(notification.severity),
        "component": notification.model or "platform",
        "group": notification.alertname or "modelwatch",
        "class": "cloudwatch-alarm" if notification.alarm else "prometheus-alert",
        "custom_details": {"message": notification.message, "status": notification.status},
    }
    when = timestamp(notification.timestamp)
    if when is not None:
        payload["timestamp"] = when
    return {"routing_key": routing_key, "event_action": "trigger", "dedup_key": dedup_key, "payload": payload}


def request(notification: AlertNotification, secret: ChannelSecret) -> HttpRequest:
    """The POST of ``notification``'s event to the enqueue endpoint (or the secret's ``url``)."""
    return HttpRequest(
        url=secret.url or ENQUEUE_URL,
        body=json.dumps(event(notification, secret.routing_key)).encode(),
        headers={"Content-Type": "application/json", "User-Agent": USER_AGENT},
    )
