"""The alert notification: one message of the alert topic, read from its SNS record.

AMP's alert manager publishes with a subject (``[FIRING] ModelwatchDatasetDrift fraud``), a plain-text
message (one block per alert; see ``dashboards/alertmanager.yml``) and the message attributes
``severity``, ``status``, ``alertname``, ``model`` and ``group`` (the alert group's labels, the same
while the group fires and when it resolves). CloudWatch alarms (the capture dead-letter queue's, the
notify function's own) publish a JSON message with no attributes, read for its alarm name, state,
description and reason. :attr:`AlertNotification.dedup_key` is stable for one alert group (or one
alarm), so a provider that deduplicates (PagerDuty, Opsgenie) sees one incident from firing to
resolution.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from modelwatch.contracts.channels import NO_MODEL

DEDUP_PREFIX: Final = "modelwatch-"


@dataclass(frozen=True)
class AlertNotification:
    """One message of the alert topic.

    ``group`` identifies the alert group (alert manager) or the alarm (CloudWatch); ``model`` is empty
    for an alert about no one model. ``alarm`` tells a CloudWatch alarm from an alert manager message.
    """

    subject: str
    message: str
    severity: str
    status: str
    alertname: str
    timestamp: str
    topic_arn: str
    model: str = ""
    group: str = ""
    alarm: bool = False

    @property
    def dedup_key(self) -> str:
        """A short key, equal for the firing and resolved notifications of one group (or alarm)."""
        digest = hashlib.sha256((self.group or self.alertname or self.subject).encode()).hexdigest()
        return f"{DEDUP_PREFIX}{digest[:32]}"

    @property
    def resolved(self) -> bool:
        """Whether the notification says the alert (or alarm) has cleared."""
        return self.status == "resolved"


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
    words = subject.split()
    status = _attribute(attributes, "status", "resolved" if subject.startswith("[RESOLVED]") else "firing")
    model = _attribute(attributes, "model", "")
    return AlertNotification(
        subject=subject,
        message=str(sns["Message"]).strip(),
        severity=_attribute(attributes, "severity", "warning"),
        status=status.lower(),
        alertname=_attribute(attributes, "alertname", words[1] if len(words) > 1 else ""),
        timestamp=str(sns.get("Timestamp", "")),
        topic_arn=str(sns.get("TopicArn", "")),
        model="" if model == NO_MODEL else model,
        # Without the attribute (an older alert manager definition): the subject without its status.
        group=_attribute(attributes, "group", " ".join(words[1:]) if words[:1] else subject),
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
        group=f"cloudwatch-alarm:{alarm.get('AlarmArn') or name}",
        alarm=True,
    )


def notification_document(notification: AlertNotification) -> dict[str, Any]:
    """The alert as the generic webhook's JSON body (schema in docs/alerts.md, ``version`` 1)."""
    return {
        "version": 1,
        "status": notification.status,
        "severity": notification.severity,
        "alertname": notification.alertname,
        "model": notification.model or None,
        "subject": notification.subject,
        "message": notification.message,
        "dedup_key": notification.dedup_key,
        "source": "cloudwatch" if notification.alarm else "alertmanager",
        "timestamp": notification.timestamp or None,
        "topic_arn": notification.topic_arn,
    }
