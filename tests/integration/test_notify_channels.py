"""The notify handler against real HTTPS servers on 127.0.0.1 standing in for each provider.

Secrets are in (moto's) Secrets Manager and read by the handler through Powertools; every channel
type is configured; PagerDuty's stand-in answers 500 always and Slack's 429 then 200. Every other
channel receives its payload, Slack's is retried, PagerDuty's is retried then counted: the
embedded-metric blobs the handler prints carry ChannelDeliveryFailures{channel=pager} and
ChannelDeliveryFailuresTotal. The failure alarm's own notification is delivered but not totalled.
"""

from __future__ import annotations

import importlib.util
import json
import ssl
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest

from modelwatch.notifications import webhook
from modelwatch.notifications.transport import Urllib3Transport
from tests.integration.certificates import OPENSSL, self_signed_certificate
from tests.integration.conftest import REPO, LambdaContext
from tests.unit.notifications.alerts import alarm_record, alert_record

pytestmark = pytest.mark.skipif(OPENSSL is None, reason="openssl is not installed")
SIGNING_KEY = "whsec-integration-0123456789"
ROUTING_KEY = "R0ut1ngKey0123456789abcdefABCDEF"
FAILURE_ALARM = "modelwatch-notify-channel-failures"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Provider:
    """One HTTPS stand-in: answers from ``statuses`` (the last repeats), records every request."""

    name: str
    statuses: list[int]
    received: list[Received] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"https://127.0.0.1:{self.server.server_address[1]}"

    def json_bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.body) for r in self.received]


def _serve(provider: Provider, context: ssl.SSLContext) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            provider.received.append(Received(self.path, dict(self.headers.items()), self.rfile.read(length)))
            status = provider.statuses[min(len(provider.received), len(provider.statuses)) - 1]
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def providers(tmp_path: Path) -> Iterator[tuple[dict[str, Provider], Path]]:
    certificate, key = self_signed_certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    stand_ins = {
        "slack": Provider("slack", [429, 200]),
        "teams": Provider("teams", [202]),
        "pagerduty": Provider("pagerduty", [500]),
        "opsgenie": Provider("opsgenie", [202]),
        "webhook": Provider("webhook", [200]),
    }
    for provider in stand_ins.values():
        provider.server = _serve(provider, context)
    yield stand_ins, certificate
    for provider in stand_ins.values():
        assert provider.server is not None
        provider.server.shutdown()
        provider.server.server_close()


@pytest.fixture
def notify(
    aws: None, providers: tuple[dict[str, Provider], Path], monkeypatch: pytest.MonkeyPatch
) -> ModuleType:
    stand_ins, certificate = providers
    secrets = boto3.client("secretsmanager")
    values = {
        "slack": {"url": f"{stand_ins['slack'].url}/services/T0/B0/X"},
        "teams": {"url": f"{stand_ins['teams'].url}/workflows/abc/triggers/manual/paths/invoke"},
        "pagerduty": {"routing_key": ROUTING_KEY, "url": f"{stand_ins['pagerduty'].url}/v2/enqueue"},
        "opsgenie": {"api_key": "genie-key-1", "region": "eu", "url": stand_ins["opsgenie"].url},
        "webhook": {"url": f"{stand_ins['webhook'].url}/in", "signing_key": SIGNING_KEY},
    }
    arns = {
        kind: secrets.create_secret(Name=f"modelwatch/{kind}", SecretString=json.dumps(value))["ARN"]
        for kind, value in values.items()
    }
    channels = [
        {"name": "chat", "type": "slack", "secret_arn": arns["slack"]},
        {"name": "teams", "type": "teams", "secret_arn": arns["teams"], "models": ["fraud*"]},
        {"name": "pager", "type": "pagerduty", "secret_arn": arns["pagerduty"], "severities": ["critical"]},
        {"name": "genie", "type": "opsgenie", "secret_arn": arns["opsgenie"]},
        {"name": "hook", "type": "webhook", "secret_arn": arns["webhook"]},
    ]
    monkeypatch.setenv("MODELWATCH_CHANNELS", json.dumps(channels))
    monkeypatch.setenv("MODELWATCH_FAILURE_ALARM_NAME", FAILURE_ALARM)
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "modelwatch")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "modelwatch")
    # the counts are read from the metric lines: tests that run job handlers in-process before this one
    # (the local scheduler loads their settings into os.environ) may leave Powertools' metrics disabled
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    name = f"notify_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, REPO / "functions" / "notify" / "handler.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "transport", Urllib3Transport(ca_certs=str(certificate)))
    return module


def _metric_blobs(output: str) -> list[dict[str, Any]]:
    blobs = []
    for line in output.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            blobs.append(json.loads(line))
    return blobs


