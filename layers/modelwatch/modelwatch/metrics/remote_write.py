"""A Prometheus remote-write client (protocol 0.1.0) for AMP and for a plain Prometheus.

The request is a protobuf ``prometheus.WriteRequest`` (``remote.proto``: repeated
``TimeSeries{labels, samples}``), compressed with raw (block) snappy, POSTed with
``Content-Type: application/x-protobuf``, ``Content-Encoding: snappy`` and
``X-Prometheus-Remote-Write-Version: 0.1.0``. For an Amazon Managed Service for
Prometheus URL (``https://aps-workspaces.<region>.amazonaws.com/workspaces/<id>/api/v1/remote_write``)
each request is signed with SigV4 (service ``aps``) through botocore; a plain URL
(the local Prometheus) is not signed.

The schema is four messages of two or three fields, so it is encoded here by hand
(no protobuf runtime, no generated code); the integration tests check it against
Prometheus itself. Snappy comes from ``cramjam`` (binary wheels, no system library).

Series are sent in batches of at most ``max_series_per_request``. A batch answered
with 5xx or 429, or lost to a connection error, is retried with exponential
backoff up to ``max_attempts``; any other 4xx (out-of-order or too-old samples,
a bad label) is not retried: it is logged and counted. :meth:`RemoteWriteClient.write`
never raises: it returns a :class:`WriteOutcome`, so a monitoring run whose
metrics cannot be written still completes (and writes its result to S3).
"""

from __future__ import annotations

import re
import struct
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import cramjam

from modelwatch.contracts.sample import Labels, Sample
from modelwatch.observability import logger
from modelwatch.settings.remote_write import (
    DEFAULT_BACKOFF_SECONDS,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_SERIES_PER_REQUEST,
    DEFAULT_TIMEOUT_SECONDS,
)

REMOTE_WRITE_VERSION: Final = "0.1.0"
HEADERS: Final = {
    "Content-Type": "application/x-protobuf",
    "Content-Encoding": "snappy",
    "X-Prometheus-Remote-Write-Version": REMOTE_WRITE_VERSION,
    "User-Agent": "modelwatch-remote-write/0.1",
}
AMP_SERVICE: Final = "aps"
_AMP_HOST = re.compile(r"^https://aps-workspaces\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?/")

_MAX_ERRORS_KEPT = 20


def amp_remote_write_url(region: str, workspace_id: str) -> str:
    """Return the remote-write endpoint of an AMP workspace."""
    return f"https://aps-workspaces.{region}.amazonaws.com/workspaces/{workspace_id}/api/v1/remote_write"


def amp_region(url: str) -> str | None:
    """Return the region of an AMP endpoint URL, or ``None`` for any other URL."""
    match = _AMP_HOST.match(url)
    return match.group(1) if match else None


# --- protobuf encoding ----------------------------------------------------------------------------

_LEN = 2
_I64 = 1
_VARINT = 0


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # int64 is encoded as its two's complement
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(number: int, wire_type: int) -> bytes:
    return _varint((number << 3) | wire_type)


def _length_delimited(number: int, payload: bytes) -> bytes:
    return _key(number, _LEN) + _varint(len(payload)) + payload


def _encode_label(name: str, value: str) -> bytes:
    return _length_delimited(1, name.encode()) + _length_delimited(2, value.encode())


def _encode_sample(value: float, timestamp_ms: int) -> bytes:
    return _key(1, _I64) + struct.pack("<d", value) + _key(2, _VARINT) + _varint(timestamp_ms)


@dataclass(frozen=True)
class TimeSeries:
    """One series of a write request: labels (with ``__name__``) and its samples in time order."""

    name: str
    labels: Labels
    samples: tuple[tuple[float, int], ...]

    def encode(self) -> bytes:
        pairs = sorted([("__name__", self.name), *self.labels])
        body = b"".join(_length_delimited(1, _encode_label(k, v)) for k, v in pairs)
        body += b"".join(_length_delimited(2, _encode_sample(v, t)) for v, t in self.samples)
        return body


