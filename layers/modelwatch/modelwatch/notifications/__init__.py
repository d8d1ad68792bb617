"""Alert delivery: from the alert topic's SNS messages to the configured channels.

``alert`` reads an SNS record (AMP's alert manager or a CloudWatch alarm) into an
:class:`~modelwatch.notifications.alert.AlertNotification`; one formatter module per provider
(``slack``, ``teams``, ``pagerduty``, ``opsgenie``, ``webhook``) turns it into the provider's HTTP
request; ``secrets`` reads each channel's secret; ``delivery`` selects the channels of an alert and
sends to each independently, with bounded retries, over a ``transport``. The channel list itself is
a contract (:mod:`modelwatch.contracts.channels`), which the CDK app validates too.
"""
