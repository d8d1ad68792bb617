"""Slack incoming webhooks: ``text`` (the plain fallback) and Block Kit ``blocks``.

Documented shape: https://api.slack.com/messaging/webhooks and the block reference
https://api.slack.com/reference/block-kit/blocks (a header's plain text is at most 150 characters,
a section's text at most 3,000). Slack answers 200 ``ok``.
"""

from __future__ import annotations

import json
from typing import Any, Final

from modelwatch.notifications.alert import AlertNotification
from modelwatch.notifications.secrets import ChannelSecret
from modelwatch.notifications.transport import USER_AGENT, HttpRequest

MAX_TEXT: Final = 2900  # a section's text is at most 3,000 characters, with the code fence
MAX_HEADER: Final = 150
_EMOJI: Final = {"critical": ":rotating_light:", "warning": ":warning:", "resolved": ":white_check_mark:"}


def truncate(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, the cut marked with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def payload(notification: AlertNotification) -> dict[str, Any]:
    """Return the Slack incoming-webhook body: ``text`` (plain fallback) and ``blocks``."""
    emoji = _EMOJI["resolved"] if notification.resolved else _EMOJI.get(notification.severity, ":bell:")
    body = truncate(notification.message, MAX_TEXT)
    context = [
        f"*severity* {notification.severity}",
        f"*status* {notification.status}",
        f"*alert* {notification.alertname}",
    ]
    if notification.model:
        context.append(f"*model* {notification.model}")
    context.append(notification.timestamp or "-")
    return {
        "text": f"{emoji} {notification.subject}\n{body}",
        "blocks": [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": truncate(notification.subject, MAX_HEADER)},
            },
            {"type": "section", "text": {"type": "mrkdwn", "text": f"```{body}```"}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": text} for text in context]},
        ],
    }


def request(notification: AlertNotification, secret: ChannelSecret) -> HttpRequest:
    """The POST of ``notification`` to the channel's incoming-webhook URL."""
    return HttpRequest(
        url=secret.url,
        body=json.dumps(payload(notification)).encode(),
        headers={"Content-Type": "application/json", "User-Agent": USER_AGENT},
    )