def group_series(samples: Iterable[Sample]) -> list[TimeSeries]:
    """Group samples into series, samples sorted by time, one sample per timestamp (the last wins)."""
    grouped: dict[tuple[str, Labels], dict[int, float]] = {}
    for sample in samples:
        grouped.setdefault(sample.series_key, {})[sample.timestamp_ms] = sample.value
    return [
        TimeSeries(name, labels, tuple((points[t], t) for t in sorted(points)))
        for (name, labels), points in grouped.items()
    ]


def encode_write_request(series: Sequence[TimeSeries]) -> bytes:
    """Return the protobuf ``WriteRequest`` carrying ``series`` (uncompressed)."""
    return b"".join(_length_delimited(1, ts.encode()) for ts in series)


def compress(payload: bytes) -> bytes:
    """Return ``payload`` compressed with raw (block, unframed) snappy."""
    return bytes(cramjam.snappy.compress_raw(payload))


# --- transport and signing ------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: bytes


class Transport(Protocol):
    """Sends one POST; raises ``OSError`` (or a subclass) when the connection fails."""

    def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> HttpResponse: ...


class Urllib3Transport:
    """POST with urllib3, which the Lambda runtime ships with botocore (no extra dependency)."""

    def __init__(self) -> None:
        import urllib3

        self._pool = urllib3.PoolManager(retries=False)

    def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> HttpResponse:
        import urllib3

        try:
            response = self._pool.request("POST", url, body=body, headers=headers, timeout=timeout)
        except urllib3.exceptions.HTTPError as error:
            raise ConnectionError(f"{type(error).__name__}: {error}") from error
        return HttpResponse(response.status, response.data)


class RequestSigner(Protocol):
    """Adds authentication headers to a request about to be sent."""

    def sign(self, url: str, body: bytes, headers: dict[str, str]) -> dict[str, str]: ...


class SigV4Signer:
    """Sign with AWS Signature Version 4 for AMP (service ``aps``), with the default credential chain.

    Credentials are resolved per request, so refreshed role credentials are picked up.
    """

    def __init__(self, region: str, credentials_provider: Callable[[], Any] | None = None) -> None:
        self.region = region
        self._credentials = credentials_provider or _default_credentials

    def sign(self, url: str, body: bytes, headers: dict[str, str]) -> dict[str, str]:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        credentials = self._credentials()
        if credentials is None:
            raise PermissionError("no AWS credentials found to sign the remote write")
        request = AWSRequest(method="POST", url=url, data=body, headers=dict(headers))
        SigV4Auth(credentials.get_frozen_credentials(), AMP_SERVICE, self.region).add_auth(request)
        return dict(request.headers.items())


def _default_credentials() -> Any:
    import botocore.session

    return botocore.session.get_session().get_credentials()


# --- the client -----------------------------------------------------------------------------------


