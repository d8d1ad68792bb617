"""The remote-write client: wire format, headers, batching, retries, signing, never raising."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cramjam
import pytest

from modelwatch.contracts.sample import Sample
from modelwatch.metrics.remote_write import (
    HEADERS,
    HttpResponse,
    RemoteWriteClient,
    SigV4Signer,
    TimeSeries,
    amp_region,
    amp_remote_write_url,
    encode_write_request,
    group_series,
)
from tests.unit.metrics.wire import decode_write_request

AMP_URL = amp_remote_write_url("eu-west-1", "ws-1234abcd")
LOCAL_URL = "http://127.0.0.1:9090/api/v1/write"


@dataclass
class FakeTransport:
    """Answers each POST with the next status (the last one repeats); records what it got."""

    statuses: list[int | Exception] = field(default_factory=lambda: [204])
    calls: list[tuple[str, bytes, dict[str, str]]] = field(default_factory=list)

    def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> HttpResponse:
        self.calls.append((url, body, headers))
        status = self.statuses[min(len(self.calls), len(self.statuses)) - 1]
        if isinstance(status, Exception):
            raise status
        return HttpResponse(status, b"out of order sample" if status == 400 else b"")

    def requests(self) -> list[list[dict[str, object]]]:
        return [decode_write_request(bytes(cramjam.snappy.decompress_raw(body))) for _, body, _ in self.calls]


def _samples(n: int, now: float = 1_800_000_000.0) -> list[Sample]:
    return [
        Sample.of("modelwatch_predictions_total", i, now, {"model": f"m{i}", "version": "1"})
        for i in range(n)
    ]


def _client(transport: FakeTransport, **options: object) -> tuple[RemoteWriteClient, list[float]]:
    sleeps: list[float] = []
    client = RemoteWriteClient(LOCAL_URL, transport=transport, sleep=sleeps.append, **options)  # type: ignore[arg-type]
    return client, sleeps


def test_encoding_matches_protobuf_bytes_for_a_known_request() -> None:
    series = [TimeSeries("up", (("job", "a"),), ((1.0, 1000),))]

    encoded = encode_write_request(series)

    label_name = b"\x0a\x08__name__\x12\x02up"
    label_job = b"\x0a\x03job\x12\x01a"
    sample = b"\x09" + b"\x00\x00\x00\x00\x00\x00\xf0\x3f" + b"\x10\xe8\x07"  # 1.0, 1000 ms
    ts = b"\x0a" + bytes([len(label_name)]) + label_name + b"\x0a" + bytes([len(label_job)]) + label_job
    ts += b"\x12" + bytes([len(sample)]) + sample
    assert encoded == b"\x0a" + bytes([len(ts)]) + ts


def test_round_trip_keeps_names_labels_values_and_timestamps() -> None:
    samples = [
        Sample.of(
            "modelwatch_feature_drift_score", 0.25, 1_800_000_000.5, {"model": "fraud", "feature": "amount"}
        ),
        Sample.of(
            "modelwatch_feature_drift_score", 0.5, 1_800_000_060.0, {"model": "fraud", "feature": "amount"}
        ),
        Sample.of("modelwatch_feature_drift_p_value", math.nan, 1_800_000_000.0, {"feature": "é ü"}),
        Sample.of("neg", -3.5, 1.0),
    ]

    decoded = decode_write_request(encode_write_request(group_series(samples)))

    assert decoded[0]["labels"] == {
        "__name__": "modelwatch_feature_drift_score",
        "feature": "amount",
        "model": "fraud",
    }
    assert decoded[0]["samples"] == [(0.25, 1_800_000_000_500), (0.5, 1_800_000_060_000)]
    assert decoded[1]["labels"]["feature"] == "é ü"
    assert math.isnan(decoded[1]["samples"][0][0])
    assert decoded[2]["samples"] == [(-3.5, 1000)]


def test_labels_are_sorted_with_name_first_and_samples_sorted_by_time() -> None:
    samples = [
        Sample.of("x", 2, 20.0, {"zeta": "1", "alpha": "2"}),
        Sample.of("x", 1, 10.0, {"alpha": "2", "zeta": "1"}),
    ]

    (series,) = decode_write_request(encode_write_request(group_series(samples)))

    assert list(series["labels"]) == ["__name__", "alpha", "zeta"]
    assert series["samples"] == [(1.0, 10_000), (2.0, 20_000)]


def test_posts_snappy_protobuf_with_the_remote_write_headers_and_no_signature_locally() -> None:
    transport = FakeTransport()
    client, _ = _client(transport)

    outcome = client.write(_samples(3))

    ((url, _, headers),) = transport.calls
    assert url == LOCAL_URL
    assert headers["Content-Type"] == "application/x-protobuf"
    assert headers["Content-Encoding"] == "snappy"
    assert headers["X-Prometheus-Remote-Write-Version"] == "0.1.0"
    assert "Authorization" not in headers
    assert len(transport.requests()[0]) == 3
    assert outcome.ok and outcome.written == 3 and outcome.requests == 1


def test_batches_are_bounded_in_series() -> None:
    transport = FakeTransport()
    client, _ = _client(transport, max_series_per_request=2)

    outcome = client.write(_samples(5))

    assert [len(r) for r in transport.requests()] == [2, 2, 1]
    assert outcome.written == 5 and outcome.requests == 3


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_retries_5xx_and_429_with_exponential_backoff(status: int) -> None:
    transport = FakeTransport([status, status, 204])
    client, sleeps = _client(transport, max_attempts=3, backoff_seconds=0.5)

    outcome = client.write(_samples(2))

    assert outcome.ok and outcome.retries == 2 and outcome.requests == 3
    assert sleeps == [0.5, 1.0]


def test_gives_up_after_max_attempts_and_reports_failed_series() -> None:
    transport = FakeTransport([503])
    client, sleeps = _client(transport, max_attempts=3)

    outcome = client.write(_samples(2))

    assert not outcome.ok and outcome.failed == 2 and outcome.written == 0
    assert len(transport.calls) == 3 and len(sleeps) == 2
    assert all("HTTP 503" in e for e in outcome.errors)


@pytest.mark.parametrize("status", [400, 403, 404, 413])
def test_does_not_retry_4xx_rejections(status: int) -> None:
    transport = FakeTransport([status])
    client, sleeps = _client(transport, max_attempts=5)

    outcome = client.write(_samples(2))

    assert len(transport.calls) == 1 and sleeps == []
    assert outcome.rejected == 2 and not outcome.ok


def test_a_rejected_batch_does_not_stop_the_next_one() -> None:
    transport = FakeTransport([400, 204])
    client, _ = _client(transport, max_series_per_request=1)

    outcome = client.write(_samples(2))

    assert outcome.rejected == 1 and outcome.written == 1


def test_connection_errors_are_retried_then_reported_never_raised() -> None:
    transport = FakeTransport([ConnectionRefusedError("refused")])
    client, _ = _client(transport, max_attempts=2)

    outcome = client.write(_samples(1))

    assert outcome.failed == 1 and len(transport.calls) == 2
    assert "ConnectionRefusedError" in outcome.errors[0]


def test_unexpected_errors_are_reported_not_raised() -> None:
    class Exploding:
        def post(self, *args: object) -> HttpResponse:
            raise RuntimeError("boom")

    client = RemoteWriteClient(LOCAL_URL, transport=Exploding(), sleep=lambda _: None)

    outcome = client.write(_samples(2))

    assert outcome.failed == 2 and "RuntimeError: boom" in outcome.errors[-1]


def test_nothing_to_write_sends_nothing() -> None:
    transport = FakeTransport()
    client, _ = _client(transport)

    assert client.write([]).ok and transport.calls == []


def test_amp_urls_are_recognised_and_signed_for_their_region() -> None:
    assert amp_region(AMP_URL) == "eu-west-1"
    assert amp_region(LOCAL_URL) is None
    client = RemoteWriteClient(AMP_URL)
    assert isinstance(client.signer, SigV4Signer) and client.signer.region == "eu-west-1"
    assert RemoteWriteClient(LOCAL_URL).signer is None


def test_sigv4_headers_are_present_and_valid_for_service_aps() -> None:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    credentials = Credentials("AKIDEXAMPLE", "secret", "token")
    transport = FakeTransport()
    client = RemoteWriteClient(
        AMP_URL, signer=SigV4Signer("eu-west-1", lambda: credentials), transport=transport
    )

    assert client.write(_samples(1)).ok

    ((url, body, headers),) = transport.calls
    authorization = headers["Authorization"]
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/aps/aws4_request" in authorization
    signed = authorization.split("SignedHeaders=")[1].split(",")[0].split(";")
    assert {"content-encoding", "content-type", "host", "x-amz-date"} <= set(signed)
    assert headers["X-Amz-Security-Token"] == "token"
    assert headers["Content-Encoding"] == "snappy"
    # Re-signing the same request at the same time gives the same signature.
    request = AWSRequest(method="POST", url=url, data=body, headers={k: v for k, v in HEADERS.items()})
    request.context["timestamp"] = headers["X-Amz-Date"]
    request.headers["X-Amz-Date"] = headers["X-Amz-Date"]
    SigV4Auth(credentials, "aps", "eu-west-1").add_auth(request)
    assert request.headers["Authorization"] == authorization


def test_missing_credentials_are_an_outcome_not_an_exception() -> None:
    transport = FakeTransport()
    client = RemoteWriteClient(AMP_URL, signer=SigV4Signer("eu-west-1", lambda: None), transport=transport)

    outcome = client.write(_samples(1))

    assert outcome.failed == 1 and transport.calls == []
    assert "no AWS credentials" in outcome.errors[0]


def test_invalid_names_fail_where_the_sample_is_made() -> None:
    with pytest.raises(ValueError, match="invalid metric name"):
        Sample.of("bad-name", 1, 0)
    with pytest.raises(ValueError, match="invalid label name"):
        Sample.of("ok", 1, 0, {"__reserved": "x"})
