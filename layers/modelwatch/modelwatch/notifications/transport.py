"""HTTP transport of the channels: one request out, its status back (urllib3 in production).

Formatters return an :class:`HttpRequest`; :mod:`~modelwatch.notifications.delivery` sends it
through a :class:`Transport`, which tests replace with a recorder or point at local servers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Protocol

USER_AGENT: Final = "modelwatch-notify/0.2"


@dataclass(frozen=True)
class HttpRequest:
    """One POST to a provider. ``url`` and some headers carry secrets: never log them."""

    url: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class Transport(Protocol):
    """Sends one POST and returns its HTTP status; raises ``OSError`` when it cannot connect."""

    def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> int: ...


class Urllib3Transport:
    """A pooled urllib3 transport without urllib3's own retries (delivery retries).

    ``ca_certs`` replaces the system's CA bundle (tests with local HTTPS servers).
    """

    def __init__(self, *, ca_certs: str | None = None) -> None:
        import urllib3

        self._pool = urllib3.PoolManager(retries=False, ca_certs=ca_certs)

    def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
        import urllib3

        try:
            response = self._pool.request("POST", url, body=body, headers=headers, timeout=timeout)
        except urllib3.exceptions.HTTPError as error:
            raise ConnectionError(type(error).__name__) from None  # its text may hold the URL
        return int(response.status)