def _count(blobs: list[dict[str, Any]], metric: str, **dimensions: str) -> float:
    total = 0.0
    for blob in blobs:
        names = {m["Name"] for d in blob["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
        if metric in names and all(blob.get(k) == v for k, v in dimensions.items()):
            value = blob[metric]
            total += sum(value) if isinstance(value, list) else value
    return total


def test_every_channel_gets_its_payload_and_the_failing_one_is_retried_then_counted(
    notify: ModuleType,
    providers: tuple[dict[str, Provider], Path],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    stand_ins, _ = providers

    result = notify.handler({"Records": [alert_record("firing")]}, LambdaContext(function_name="notify"))

    assert result == {"delivered": 4, "failed": ["pager"]}
    assert len(stand_ins["pagerduty"].received) == 3  # retried, then given up
    assert len(stand_ins["slack"].received) == 2  # 429, then 200
    slack = stand_ins["slack"].json_bodies()[-1]
    assert stand_ins["slack"].received[-1].path == "/services/T0/B0/X"
    assert [b["type"] for b in slack["blocks"]] == ["header", "section", "context"]
    (card,) = stand_ins["teams"].json_bodies()
    assert card["attachments"][0]["content"]["type"] == "AdaptiveCard"
    (event,) = {json.dumps(b) for b in stand_ins["pagerduty"].json_bodies()}  # the same event each time
    assert json.loads(event)["event_action"] == "trigger"
    (created,) = stand_ins["opsgenie"].received
    assert created.path == "/v2/alerts" and created.headers["Authorization"] == "GenieKey genie-key-1"
    (hook,) = stand_ins["webhook"].received
    assert webhook.verify_signature(SIGNING_KEY, hook.headers, hook.body)
    assert json.loads(hook.body)["alertname"] == "ModelwatchDatasetDrift"

    output = capsys.readouterr().out
    blobs = _metric_blobs(output)
    assert _count(blobs, "ChannelDeliveryFailures", channel="pager") == 1
    assert _count(blobs, "ChannelDeliveryFailuresTotal", service="modelwatch") == 1
    assert _count(blobs, "ChannelDeliveries", channel="genie") == 1
    assert _count(blobs, "ChannelDeliveriesTotal", service="modelwatch") == 4
    assert ROUTING_KEY not in output and "genie-key-1" not in output and SIGNING_KEY not in output
    (failure,) = [r for r in caplog.records if r.getMessage() == "alert not delivered to a channel"]
    assert (failure.channel, failure.http_status, failure.attempts) == ("pager", 500, 3)  # type: ignore[attr-defined]
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert ROUTING_KEY not in logged and "genie-key-1" not in logged and stand_ins["slack"].url not in logged


def test_resolution_resolves_with_the_same_dedup_key_and_closes_by_alias(
    notify: ModuleType, providers: tuple[dict[str, Provider], Path]
) -> None:
    stand_ins, _ = providers
    stand_ins["pagerduty"].statuses = [202]

    notify.handler({"Records": [alert_record("firing")]}, LambdaContext(function_name="notify"))
    notify.handler({"Records": [alert_record("resolved")]}, LambdaContext(function_name="notify"))

    trigger, resolve = stand_ins["pagerduty"].json_bodies()
    assert (trigger["event_action"], resolve["event_action"]) == ("trigger", "resolve")
    assert trigger["dedup_key"] == resolve["dedup_key"]
    created, closed = stand_ins["opsgenie"].received
    alias = json.loads(created.body)["alias"]
    assert closed.path == f"/v2/alerts/{alias}/close?identifierType=alias"


def test_the_failure_alarm_reaches_the_other_channels_and_cannot_feed_itself(
    notify: ModuleType, providers: tuple[dict[str, Provider], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    stand_ins, _ = providers
    stand_ins["opsgenie"].statuses = [500]  # the alarm is a warning: PagerDuty (critical only) is not asked
    capsys.readouterr()

    fired = notify.handler({"Records": [alarm_record("ALARM", FAILURE_ALARM)]}, LambdaContext())
    cleared = notify.handler({"Records": [alarm_record("OK", FAILURE_ALARM)]}, LambdaContext())

    assert fired == cleared == {"delivered": 3, "failed": ["genie"]}
    assert len(stand_ins["slack"].received) == 3 and len(stand_ins["webhook"].received) == 2
    assert len(stand_ins["teams"].received) == 2  # about no one model: past the channel's models filter
    blobs = _metric_blobs(capsys.readouterr().out)
    assert _count(blobs, "ChannelDeliveryFailures", channel="genie") == 2
    assert _count(blobs, "ChannelDeliveryFailuresTotal") == 0  # nothing that keeps the alarm firing
