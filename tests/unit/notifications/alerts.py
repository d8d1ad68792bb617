"""SNS records of the alert topic, as AMP's alert manager and CloudWatch alarms publish them."""

from __future__ import annotations

import json
from typing import Any

TOPIC = "arn:aws:sns:eu-west-1:123456789012:modelwatch-alerts"
MESSAGE = (
    "[FIRING] ModelwatchDatasetDrift (severity critical)\n"
    "labels: alertname=ModelwatchDatasetDrift model=fraud version=2\n"
    "summary: Dataset drift on fraud v2: 50% of features\n"
)


def sns_record(
    subject: str = "[FIRING] ModelwatchDatasetDrift fraud", message: str = MESSAGE, **attributes: str
) -> dict[str, Any]:
    return {
        "EventSource": "aws:sns",
        "Sns": {
            "Type": "Notification",
            "TopicArn": TOPIC,
            "Subject": subject,
            "Message": message,
            "Timestamp": "2027-01-15T08:00:00.000Z",
            "MessageAttributes": {k: {"Type": "String", "Value": v} for k, v in attributes.items()},
        },
    }


def alert_record(
    status: str = "firing",
    *,
    alertname: str = "ModelwatchDatasetDrift",
    model: str = "fraud",
    version: str = "2",
    severity: str = "critical",
) -> dict[str, Any]:
    """An alert manager notification with every attribute of dashboards/alertmanager.yml."""
    return sns_record(
        f"[{status.upper()}] {alertname} {model if model != '-' else ''}",
        MESSAGE.replace("[FIRING]", f"[{status.upper()}]"),
        severity=severity,
        status=status,
        alertname=alertname,
        model=model,
        group=f"alertname={alertname};model={model};version={version};",
    )


def alarm_record(state: str, name: str = "modelwatch-capture-dlq-messages-visible") -> dict[str, Any]:
    alarm = {
        "AlarmName": name,
        "AlarmArn": f"arn:aws:cloudwatch:eu-west-1:123456789012:alarm:{name}",
        "AlarmDescription": "Events have waited in the capture dead-letter queue for 5 minutes.",
        "NewStateValue": state,
        "NewStateReason": "Threshold Crossed: 5 datapoints [3.0, 3.0, 3.0, 3.0, 3.0] were greater than 0.0",
        "StateChangeTime": "2027-01-15T08:05:00.000+0000",
        "Trigger": {"MetricName": "ApproximateNumberOfMessagesVisible", "Namespace": "AWS/SQS"},
    }
    record = sns_record(subject=f'{state}: "{name}" in EU (Ireland)', message=json.dumps(alarm))
    record["Sns"]["MessageAttributes"] = {}
    return record
