"""Reading the alert topic's SNS records: attributes, model, and a dedup key per alert group."""

from __future__ import annotations

import pytest

from modelwatch.notifications.alert import notification_document, notification_from_sns
from tests.unit.notifications.alerts import alarm_record, alert_record, sns_record


def test_sns_record_becomes_a_notification_with_its_attributes() -> None:
    notification = notification_from_sns(alert_record())

    assert (notification.severity, notification.status) == ("critical", "firing")
    assert (notification.alertname, notification.model) == ("ModelwatchDatasetDrift", "fraud")
    assert notification.message.startswith("[FIRING]") and not notification.alarm


def test_missing_attributes_are_inferred_from_the_subject() -> None:
    notification = notification_from_sns(sns_record("[RESOLVED] ModelwatchFeatureDrift fraud"))

    assert notification.status == "resolved" and notification.alertname == "ModelwatchFeatureDrift"
    assert notification.severity == "warning" and notification.model == ""
    with pytest.raises(ValueError, match="not an SNS record"):
        notification_from_sns({"body": "{}"})


def test_dedup_key_is_equal_for_firing_and_resolved_of_a_group_and_differs_across_groups() -> None:
    firing = notification_from_sns(alert_record("firing"))
    resolved = notification_from_sns(alert_record("resolved"))
    other_model = notification_from_sns(alert_record("firing", model="churn"))
    other_version = notification_from_sns(alert_record("firing", version="3"))

    assert firing.dedup_key == resolved.dedup_key
    assert len({firing.dedup_key, other_model.dedup_key, other_version.dedup_key}) == 3
    assert firing.dedup_key.startswith("modelwatch-") and len(firing.dedup_key) == len("modelwatch-") + 32


def test_without_the_group_attribute_the_subject_without_its_status_is_the_group() -> None:
    firing = notification_from_sns(sns_record("[FIRING] ModelwatchFeatureDrift fraud"))
    resolved = notification_from_sns(sns_record("[RESOLVED] ModelwatchFeatureDrift fraud"))
    other = notification_from_sns(sns_record("[FIRING] ModelwatchFeatureDrift churn"))

    assert firing.dedup_key == resolved.dedup_key != other.dedup_key


def test_an_alert_about_no_model_has_an_empty_model() -> None:
    notification = notification_from_sns(alert_record(alertname="ModelwatchCaptureFailures", model="-"))

    assert notification.model == ""


def test_a_cloudwatch_alarm_becomes_a_readable_notification_keyed_by_its_alarm() -> None:
    firing = notification_from_sns(alarm_record("ALARM"))
    resolved = notification_from_sns(alarm_record("OK"))
    other = notification_from_sns(alarm_record("ALARM", "modelwatch-capture-dlq-oldest-message-age"))

    assert firing.alarm and firing.alertname == "modelwatch-capture-dlq-messages-visible"
    assert (firing.status, firing.severity, resolved.status) == ("firing", "warning", "resolved")
    assert firing.message.startswith("Events have waited") and "Threshold Crossed" in firing.message
    assert firing.dedup_key == resolved.dedup_key != other.dedup_key


def test_the_webhook_document_has_the_documented_fields() -> None:
    document = notification_document(notification_from_sns(alert_record()))

    assert set(document) == {
        "version", "status", "severity", "alertname", "model", "subject", "message", "dedup_key",
        "source", "timestamp", "topic_arn",
    }  # fmt: skip
    assert (document["version"], document["source"], document["model"]) == (1, "alertmanager", "fraud")
    assert notification_document(notification_from_sns(alarm_record("OK")))["model"] is None
