"""Fan-out of one alert to its channels: select, send each independently, count what failed.

The channels of an alert are those whose severities and models take it
(:meth:`modelwatch.contracts.channels.Channel.wants`); e-mail channels are left out, as SNS delivers
to them itself (subscriptions with filter policies). Each selected channel gets its own thread, its
secret read, its provider's request built and sent with bounded retries (5xx, 429 and connection
errors; exponential back-off), so a slow or failing channel neither stops nor delays the others.
Every channel's outcome is returned; a failure is logged (channel, type, status, never a secret)
and counted through a :class:`FailureCounter`: ``ChannelDeliveryFailures`` per channel, and the
alarmed total ``ChannelDeliveryFailuresTotal``, whose CloudWatch alarm publishes to the alert topic
and so reaches every other channel. Failures to deliver that alarm's own notifications are counted
per channel only, never in the total: the alarm cannot feed itself (see docs/alerts.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final, Protocol

from modelwatch.contracts.channels import Channel
from modelwatch.notifications import opsgenie, pagerduty, slack, teams, webhook
from modelwatch.notifications.alert import AlertNotification
from modelwatch.notifications.secrets import ChannelSecret, SecretError, parse_secret
from modelwatch.notifications.transport import HttpRequest, Transport, Urllib3Transport
from modelwatch.observability import logger

Formatter = Callable[[AlertNotification, ChannelSecret], HttpRequest]
SecretReader = Callable[[str], str]

FORMATTERS: Final[Mapping[str, Formatter]] = {
    "slack": slack.request,
    "teams": teams.request,
    "pagerduty": pagerduty.request,
    "opsgenie": opsgenie.request,
    "webhook": webhook.request,
}
FAILURES_METRIC: Final = "ChannelDeliveryFailures"
FAILURES_TOTAL_METRIC: Final = "ChannelDeliveryFailuresTotal"
DELIVERED_METRIC: Final = "ChannelDeliveries"
DELIVERED_TOTAL_METRIC: Final = "ChannelDeliveriesTotal"
MAX_PARALLEL: Final = 8


@dataclass(frozen=True)
class RetryPolicy:
    """How hard one channel is tried: ``max_attempts`` in all, back-off doubling from ``backoff_seconds``."""

    max_attempts: int = 3
    backoff_seconds: float = 0.5
    timeout_seconds: float = 5.0


@dataclass(frozen=True)
class ChannelOutcome:
    """What happened to one channel: delivered or not, after how many attempts, the last status."""

    channel: str
    type: str
    delivered: bool
    attempts: int
    status: int | None = None
    problem: str = ""
    counted: bool = True  # whether a failure counts in the alarmed total


@dataclass(frozen=True)
class DeliveryReport:
    """The outcomes of one alert, one per selected channel."""

    alertname: str
    status: str
    outcomes: tuple[ChannelOutcome, ...]

    @property
    def failed(self) -> tuple[ChannelOutcome, ...]:
        """The channels that did not take the alert."""
        return tuple(o for o in self.outcomes if not o.delivered)

    @property
    def delivered(self) -> tuple[ChannelOutcome, ...]:
        """The channels that took the alert."""
        return tuple(o for o in self.outcomes if o.delivered)


class FailureCounter(Protocol):
    """Where delivery outcomes are counted (CloudWatch metrics through Powertools in production)."""

    def delivered(self, outcome: ChannelOutcome) -> None: ...

    def failed(self, outcome: ChannelOutcome) -> None: ...


class PowertoolsFailureCounter:
    """Counts outcomes as CloudWatch metrics (embedded metric format) through Powertools.

    ``ChannelDeliveryFailures`` and ``ChannelDeliveries`` have the dimension ``channel`` (one metric
    blob each); ``ChannelDeliveryFailuresTotal`` and ``ChannelDeliveriesTotal`` go to ``metrics``
    with its default dimensions only (``service``): the failure alarm watches the first.
    """

    def __init__(self, metrics: Any) -> None:
        self._metrics = metrics

    def _single(self, name: str, channel: str) -> None:
        from aws_lambda_powertools.metrics import MetricUnit, single_metric

        with single_metric(
            name=name,
            unit=MetricUnit.Count,
            value=1,
            namespace=self._metrics.namespace,
            default_dimensions=self._metrics.default_dimensions,
        ) as metric:
            metric.add_dimension(name="channel", value=channel)

    def delivered(self, outcome: ChannelOutcome) -> None:
        self._single(DELIVERED_METRIC, outcome.channel)
        self._metrics.add_metric(name=DELIVERED_TOTAL_METRIC, unit="Count", value=1)

    def failed(self, outcome: ChannelOutcome) -> None:
        self._single(FAILURES_METRIC, outcome.channel)
        if outcome.counted:
            self._metrics.add_metric(name=FAILURES_TOTAL_METRIC, unit="Count", value=1)


def powertools_secret_reader(max_age_seconds: int) -> SecretReader:
    """Read secrets with Powertools parameters, cached ``max_age_seconds`` in the warm function.

    One provider (one boto3 client, which is thread-safe) is made here, before the channels' threads
    read through it: boto3's default session, which ``parameters.get_secret`` would use, is not.
    """
    from aws_lambda_powertools.utilities import parameters

    provider = parameters.SecretsProvider()

    def read(arn: str) -> str:
        return str(provider.get(arn, max_age=max_age_seconds))

    return read


def selected_channels(channels: Sequence[Channel], notification: AlertNotification) -> tuple[Channel, ...]:
    """The non-e-mail channels that take ``notification`` (by severity and model)."""
    return tuple(
        c for c in channels if c.type != "email" and c.wants(notification.severity, notification.model)
    )


def _secret_problem(error: Exception) -> str:
    """The kind of a failed secret read (and AWS's error code when there is one), never its text."""
    response = getattr(error, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return f"secret unreadable: {type(error).__name__}" + (f" {code}" if code else "")


def send(
    request: HttpRequest,
    *,
    transport: Transport,
    policy: RetryPolicy,
    sleep: Callable[[float], None],
) -> tuple[bool, int, int | None, str]:
    """POST ``request`` with retries; return (delivered, attempts, last status, problem)."""
    status: int | None = None
    problem = ""
    attempt = 0
    for attempt in range(1, policy.max_attempts + 1):
        if attempt > 1:
            sleep(policy.backoff_seconds * 2 ** (attempt - 2))
        try:
            status = transport.post(request.url, request.body, dict(request.headers), policy.timeout_seconds)
        except OSError as error:
            status, problem = None, f"connection failed: {type(error).__name__}"
            continue
        if 200 <= status < 300:
            return True, attempt, status, ""
        problem = f"HTTP {status}"
        if status != 429 and status < 500:
            break
    return False, attempt, status, problem


def deliver_to_channel(
    notification: AlertNotification,
    channel: Channel,
    *,
    read_secret: SecretReader,
    transport: Transport,
    policy: RetryPolicy = RetryPolicy(),
    sleep: Callable[[float], None] = time.sleep,
    counted: bool = True,
) -> ChannelOutcome:
    """Send ``notification`` to one channel; never raise: a failure is the outcome's ``problem``."""
    formatter = FORMATTERS.get(channel.type)
    if formatter is None or channel.secret_arn is None:
        return ChannelOutcome(
            channel.name, channel.type, False, 0, problem="not a channel the function sends to"
        )
    try:
        secret = parse_secret(channel.type, read_secret(channel.secret_arn))
    except SecretError as error:
        return ChannelOutcome(channel.name, channel.type, False, 0, problem=str(error), counted=counted)
    except Exception as error:  # any failure to read one secret is that channel's only
        return ChannelOutcome(
            channel.name, channel.type, False, 0, problem=_secret_problem(error), counted=counted
        )
    try:
        request = formatter(notification, secret)
        delivered, attempts, status, problem = send(request, transport=transport, policy=policy, sleep=sleep)
    except Exception as error:  # a formatter or transport bug stays in this channel
        return ChannelOutcome(
            channel.name, channel.type, False, 0, problem=f"error: {type(error).__name__}", counted=counted
        )
    return ChannelOutcome(channel.name, channel.type, delivered, attempts, status, problem, counted)


def deliver(
    notification: AlertNotification,
    channels: Sequence[Channel],
    *,
    read_secret: SecretReader,
    transport: Transport | None = None,
    counter: FailureCounter | None = None,
    policy: RetryPolicy = RetryPolicy(),
    sleep: Callable[[float], None] = time.sleep,
    failure_alarm_name: str = "",
) -> DeliveryReport:
    """Send ``notification`` to each of its channels at once; return every channel's outcome.

    Parameters
    ----------
    notification
        The alert, from :func:`modelwatch.notifications.alert.notification_from_sns`.
    channels
        The configured channels; the ones that take the alert are selected here.
    read_secret
        Returns a secret's value from its ARN (:func:`powertools_secret_reader` in production).
    transport
        Sends the requests; urllib3 when not given.
    counter
        Counts delivered and failed channels (nothing counted when not given).
    policy, sleep
        The retries of each channel, and how back-off waits.
    failure_alarm_name
        The CloudWatch alarm on the failure total: failures delivering its own notifications are
        not added to the total, so the alarm cannot keep itself firing.

    Returns
    -------
    DeliveryReport
        One outcome per selected channel, in configuration order. Never raises for a channel.
    """
    transport = transport or Urllib3Transport()
    counted = not (notification.alarm and failure_alarm_name and notification.alertname == failure_alarm_name)
    targets = selected_channels(channels, notification)
    outcomes: list[ChannelOutcome] = []
    if targets:
        with ThreadPoolExecutor(max_workers=min(len(targets), MAX_PARALLEL)) as pool:
            futures = [
                pool.submit(
                    deliver_to_channel,
                    notification,
                    channel,
                    read_secret=read_secret,
                    transport=transport,
                    policy=policy,
                    sleep=sleep,
                    counted=counted,
                )
                for channel in targets
            ]
            outcomes = [future.result() for future in futures]
    for outcome in outcomes:
        fields = {
            "channel": outcome.channel,
            "channel_type": outcome.type,
            "alert": notification.alertname,
            "alert_status": notification.status,
            "attempts": outcome.attempts,
        }
        if outcome.delivered:
            logger.info("alert delivered", extra=fields)
        else:
            failure = {"http_status": outcome.status, "problem": outcome.problem, "counted": outcome.counted}
            logger.error("alert not delivered to a channel", extra={**fields, **failure})
        if counter is not None:
            (counter.delivered if outcome.delivered else counter.failed)(outcome)
    return DeliveryReport(notification.alertname, notification.status, tuple(outcomes))