@dataclass
class WriteOutcome:
    """What happened to one :meth:`RemoteWriteClient.write`.

    ``written`` series were accepted; ``rejected`` were refused with a 4xx that
    retrying cannot fix (not retried); ``failed`` could not be delivered after the
    retries (5xx, 429, connection errors). ``errors`` keeps the first messages.
    """

    series: int = 0
    samples: int = 0
    requests: int = 0
    written: int = 0
    rejected: int = 0
    failed: int = 0
    retries: int = 0
    bytes_sent: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every series was accepted."""
        return self.rejected == 0 and self.failed == 0

    def merge(self, other: WriteOutcome) -> None:
        """Add ``other``'s counts to this outcome."""
        for name in (
            "series",
            "samples",
            "requests",
            "written",
            "rejected",
            "failed",
            "retries",
            "bytes_sent",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors.extend(other.errors[: max(0, _MAX_ERRORS_KEPT - len(self.errors))])

    def _error(self, message: str) -> None:
        if len(self.errors) < _MAX_ERRORS_KEPT:
            self.errors.append(message)


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


class RemoteWriteClient:
    """Write samples to a Prometheus remote-write endpoint; never raises.

    Parameters
    ----------
    url
        The remote-write endpoint (AMP's, or ``http://127.0.0.1:9090/api/v1/write``).
    signer
        Signs each request; by default SigV4 for an AMP URL (region read from the URL), none otherwise.
    transport
        Sends the requests (default: urllib3). Tests pass a fake.
    max_series_per_request
        Series per request; AMP accepts requests up to about 1 MB compressed.
    max_attempts
        Attempts per request for 5xx, 429 and connection errors (1 = no retry).
    backoff_seconds
        First retry delay; doubled for each further attempt.
    timeout_seconds
        Per-request timeout.
    sleep
        Waits between attempts (tests pass a fake).
    """

    def __init__(
        self,
        url: str,
        *,
        signer: RequestSigner | None = None,
        transport: Transport | None = None,
        max_series_per_request: int = DEFAULT_MAX_SERIES_PER_REQUEST,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        backoff_seconds: float = DEFAULT_BACKOFF_SECONDS,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_series_per_request < 1 or max_attempts < 1:
            raise ValueError("max_series_per_request and max_attempts must be at least 1")
        self.url = url
        if signer is None and (region := amp_region(url)) is not None:
            signer = SigV4Signer(region)
        self.signer = signer
        self._transport = transport
        self.max_series_per_request = max_series_per_request
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.timeout_seconds = timeout_seconds
        self._sleep = sleep

    @property
    def transport(self) -> Transport:
        if self._transport is None:
            self._transport = Urllib3Transport()
        return self._transport

    def write(self, samples: Iterable[Sample]) -> WriteOutcome:
        """Write ``samples`` in batches; return what happened, never raise."""
        outcome = WriteOutcome()
        try:
            series = group_series(samples)
            outcome.series = len(series)
            outcome.samples = sum(len(ts.samples) for ts in series)
            for start in range(0, len(series), self.max_series_per_request):
                self._send_batch(series[start : start + self.max_series_per_request], outcome)
        except Exception as error:  # never into the caller: metrics must not fail a run
            unaccounted = outcome.series - outcome.written - outcome.rejected - outcome.failed
            outcome.failed += max(0, unaccounted)
            outcome._error(f"{type(error).__name__}: {error}")
            logger.exception("remote write failed unexpectedly", extra={"url": self.url})
        if not outcome.ok:
            logger.warning(
                "remote write incomplete",
                extra={
                    "url": self.url,
                    "series": outcome.series,
                    "written": outcome.written,
                    "rejected": outcome.rejected,
                    "failed": outcome.failed,
                    "errors": outcome.errors[:5],
                },
            )
        return outcome

    def _send_batch(self, batch: Sequence[TimeSeries], outcome: WriteOutcome) -> None:
        body = compress(encode_write_request(batch))
        for attempt in range(1, self.max_attempts + 1):
            if attempt > 1:
                outcome.retries += 1
                self._sleep(self.backoff_seconds * 2 ** (attempt - 2))
            outcome.requests += 1
            try:
                headers = dict(HEADERS)
                if self.signer is not None:
                    headers = self.signer.sign(self.url, body, headers)
                response = self.transport.post(self.url, body, headers, self.timeout_seconds)
            except (OSError, PermissionError) as error:
                outcome._error(f"attempt {attempt}: {type(error).__name__}: {error}")
                continue
            outcome.bytes_sent += len(body)
            if 200 <= response.status < 300:
                outcome.written += len(batch)
                return
            message = f"HTTP {response.status}: {response.body[:300].decode(errors='replace').strip()}"
            outcome._error(f"attempt {attempt}: {message}")
            if not _retryable(response.status):
                outcome.rejected += len(batch)
                logger.warning(
                    "remote write rejected (not retried)", extra={"url": self.url, "error": message}
                )
                return
        outcome.failed += len(batch)
