"""Microsoft Teams: a Workflows (Power Automate) webhook posting an Adaptive Card.

Office 365 connectors (the old "Incoming Webhook" connector and its MessageCard format) are retired
by Microsoft; a channel is now reached through the Workflows app's "Send webhook alerts to a channel"
(or "Post to a channel when a webhook request is received") template, whose URL takes a ``message``
with Adaptive Card attachments:
https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/add-incoming-webhook
and the card schema https://adaptivecards.io/explorer/ (version 1.4 is what Teams renders). The
workflow answers 202 Accepted.
"""

from __future__ import annotations

import json
from typing import Any, Final

from modelwatch.notifications.alert import AlertNotification
from modelwatch.notifications.secrets import ChannelSecret
from modelwatch.notifications.slack import truncate
from modelwatch.notifications.transport import USER_AGENT, HttpRequest

CARD_VERSION: Final = "1.4"
CARD_CONTENT_TYPE: Final = "application/vnd.microsoft.card.adaptive"
MAX_TEXT: Final = 8000  # Teams messages are capped at about 28 KB; keep the card well inside
_COLOR: Final = {"critical": "Attention", "error": "Attention", "warning": "Warning", "resolved": "Good"}


def card(notification: AlertNotification) -> dict[str, Any]:
    """Return the Adaptive Card (``type`` AdaptiveCard, ``version`` 1.4) of ``notification``."""
    color = _COLOR["resolved"] if notification.resolved else _COLOR.get(notification.severity, "Default")
    facts = [
        {"title": "Severity", "value": notification.severity},
        {"title": "Status", "value": notification.status},
        {"title": "Alert", "value": notification.alertname or "-"},
        {"title": "Model", "value": notification.model or "-"},
        {"title": "Time", "value": notification.timestamp or "-"},
    ]
    return {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": CARD_VERSION,
        "msteams": {"width": "Full"},
        "body": [
            {
                "type": "TextBlock",
                "text": notification.subject,
                "weight": "Bolder",
                "size": "Medium",
                "color": color,
                "wrap": True,
            },
            {"type": "FactSet", "facts": facts},
            {
                "type": "TextBlock",
                "text": truncate(notification.message, MAX_TEXT),
                "wrap": True,
                "fontType": "Monospace",
            },
        ],
    }


def payload(notification: AlertNotification) -> dict[str, Any]:
    """Return the Workflows webhook body: a ``message`` with one Adaptive Card attachment."""
    return {
        "type": "message",
        "attachments": [
            {"contentType": CARD_CONTENT_TYPE, "contentUrl": None, "content": card(notification)}
        ],
    }


def request(notification: AlertNotification, secret: ChannelSecret) -> HttpRequest:
    """The POST of ``notification`` to the channel's Workflows webhook URL."""
    return HttpRequest(
        url=secret.url,
        body=json.dumps(payload(notification)).encode(),
        headers={"Content-Type": "application/json", "User-Agent": USER_AGENT},
    )
