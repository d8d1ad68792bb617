"""Alert notifications: from the SNS messages of the AMP alert manager to a webhook (Slack-style) POST.

AMP's alert manager publishes to SNS with a subject (``[FIRING] ModelwatchDatasetDrift fraud``),
a plain-text message (one block per alert; see ``dashboards/alertmanager.yml``) and the
message attributes ``severity``, ``status`` and ``alertname``. CloudWatch alarms (those on the
capture dead-letter queue) publish a JSON message instead, read for its alarm name, state,
description and reason. :func:`notification_from_sns` reads one SNS record;
:func:`webhook_payload` shapes it as Slack's incoming-webhook JSON (``text`` for any endpoint,
plus ``blocks``); :func:`post_webhook` sends it over HTTPS with bounded retries on 5xx, 429 and
connection errors.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

MAX_TEXT: Final = 2900  # Slack's section text limit is 3000 characters
_EMOJI: Final = {"critical": ":rotating_light:", "warning": ":warning:", "resolved": ":white_check_mark:"}


class NotificationError(RuntimeError):
    """The webhook refused the notification, or could not be reached after retries."""


@dataclass(frozen=True)
class AlertNotification:
    """One message of the alert topic."""

    subject: str
    message: str
    severity: str
    status: str
    alertname: str
    timestamp: str
    topic_arn: str


def _attribute(attributes: Mapping[str, Any], name: str, default: str) -> str:
    value = attributes.get(name)
    if isinstance(value, Mapping):
        value = value.get("Value")
    return str(value) if value else default


def notification_from_sns(record: Mapping[str, Any]) -> AlertNotification:
    """Return the notification of one SNS record of a Lambda event (``Records[i]``).

    Raises
    ------
    ValueError
        The record is not an SNS notification.
    """
    sns = record.get("Sns")
    if not isinstance(sns, Mapping) or "Message" not in sns:
        raise ValueError("not an SNS record: no Sns.Message")
    alarm = _cloudwatch_alarm(sns["Message"])
    if alarm is not None:
        return _alarm_notification(sns, alarm)
    attributes = sns.get("MessageAttributes") or {}
    subject = str(sns.get("Subject") or "modelwatch alert")
    status = _attribute(attributes, "status", "resolved" if subject.startswith("[RESOLVED]") else "firing")
    return AlertNotification(
        subject=subject,
        message=str(sns["Message"]).strip(),
        severity=_attribute(attributes, "severity", "warning"),
        status=status.lower(),
        alertname=_attribute(attributes, "alertname", subject.split()[1] if len(subject.split()) > 1 else ""),
        timestamp=str(sns.get("Timestamp", "")),
        topic_arn=str(sns.get("TopicArn", "")),
    )


def _cloudwatch_alarm(message: object) -> Mapping[str, Any] | None:
    """The state change of a CloudWatch alarm, when ``message`` is one (JSON with an AlarmName)."""
    if not isinstance(message, str) or not message.lstrip().startswith("{"):
        return None
    try:
        document = json.loads(message)
    except ValueError:
        return None
    if isinstance(document, dict) and "AlarmName" in document and "NewStateValue" in document:
        return document
    return None


def _alarm_notification(sns: Mapping[str, Any], alarm: Mapping[str, Any]) -> AlertNotification:
    state = str(alarm["NewStateValue"])
    name = str(alarm["AlarmName"])
    text = "\n".join(
        str(part) for part in (alarm.get("AlarmDescription"), alarm.get("NewStateReason")) if part
    )
    return AlertNotification(
        subject=str(sns.get("Subject") or f"{state}: {name}"),
        message=text or name,
        severity="warning",
        status="resolved" if state == "OK" else "firing" if state == "ALARM" else state.lower(),
        alertname=name,
        timestamp=str(alarm.get("StateChangeTime") or sns.get("Timestamp", "")),
        topic_arn=str(sns.get("TopicArn", "")),
    )


def webhook_payload(notification: AlertNotification) -> dict[str, Any]:
    """Return the Slack incoming-webhook body: ``text`` (plain fallback) and ``blocks``."""
    emoji = (
        _EMOJI["resolved"]
        if notification.status == "resolved"
        else _EMOJI.get(notification.severity, ":bell:")
    )
    title = f"{emoji} {notification.subject}"
    body = (
        notification.message
        if len(notification.message) <= MAX_TEXT
        else notification.message[:MAX_TEXT] + "…"
    )
    return {
        "text": f"{title}\n{body}",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": notification.subject[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": f"```{body}```"}},
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": f"*severity* {notification.severity}"},
                    {"type": "mrkdwn", "text": f"*status* {notification.status}"},
                    {"type": "mrkdwn", "text": f"*alert* {notification.alertname}"},
                    {"type": "mrkdwn", "text": notification.timestamp or "-"},
                ],
            },
        ],
    }


class WebhookTransport(Protocol):
    def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> int: ...


class Urllib3WebhookTransport:
    def __init__(self) -> None:
        import urllib3

        self._pool = urllib3.PoolManager(retries=False)

    def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
        import urllib3

        try:
            return int(self._pool.request("POST", url, body=body, headers=headers, timeout=timeout).status)
        except urllib3.exceptions.HTTPError as error:
            raise ConnectionError(str(error)) from error


def check_webhook_url(url: str) -> str:
    """Return ``url`` if it is an HTTPS URL, else raise ``ValueError`` (not echoing it: it is secret)."""
    if not url.startswith("https://") or len(url) < 12 or any(c.isspace() for c in url):
        raise ValueError("the webhook URL must be an https:// URL")
    return url


def webhook_url_from_secret(secret: str) -> str:
    """Return the URL held by a secret: the plain string, or JSON ``{"url": ...}``."""
    text = secret.strip()
    if text.startswith("{"):
        text = str(json.loads(text).get("url", ""))
    return check_webhook_url(text)


def post_webhook(
    url: str,
    payload: Mapping[str, Any],
    *,
    transport: WebhookTransport | None = None,
    max_attempts: int = 3,
    backoff_seconds: float = 0.5,
    timeout_seconds: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """POST ``payload`` as JSON; retry 5xx, 429 and connection errors; return the final status.

    Raises
    ------
    NotificationError
        A 4xx other than 429, or still failing after ``max_attempts`` (so SNS retries the delivery).
    """
    transport = transport or Urllib3WebhookTransport()
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "modelwatch-notify/0.1"}
    problem = ""
    for attempt in range(1, max_attempts + 1):
        if attempt > 1:
            sleep(backoff_seconds * 2 ** (attempt - 2))
        try:
            status = transport.post(url, body, headers, timeout_seconds)
        except OSError as error:
            problem = f"{type(error).__name__}: {error}"
            continue
        if 200 <= status < 300:
            return status
        problem = f"HTTP {status}"
        if status != 429 and status < 500:
            break
    raise NotificationError(f"webhook delivery failed: {problem}")
