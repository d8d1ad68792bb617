"""Generic webhooks: the alert as JSON, signed with HMAC-SHA256 like Stripe's and GitHub's webhooks.

The body is :func:`modelwatch.notifications.alert.notification_document` (schema in docs/alerts.md).
Headers: ``X-Modelwatch-Timestamp`` (Unix seconds) and ``X-Modelwatch-Signature:
sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" with the secret's signing_key>``. A receiver
recomputes the signature over the raw body, compares in constant time, and rejects old timestamps
(replays): :func:`verify_signature` is the reference, and docs/alerts.md has the same check as a
snippet. Conventions followed: https://docs.stripe.com/webhooks#verify-manually and
https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries .
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from typing import Final

from modelwatch.notifications.alert import AlertNotification, notification_document
from modelwatch.notifications.secrets import ChannelSecret
from modelwatch.notifications.transport import USER_AGENT, HttpRequest

TIMESTAMP_HEADER: Final = "X-Modelwatch-Timestamp"
SIGNATURE_HEADER: Final = "X-Modelwatch-Signature"
SCHEME: Final = "sha256="
DEFAULT_TOLERANCE_SECONDS: Final = 300


def signature(signing_key: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>``: the HMAC-SHA256 of ``<timestamp>.<body>`` with ``signing_key``."""
    digest = hmac.new(signing_key.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return SCHEME + digest


def verify_signature(
    signing_key: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """Whether ``body`` with ``headers`` was signed with ``signing_key`` within ``tolerance_seconds``."""
    lowered = {k.lower(): v for k, v in headers.items()}
    timestamp = lowered.get(TIMESTAMP_HEADER.lower(), "")
    received = lowered.get(SIGNATURE_HEADER.lower(), "")
    if not timestamp.isdigit():
        return False
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > tolerance_seconds:
        return False
    return hmac.compare_digest(received, signature(signing_key, timestamp, body))


def request(
    notification: AlertNotification, secret: ChannelSecret, *, clock: Callable[[], float] = time.time
) -> HttpRequest:
    """The signed POST of ``notification``'s document to the channel's URL."""
    body = json.dumps(notification_document(notification), separators=(",", ":")).encode()
    timestamp = str(int(clock()))
    return HttpRequest(
        url=secret.url,
        body=body,
        headers={
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: signature(secret.signing_key, timestamp, body),
        },
    )
