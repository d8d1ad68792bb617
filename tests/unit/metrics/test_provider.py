"""Sinks: the production one from settings, the in-memory one, and failure counting."""

from __future__ import annotations

import json

import pytest

from modelwatch.metrics import DiscardingSink, InMemorySink, RemoteWriteSink, Sample, sink_from_settings
from modelwatch.metrics.remote_write import HttpResponse, RemoteWriteClient, SigV4Signer
from modelwatch.settings import RemoteWriteSettings, SettingsError, load_settings


class Refusing:
    def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> HttpResponse:
        return HttpResponse(400, b"too old")


def test_no_url_means_a_discarding_sink() -> None:
    sink = sink_from_settings(RemoteWriteSettings())

    assert isinstance(sink, DiscardingSink)
    assert sink.push([Sample.of("x", 1, 0)]).written == 0


def test_settings_from_the_environment_build_an_amp_sink(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "MODELWATCH_REMOTE_WRITE_URL",
        "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-1/api/v1/remote_write",
    )
    monkeypatch.setenv("MODELWATCH_REMOTE_WRITE_MAX_ATTEMPTS", "2")

    sink = sink_from_settings(load_settings(RemoteWriteSettings))

    assert isinstance(sink, RemoteWriteSink)
    assert isinstance(sink.client.signer, SigV4Signer) and sink.client.max_attempts == 2


def test_bad_settings_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELWATCH_REMOTE_WRITE_URL", "ftp://nowhere")

    with pytest.raises(SettingsError, match="MODELWATCH_REMOTE_WRITE_URL"):
        load_settings(RemoteWriteSettings)


def test_rejected_series_are_counted_as_cloudwatch_metrics(capsys: pytest.CaptureFixture[str]) -> None:
    sink = RemoteWriteSink(RemoteWriteClient("http://127.0.0.1:1/api/v1/write", transport=Refusing()))

    outcome = sink.push([Sample.of("x", 1, 0)])

    assert outcome.rejected == 1
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert emf and emf[0]["RemoteWriteRejectedSeries"] == [1.0]


def test_in_memory_sink_keeps_samples_or_simulates_an_outage() -> None:
    sink = InMemorySink()
    sink.push([Sample.of("x", 1, 0, {"a": "b"}), Sample.of("x", 2, 1, {"a": "b"})])

    assert sink.values("x", a="b") == [1.0, 2.0] and sink.names() == {"x"}
    with pytest.raises(KeyError):
        sink.last("y")
    assert InMemorySink(fail_with="down").push([Sample.of("x", 1, 0)]).failed == 1
