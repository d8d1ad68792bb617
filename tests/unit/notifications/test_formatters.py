"""Each provider's request against its documented payload shape (see each module's docstring)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from modelwatch.notifications import opsgenie, pagerduty, slack, teams, webhook
from modelwatch.notifications.alert import AlertNotification, notification_from_sns
from modelwatch.notifications.secrets import ChannelSecret, SecretError, parse_secret
from tests.unit.notifications.alerts import alarm_record, alert_record

ROUTING_KEY = "R0ut1ngKey0123456789abcdefABCDEF"
SIGNING_KEY = "whsec-0123456789abcdef"


def firing(**kwargs: str) -> AlertNotification:
    return notification_from_sns(alert_record("firing", **kwargs))


def resolved(**kwargs: str) -> AlertNotification:
    return notification_from_sns(alert_record("resolved", **kwargs))


def long_alert() -> AlertNotification:
    record = alert_record()
    record["Sns"]["Subject"] = "[FIRING] " + "S" * 3000
    record["Sns"]["Message"] = "x" * 40_000
    return notification_from_sns(record)


def body(request: Any) -> dict[str, Any]:
    return dict(json.loads(request.body))


# Slack: https://api.slack.com/messaging/webhooks


def test_slack_payload_has_a_plain_text_fallback_and_header_section_context_blocks() -> None:
    payload = slack.payload(firing())

    assert payload["text"].startswith(":rotating_light: [FIRING] ModelwatchDatasetDrift fraud")
    assert "Dataset drift on fraud v2" in payload["text"]
    assert [block["type"] for block in payload["blocks"]] == ["header", "section", "context"]
    assert payload["blocks"][0]["text"]["type"] == "plain_text"
    assert "*model* fraud" in [e["text"] for e in payload["blocks"][2]["elements"]]


def test_slack_texts_are_cut_to_the_block_limits() -> None:
    payload = slack.payload(long_alert())

    assert len(payload["blocks"][0]["text"]["text"]) <= 150
    assert len(payload["blocks"][1]["text"]["text"]) <= 3000


def test_slack_request_posts_json_to_the_secret_url() -> None:
    request = slack.request(firing(), ChannelSecret(url="https://hooks.slack.com/services/T/B/X"))

    assert request.url == "https://hooks.slack.com/services/T/B/X"
    assert request.headers["Content-Type"] == "application/json" and body(request)["blocks"]


# Microsoft Teams Workflows: a message with an Adaptive Card attachment


def test_teams_payload_is_a_message_with_one_adaptive_card_1_4() -> None:
    payload = teams.payload(firing())

    assert payload["type"] == "message"
    (attachment,) = payload["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    assert [element["type"] for element in card["body"]] == ["TextBlock", "FactSet", "TextBlock"]
    facts = {fact["title"]: fact["value"] for fact in card["body"][1]["facts"]}
    assert facts["Severity"] == "critical" and facts["Model"] == "fraud"
    assert all(isinstance(fact["value"], str) and fact["value"] for fact in card["body"][1]["facts"])
    assert card["body"][0]["color"] == "Attention"
    assert teams.payload(resolved())["attachments"][0]["content"]["body"][0]["color"] == "Good"


def test_teams_message_text_is_bounded() -> None:
    card = teams.card(long_alert())

    assert len(card["body"][2]["text"]) <= teams.MAX_TEXT
    assert len(json.dumps(card)) < 28_000


# PagerDuty Events API v2


def test_pagerduty_trigger_has_the_required_fields_and_a_mapped_severity() -> None:
    event = pagerduty.event(firing(), ROUTING_KEY)

    assert set(event) == {"routing_key", "event_action", "dedup_key", "payload"}
    assert (event["routing_key"], event["event_action"]) == (ROUTING_KEY, "trigger")
    payload = event["payload"]
    assert {"summary", "source", "severity"} <= set(payload)
    assert payload["severity"] == "critical" and payload["source"] == "modelwatch"
    assert (payload["component"], payload["group"]) == ("fraud", "ModelwatchDatasetDrift")
    assert payload["class"] == "prometheus-alert" and payload["timestamp"] == "2027-01-15T08:00:00.000Z"
    assert payload["custom_details"]["message"].startswith("[FIRING]")


@pytest.mark.parametrize(
    ("severity", "expected"),
    [
        ("critical", "critical"),
        ("warning", "warning"),
        ("info", "info"),
        ("error", "error"),
        ("page", "error"),
    ],
)
def test_pagerduty_severities_are_the_four_it_accepts(severity: str, expected: str) -> None:
    assert pagerduty.event(firing(severity=severity), ROUTING_KEY)["payload"]["severity"] == expected


def test_pagerduty_resolve_carries_the_dedup_key_of_the_trigger_and_no_payload() -> None:
    trigger = pagerduty.event(firing(), ROUTING_KEY)
    resolve = pagerduty.event(resolved(), ROUTING_KEY)
    other = pagerduty.event(firing(model="churn"), ROUTING_KEY)

    assert resolve == {
        "routing_key": ROUTING_KEY,
        "event_action": "resolve",
        "dedup_key": trigger["dedup_key"],
    }
    assert other["dedup_key"] != trigger["dedup_key"]
    assert len(trigger["dedup_key"]) <= 255


def test_pagerduty_summary_is_cut_to_1024_characters_and_posted_to_enqueue() -> None:
    request = pagerduty.request(long_alert(), ChannelSecret(routing_key=ROUTING_KEY))

    assert request.url == "https://events.pagerduty.com/v2/enqueue"
    assert len(body(request)["payload"]["summary"]) == 1024


def test_pagerduty_class_and_timestamp_of_a_cloudwatch_alarm() -> None:
    event = pagerduty.event(notification_from_sns(alarm_record("ALARM")), ROUTING_KEY)

    assert event["payload"]["class"] == "cloudwatch-alarm" and event["payload"]["component"] == "platform"
    assert event["payload"]["timestamp"] == "2027-01-15T08:05:00.000Z"  # CloudWatch wrote +0000


def test_pagerduty_leaves_out_a_timestamp_it_could_not_read() -> None:
    record = alert_record()
    record["Sns"]["Timestamp"] = "yesterday"

    assert "timestamp" not in pagerduty.event(notification_from_sns(record), ROUTING_KEY)["payload"]


# Opsgenie Alert API v2


def test_opsgenie_create_has_the_documented_fields_within_their_limits() -> None:
    request = opsgenie.request(long_alert(), ChannelSecret(api_key="key-1"))
    created = body(request)

    assert request.url == "https://api.opsgenie.com/v2/alerts"
    assert request.headers["Authorization"] == "GenieKey key-1"
    assert set(created) == {
        "message",
        "alias",
        "description",
        "tags",
        "details",
        "entity",
        "source",
        "priority",
    }
    assert len(created["message"]) == 130 and len(created["description"]) <= 15000
    assert len(created["alias"]) <= 512 and all(isinstance(v, str) for v in created["details"].values())
    long_model = body(opsgenie.request(firing(model="m" * 120), ChannelSecret(api_key="key-1")))
    assert max(len(tag) for tag in long_model["tags"]) == 50


@pytest.mark.parametrize(
    ("severity", "priority"), [("critical", "P1"), ("error", "P2"), ("warning", "P3"), ("info", "P5")]
)
def test_opsgenie_priority_from_severity(severity: str, priority: str) -> None:
    assert opsgenie.create_body(firing(severity=severity))["priority"] == priority


def test_opsgenie_resolution_closes_the_alert_by_its_alias_on_the_eu_endpoint() -> None:
    secret = ChannelSecret(api_key="key-1", region="eu")
    created = body(opsgenie.request(firing(), secret))

    close = opsgenie.request(resolved(), secret)

    assert close.url == f"https://api.eu.opsgenie.com/v2/alerts/{created['alias']}/close?identifierType=alias"
    assert body(close)["source"] == "modelwatch" and close.headers["Authorization"] == "GenieKey key-1"


# Generic webhook, signed


def test_webhook_signature_verifies_with_the_documented_check() -> None:
    secret = ChannelSecret(url="https://example.com/hook", signing_key=SIGNING_KEY)
    request = webhook.request(firing(), secret, clock=lambda: 1_800_000_000.0)

    assert request.headers["X-Modelwatch-Timestamp"] == "1800000000"
    assert request.headers["X-Modelwatch-Signature"].startswith("sha256=")
    assert webhook.verify_signature(SIGNING_KEY, request.headers, request.body, now=1_800_000_010)
    assert not webhook.verify_signature(
        "another-key-0123456789", request.headers, request.body, now=1_800_000_010
    )
    assert not webhook.verify_signature(SIGNING_KEY, request.headers, request.body + b" ", now=1_800_000_010)
    assert not webhook.verify_signature(SIGNING_KEY, request.headers, request.body, now=1_800_000_000 + 301)
    assert body(request)["dedup_key"] == firing().dedup_key


def test_webhook_signature_verifies_with_the_snippet_of_docs_alerts_md() -> None:
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[3] / "docs" / "alerts.md").read_text()
    snippet = docs.split("<!-- verify-snippet -->")[1].split("```python")[1].split("```")[0]
    namespace: dict[str, Any] = {}
    exec(compile(snippet, "docs/alerts.md", "exec"), namespace)
    request = webhook.request(
        firing(), ChannelSecret(url="https://example.com/hook", signing_key=SIGNING_KEY)
    )

    verify = namespace["verify"]
    assert verify(request.body, request.headers, SIGNING_KEY.encode()) is True
    assert verify(request.body.replace(b"fraud", b"churn"), request.headers, SIGNING_KEY.encode()) is False


# Secrets


def test_each_type_reads_its_secret_shape() -> None:
    assert parse_secret("slack", "https://hooks.slack.com/services/T/B/X\n").url.endswith("/X")
    assert parse_secret("teams", '{"url": "https://x.logic.azure.com/workflows/1"}').url.startswith(
        "https://"
    )
    assert parse_secret("pagerduty", json.dumps({"routing_key": ROUTING_KEY})).routing_key == ROUTING_KEY
    genie = parse_secret("opsgenie", '{"api_key": "k", "region": "EU"}')
    assert (genie.api_key, genie.region) == ("k", "eu")
    hook = parse_secret("webhook", json.dumps({"url": "https://example.com/h", "signing_key": SIGNING_KEY}))
    assert hook.signing_key == SIGNING_KEY and "whsec" not in repr(hook)


@pytest.mark.parametrize(
    ("channel_type", "value", "message"),
    [
        ("slack", "http://insecure.example.com/hook", "https://"),
        ("pagerduty", '{"routing_key": "short"}', "32-character"),
        ("opsgenie", '{"api_key": "k", "region": "apac"}', "region"),
        ("webhook", '{"url": "https://example.com/h", "signing_key": "short"}', "signing_key"),
        ("webhook", '{"url": "https://example.com/h"}', "signing_key"),
        ("teams", "{not json", "not valid JSON"),
    ],
)
def test_a_bad_secret_is_refused_without_echoing_it(channel_type: str, value: str, message: str) -> None:
    with pytest.raises(SecretError, match=message) as error:
        parse_secret(channel_type, value)

    assert "insecure" not in str(error.value) and "short" not in str(error.value).replace("shorter", "")
