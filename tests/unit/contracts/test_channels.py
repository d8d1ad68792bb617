"""The channel list: validation naming the channel, defaults, selection by severity and model glob."""

from __future__ import annotations

from typing import Any

import pytest

from modelwatch.contracts.channels import ChannelConfigError, parse_channels, secret_arns

ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:team/slack-AbCdEf"


def test_defaults_take_every_severity_and_model() -> None:
    (channel,) = parse_channels([{"name": "chat", "type": "slack", "secret_arn": ARN}])

    assert channel.severities == ("critical", "error", "warning", "info") and channel.models == ("*",)
    assert channel.wants("warning", "anything")


def test_models_are_glob_patterns_and_an_alert_about_no_model_reaches_every_channel() -> None:
    (channel,) = parse_channels(
        [
            {
                "name": "fraud",
                "type": "teams",
                "secret_arn": ARN,
                "models": ["fraud*", "churn_v?"],
                "severities": ["critical"],
            }
        ]
    )

    assert channel.wants("critical", "fraud_detection") and channel.wants("critical", "churn_v2")
    assert not channel.wants("critical", "churn_v10") and not channel.wants("warning", "fraud")
    assert channel.wants("critical", "") and channel.wants("critical", "-")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"name": "x", "type": "slack"}, r"channels\[0\] \(x\): .*secret_arn"),
        ({"name": "x", "type": "sms", "secret_arn": ARN}, r"channels\[0\] \(x\): type"),
        (
            {"name": "x", "type": "slack", "secret_arn": "https://hooks.slack.com/x"},
            r"\(x\): secret_arn: String should match",
        ),
        (
            {"name": "x", "type": "email", "address": "nobody"},
            r"\(x\): address: .*'nobody' is not an e-mail address",
        ),
        (
            {"name": "x", "type": "email", "address": "a@b.co", "models": ["fr?ud"]},
            r"\(x\): .*names or prefixes",
        ),
        (
            {"name": "x", "type": "opsgenie", "secret_arn": ARN, "severities": []},
            r"\(x\): severities: at least one",
        ),
        ({"name": "x", "type": "opsgenie", "secret_arn": ARN, "models": ["a b"]}, r"\(x\): models: .*'a b'"),
        ({"name": "Bad Name", "type": "slack", "secret_arn": ARN}, r"channels\[0\] \(Bad Name\): name"),
        ({"name": "x", "type": "slack", "secret_arn": ARN, "url": "https://x"}, r"\(x\): url: Extra inputs"),
    ],
)
def test_a_bad_channel_is_named_with_its_field(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(ChannelConfigError, match=message):
        parse_channels([{"name": "ok", "type": "slack", "secret_arn": ARN}, entry][1:])


def test_names_are_unique_and_secrets_listed_once() -> None:
    entry = {"name": "chat", "type": "slack", "secret_arn": ARN}
    with pytest.raises(ChannelConfigError, match=r"two channels have the name 'chat'"):
        parse_channels([entry, entry])

    channels = parse_channels(
        [entry, {**entry, "name": "chat2"}, {"name": "m", "type": "email", "address": "a@b.co"}]
    )
    assert secret_arns(channels) == (ARN,)
