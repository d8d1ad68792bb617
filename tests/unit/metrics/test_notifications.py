"""Alert notifications: SNS records from AMP's alert manager to Slack-style webhook posts."""

from __future__ import annotations

import importlib.util
import json
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

import modelwatch.observability  # noqa: F401  (the X-Ray emitter opens its UDP socket when first imported)
from modelwatch.metrics.notifications import (
    NotificationError,
    notification_from_sns,
    post_webhook,
    webhook_payload,
    webhook_url_from_secret,
)

REPO = Path(__file__).resolve().parents[3]
MESSAGE = (
    "[FIRING] ModelwatchDatasetDrift (severity critical)\n"
    "labels: alertname=ModelwatchDatasetDrift model=fraud version=2\n"
    "summary: Dataset drift on fraud v2: 50% of features\n"
)


def sns_record(subject: str = "[FIRING] ModelwatchDatasetDrift fraud", **attributes: str) -> dict[str, Any]:
    return {
        "EventSource": "aws:sns",
        "Sns": {
            "Type": "Notification",
            "TopicArn": "arn:aws:sns:eu-west-1:123456789012:modelwatch-alerts",
            "Subject": subject,
            "Message": MESSAGE,
            "Timestamp": "2027-01-15T08:00:00.000Z",
            "MessageAttributes": {k: {"Type": "String", "Value": v} for k, v in attributes.items()},
        },
    }


class Recorder:
    def __init__(self, statuses: list[int | Exception]) -> None:
        self.statuses = statuses
        self.bodies: list[dict[str, Any]] = []

    def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
        self.bodies.append(json.loads(body))
        status = self.statuses[min(len(self.bodies), len(self.statuses)) - 1]
        if isinstance(status, Exception):
            raise status
        return status


def test_sns_record_becomes_a_notification_with_its_attributes() -> None:
    notification = notification_from_sns(
        sns_record(severity="critical", status="firing", alertname="ModelwatchDatasetDrift")
    )

    assert notification.severity == "critical" and notification.status == "firing"
    assert notification.alertname == "ModelwatchDatasetDrift"
    assert notification.message.startswith("[FIRING]")


def test_missing_attributes_are_inferred_from_the_subject() -> None:
    notification = notification_from_sns(sns_record("[RESOLVED] ModelwatchFeatureDrift fraud"))

    assert notification.status == "resolved" and notification.alertname == "ModelwatchFeatureDrift"
    with pytest.raises(ValueError, match="not an SNS record"):
        notification_from_sns({"body": "{}"})


def test_payload_is_slack_compatible_with_a_plain_text_fallback() -> None:
    payload = webhook_payload(notification_from_sns(sns_record(severity="critical", status="firing")))

    assert payload["text"].startswith(":rotating_light: [FIRING] ModelwatchDatasetDrift fraud")
    assert "Dataset drift on fraud v2" in payload["text"]
    assert [block["type"] for block in payload["blocks"]] == ["header", "section", "context"]


def test_long_messages_are_cut_to_slack_limits() -> None:
    record = sns_record()
    record["Sns"]["Message"] = "x" * 10_000

    payload = webhook_payload(notification_from_sns(record))

    assert len(payload["blocks"][1]["text"]["text"]) < 3000


def test_post_retries_server_errors_then_succeeds() -> None:
    recorder = Recorder([503, ConnectionResetError("reset"), 200])
    sleeps: list[float] = []

    status = post_webhook(
        "https://hooks.example.com/x", {"text": "hi"}, transport=recorder, sleep=sleeps.append
    )

    assert status == 200 and len(recorder.bodies) == 3 and sleeps == [0.5, 1.0]


def test_post_does_not_retry_client_errors_and_raises_for_sns_to_retry() -> None:
    recorder = Recorder([404])

    with pytest.raises(NotificationError, match="HTTP 404"):
        post_webhook("https://hooks.example.com/x", {"text": "hi"}, transport=recorder, sleep=lambda _: None)
    assert len(recorder.bodies) == 1


def test_webhook_url_comes_from_a_secret_string_or_json_and_must_be_https() -> None:
    assert (
        webhook_url_from_secret("https://hooks.slack.com/services/T/B/X\n")
        == "https://hooks.slack.com/services/T/B/X"
    )
    assert webhook_url_from_secret('{"url": "https://example.com/hook"}') == "https://example.com/hook"
    with pytest.raises(ValueError, match="https://") as error:
        webhook_url_from_secret("http://insecure.example.com/hook")
    assert "insecure" not in str(error.value)


def test_notify_handler_posts_each_record(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "MODELWATCH_WEBHOOK_SECRET_ARN", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:hook"
    )
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "modelwatch")
    path = REPO / "functions" / "notify" / "handler.py"
    name = f"notify_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    posted: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(module.parameters, "get_secret", lambda arn, max_age: "https://hooks.example.com/abc")
    monkeypatch.setattr(module, "post_webhook", lambda url, payload: posted.append((url, payload)) or 200)

    class Context:
        function_name = "notify"
        memory_limit_in_mb = 128
        invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:notify"
        aws_request_id = "req"

    result = module.handler({"Records": [sns_record(severity="warning"), sns_record()]}, Context())

    assert result == {"delivered": 2}
    assert [url for url, _ in posted] == ["https://hooks.example.com/abc"] * 2


def _alarm_record(state: str) -> dict[str, Any]:
    alarm = {
        "AlarmName": "modelwatch-capture-dlq-messages-visible",
        "AlarmDescription": "Events have waited in the capture dead-letter queue for 5 minutes.",
        "NewStateValue": state,
        "NewStateReason": "Threshold Crossed: 5 datapoints [3.0, 3.0, 3.0, 3.0, 3.0] were greater than 0.0",
        "StateChangeTime": "2027-01-15T08:05:00.000+0000",
        "Trigger": {"MetricName": "ApproximateNumberOfMessagesVisible", "Namespace": "AWS/SQS"},
    }
    record = sns_record(subject=f'{state}: "modelwatch-capture-dlq-messages-visible" in EU (Ireland)')
    record["Sns"]["Message"] = json.dumps(alarm)
    return record


def test_a_cloudwatch_alarm_becomes_a_readable_notification() -> None:
    firing = notification_from_sns(_alarm_record("ALARM"))
    resolved = notification_from_sns(_alarm_record("OK"))

    assert firing.alertname == "modelwatch-capture-dlq-messages-visible"
    assert (firing.status, firing.severity, resolved.status) == ("firing", "warning", "resolved")
    assert firing.message.startswith("Events have waited") and "Threshold Crossed" in firing.message
    assert "{" not in webhook_payload(firing)["text"]  # the description, not the alarm's JSON
