"""boto3 clients, created in one place: the stores and sinks of every function are wired from here.

boto3 reads ``AWS_ENDPOINT_URL`` itself, so the same code talks to AWS in the cloud
and to moto locally; nothing here knows which.
"""

from __future__ import annotations

from typing import Any


def client(service: str) -> Any:
    """A boto3 client of ``service`` in the environment's region and credentials."""
    import boto3

    return boto3.client(service)  # type: ignore[call-overload]  # the service is a run-time name


class LazyClient:
    """A boto3 client created on first use.

    For clients used only when something goes wrong (the capture's dead-letter queue):
    creating one costs ~15 ms of cold start that most environments never need.
    """

    def __init__(self, service: str) -> None:
        self._service = service
        self._client: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            self._client = client(self._service)
        return getattr(self._client, name)
