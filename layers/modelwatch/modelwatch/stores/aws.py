"""boto3 clients, created in one place: the stores and sinks of every function are wired from here.

boto3 reads ``AWS_ENDPOINT_URL`` itself, so the same code talks to AWS in the cloud
and to moto locally; nothing here knows which.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CallLimits:
    """How long one call may take and how often botocore tries it.

    boto3's defaults (60 s connect and read timeouts, 5 legacy-mode attempts) let one call
    outlive a Lambda invocation; a caller with a time budget sets these instead and does
    its own retries within the budget.
    """

    connect_timeout: float
    read_timeout: float
    attempts: int = 1

    @property
    def longest_call_seconds(self) -> float:
        """The longest one call can take, all its attempts included."""
        return self.attempts * (self.connect_timeout + self.read_timeout)


def client(service: str, limits: CallLimits | None = None, max_pool_connections: int | None = None) -> Any:
    """A boto3 client of ``service`` in the environment's region and credentials, within ``limits``.

    ``max_pool_connections``: for a client shared by that many threads (botocore keeps 10).
    """
    import boto3

    if limits is None and max_pool_connections is None:
        return boto3.client(service)  # type: ignore[call-overload]  # the service is a run-time name
    from botocore.config import Config

    options: dict[str, Any] = {}
    if limits is not None:
        options = {
            "connect_timeout": limits.connect_timeout,
            "read_timeout": limits.read_timeout,
            "retries": {"mode": "standard", "total_max_attempts": limits.attempts},
        }
    if max_pool_connections is not None:
        options["max_pool_connections"] = max_pool_connections
    return boto3.client(service, config=Config(**options))  # type: ignore[call-overload]


class LazyClient:
    """A boto3 client created on first use.

    For clients used only when something goes wrong (the capture's dead-letter queue):
    creating one costs ~15 ms of cold start that most environments never need.
    """

    def __init__(self, service: str, limits: CallLimits | None = None) -> None:
        self._service = service
        self._limits = limits
        self._client: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            self._client = client(self._service, self._limits)
        return getattr(self._client, name)
