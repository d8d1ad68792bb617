"""Fan-out: channels selected by severity and model, each sent to on its own, failures counted."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from modelwatch.contracts.channels import parse_channels
from modelwatch.notifications.alert import notification_from_sns
from modelwatch.notifications.delivery import (
    ChannelOutcome,
    RetryPolicy,
    deliver,
    selected_channels,
    send,
)
from modelwatch.notifications.transport import HttpRequest
from tests.unit.notifications.alerts import alarm_record, alert_record

ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:{}"
SECRETS = {
    ARN.format("slack"): "https://slack.example/hook",
    ARN.format("teams"): '{"url": "https://teams.example/workflow"}',
    ARN.format("pager"): json.dumps({"routing_key": "R" * 32}),
    ARN.format("genie"): '{"api_key": "k"}',
    ARN.format("hook"): json.dumps({"url": "https://hook.example/in", "signing_key": "k" * 20}),
}
CHANNELS = parse_channels(
    [
        {"name": "mail", "type": "email", "address": "oncall@example.com"},
        {"name": "fraud-slack", "type": "slack", "secret_arn": ARN.format("slack"), "models": ["fraud*"]},
        {"name": "teams", "type": "teams", "secret_arn": ARN.format("teams"), "severities": ["warning"]},
        {"name": "pager", "type": "pagerduty", "secret_arn": ARN.format("pager"), "severities": ["critical"]},
        {"name": "genie", "type": "opsgenie", "secret_arn": ARN.format("genie")},
        {"name": "hook", "type": "webhook", "secret_arn": ARN.format("hook")},
    ]
)


class Transport:
    """Answers by URL prefix from a script of statuses (the last one repeats); records each post."""

    def __init__(self, script: dict[str, list[int | Exception]] | None = None) -> None:
        self.script = script or {}
        self.posts: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
        with self._lock:
            self.posts.append((url, json.loads(body)))
            count = sum(1 for posted, _ in self.posts if posted == url)
        for prefix, statuses in self.script.items():
            if url.startswith(prefix):
                answer = statuses[min(count, len(statuses)) - 1]
                if isinstance(answer, Exception):
                    raise answer
                return answer
        return 202

    def urls(self) -> list[str]:
        return sorted({url for url, _ in self.posts})


class Counter:
    def __init__(self) -> None:
        self.delivered_to: list[str] = []
        self.failures: list[ChannelOutcome] = []

    def delivered(self, outcome: ChannelOutcome) -> None:
        self.delivered_to.append(outcome.channel)

    def failed(self, outcome: ChannelOutcome) -> None:
        self.failures.append(outcome)


def _deliver(record: dict[str, Any], transport: Transport, **kwargs: Any) -> Any:
    return deliver(
        notification_from_sns(record),
        CHANNELS,
        read_secret=SECRETS.__getitem__,
        transport=transport,
        sleep=lambda _: None,
        **kwargs,
    )


def test_channels_are_selected_by_severity_and_model_and_email_is_left_to_sns() -> None:
    names = [c.name for c in selected_channels(CHANNELS, notification_from_sns(alert_record()))]
    churn = [c.name for c in selected_channels(CHANNELS, notification_from_sns(alert_record(model="churn")))]
    warning = notification_from_sns(alert_record(severity="warning", model="fraud_v2"))

    assert names == ["fraud-slack", "pager", "genie", "hook"]
    assert churn == ["pager", "genie", "hook"]
    assert [c.name for c in selected_channels(CHANNELS, warning)] == ["fraud-slack", "teams", "genie", "hook"]


def test_an_alert_about_no_model_goes_to_every_channel_of_its_severity() -> None:
    platform = notification_from_sns(alert_record(alertname="ModelwatchCaptureFailures", model="-"))
    alarm = notification_from_sns(alarm_record("ALARM"))  # a warning

    assert [c.name for c in selected_channels(CHANNELS, platform)] == [
        "fraud-slack",
        "pager",
        "genie",
        "hook",
    ]
    assert [c.name for c in selected_channels(CHANNELS, alarm)] == ["fraud-slack", "teams", "genie", "hook"]


def test_every_selected_channel_gets_its_request() -> None:
    transport = Transport()

    report = _deliver(alert_record(), transport)

    assert [o.channel for o in report.delivered] == ["fraud-slack", "pager", "genie", "hook"]
    assert report.failed == ()
    assert transport.urls() == [
        "https://api.opsgenie.com/v2/alerts",
        "https://events.pagerduty.com/v2/enqueue",
        "https://hook.example/in",
        "https://slack.example/hook",
    ]


def test_a_failing_channel_is_retried_then_reported_and_the_others_still_get_the_alert() -> None:
    transport = Transport({"https://events.pagerduty.com": [500], "https://slack.example": [429, 200]})
    counter = Counter()

    report = _deliver(alert_record(), transport, counter=counter)

    (failed,) = report.failed
    assert (failed.channel, failed.attempts, failed.status, failed.problem) == ("pager", 3, 500, "HTTP 500")
    assert failed.counted
    slack = next(o for o in report.outcomes if o.channel == "fraud-slack")
    assert slack.delivered and slack.attempts == 2
    assert sorted(counter.delivered_to) == ["fraud-slack", "genie", "hook"]
    assert [o.channel for o in counter.failures] == ["pager"]


def test_client_errors_are_not_retried_and_connection_errors_are() -> None:
    request = HttpRequest(url="https://x.example/a", body=b"{}")
    sleeps: list[float] = []

    refused = send(
        request, transport=Transport({"https://x.example": [404]}), policy=RetryPolicy(), sleep=sleeps.append
    )
    flaky = Transport({"https://x.example": [ConnectionResetError("reset"), 503, 200]})
    recovered = send(request, transport=flaky, policy=RetryPolicy(), sleep=sleeps.append)

    assert refused == (False, 1, 404, "HTTP 404")
    assert recovered == (True, 3, 200, "")
    assert sleeps == [0.5, 1.0]


def test_an_unreadable_or_bad_secret_fails_only_its_channel_and_is_not_echoed() -> None:
    secrets = {**SECRETS, ARN.format("hook"): '{"url": "https://hook.example/in", "signing_key": "tiny"}'}

    def read(arn: str) -> str:
        if arn == ARN.format("genie"):
            raise RuntimeError("AccessDeniedException for secret value s3cr3t")
        return secrets[arn]

    report = deliver(notification_from_sns(alert_record()), CHANNELS, read_secret=read, transport=Transport())

    problems = {o.channel: o.problem for o in report.failed}
    assert problems == {
        "genie": "secret unreadable: RuntimeError",
        "hook": "the secret's signing_key is shorter than 16 characters",
    }
    assert [o.channel for o in report.delivered] == ["fraud-slack", "pager"]


def test_a_slow_channel_does_not_delay_the_others() -> None:
    release = threading.Event()
    delivered_while_blocked: list[str] = []

    class Slow(Transport):
        def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
            if url.startswith("https://events.pagerduty.com"):
                assert release.wait(10)
                delivered_while_blocked.extend(sorted({u for u, _ in self.posts}))
                return 202
            status = super().post(url, body, headers, timeout)
            if len({u for u, _ in self.posts}) == 3:
                release.set()
            return status

    report = _deliver(alert_record(), Slow())

    assert len(report.delivered) == 4
    assert len(delivered_while_blocked) == 3  # the three others were sent while PagerDuty hung


def test_failures_delivering_the_failure_alarm_itself_are_not_counted_in_the_total() -> None:
    transport = Transport({"https://events.pagerduty.com": [500], "https://api.opsgenie.com": [500]})
    name = "modelwatch-notify-channel-failures"

    own = _deliver(alarm_record("ALARM", name), transport, failure_alarm_name=name)
    resolved = _deliver(alarm_record("OK", name), transport, failure_alarm_name=name)
    other = _deliver(alarm_record("ALARM"), transport, failure_alarm_name=name)

    assert [o.channel for o in own.failed] == ["genie"] and not own.failed[0].counted
    assert [o.channel for o in resolved.failed] == ["genie"] and not resolved.failed[0].counted
    assert [o.channel for o in other.failed] == ["genie"] and other.failed[0].counted


def test_no_channel_selected_sends_nothing() -> None:
    transport = Transport()
    only_pager = parse_channels([CHANNELS[3].model_dump()])

    report = deliver(
        notification_from_sns(alert_record(severity="warning")),
        only_pager,
        read_secret=SECRETS.__getitem__,
        transport=transport,
    )

    assert report.outcomes == () and transport.posts == []


@pytest.mark.parametrize("status", [500, 429])
def test_retries_are_bounded(status: int) -> None:
    transport = Transport({"https://x.example": [status]})

    delivered, attempts, last, _ = send(
        HttpRequest(url="https://x.example/a", body=b"{}"),
        transport=transport,
        policy=RetryPolicy(max_attempts=4),
        sleep=lambda _: None,
    )

    assert (delivered, attempts, last, len(transport.posts)) == (False, 4, status, 4)


def test_an_aws_error_reading_a_secret_is_reported_by_its_code() -> None:
    from botocore.exceptions import ClientError

    def read(arn: str) -> str:
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "GetSecretValue")

    report = deliver(
        notification_from_sns(alert_record()), CHANNELS[:2], read_secret=read, transport=Transport()
    )

    (failed,) = report.failed
    assert failed.problem == "secret unreadable: ClientError AccessDeniedException" and failed.attempts == 0
