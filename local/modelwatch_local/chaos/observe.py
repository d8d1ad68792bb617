"""What an experiment watches besides the callers: ``/health``, the metrics export, the alert rules."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from modelwatch_local.paths import RULES_DIR
from modelwatch_local.prometheus_server import LocalPrometheus, PrometheusError


def health_summary(status: int, body: dict[str, Any]) -> str:
    """``/health``'s answer in a few words: ``200 ok fraud_detection=ready@2``."""
    models = body.get("models", {})
    parts = []
    for name, state in sorted(models.items()):
        if isinstance(state, dict):
            text = f"{name}={state.get('state')}@{state.get('serving_version')}"
            if state.get("failed_version"):
                text += f" failed={state['failed_version']}:{state.get('reason')}"
            elif state.get("reason"):
                text += f" {state['reason']}"
        else:
            text = f"{name}={state}"
        parts.append(text)
    return f"{status} {body.get('status', '?')} {' '.join(parts)}".strip()


@dataclass
class HealthProbe:
    """Polls ``/health`` every ``every`` seconds (answers within ``timeout`` or counts as none)."""

    api_url: str
    every: float = 1.0
    timeout: float = 2.0
    seen: list[tuple[float, str]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> HealthProbe:
        self._thread = threading.Thread(target=self._loop, name="health-probe", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout + 1)

    def _loop(self) -> None:
        with httpx.Client(timeout=self.timeout) as client:
            while not self._stop.is_set():
                now = time.time()
                try:
                    response = client.get(f"{self.api_url}/health")
                    text = health_summary(response.status_code, response.json())
                except httpx.TimeoutException:
                    text = f"no answer within {self.timeout:g} s"
                except (httpx.HTTPError, ValueError) as error:
                    text = f"error: {type(error).__name__}"
                self.seen.append((now, text))
                self._stop.wait(self.every)

    def between(self, start: float, end: float) -> dict[str, int]:
        """What ``/health`` said between two Unix times, with how often."""
        return dict(Counter(text for t, text in self.seen if start <= t < end).most_common())


@dataclass
class ExportLoop:
    """The metrics export every ``every`` seconds, as the one-minute schedule runs it; outcomes kept."""

    scheduler: Any
    every: float = 5.0
    runs: list[dict[str, Any]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def start(self) -> ExportLoop:
        self._thread = threading.Thread(target=self._loop, name="metrics-export", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=120)

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """No scheduled run while the block runs (to compare the state with what was exported)."""
        with self._lock:
            yield

    def run_once(self) -> dict[str, Any]:
        """One export now (serialised with the loop's)."""
        with self._lock:
            started = time.time()
            try:
                outcome = self.scheduler.export_metrics()
                run = {
                    "t": started,
                    "raised": None,
                    "objects": outcome.objects,
                    "write_ok": outcome.write.ok,
                    "written": outcome.write.written,
                }
            except Exception as error:  # the export must not raise: an experiment counts it if it does
                run = {"t": started, "raised": f"{type(error).__name__}: {error}"[:300]}
            self.runs.append(run)
            return run

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self.run_once()

    def between(self, start: float, end: float) -> dict[str, int]:
        """Export runs between two Unix times: how many wrote, failed to write, or raised."""
        runs = [r for r in self.runs if start <= r["t"] < end]
        return {
            "runs": len(runs),
            "written": sum(1 for r in runs if r.get("write_ok")),
            "write_failed": sum(1 for r in runs if r.get("raised") is None and not r.get("write_ok")),
            "raised": sum(1 for r in runs if r.get("raised")),
        }


def alert_rules(rules_dir: Path = RULES_DIR) -> dict[str, str]:
    """Every alert of the deployed rule files: name -> PromQL expression."""
    rules = {}
    for path in sorted(rules_dir.glob("*.yml")):
        for group in yaml.safe_load(path.read_text()).get("groups", []):
            for rule in group.get("rules", []):
                if "alert" in rule:
                    rules[rule["alert"]] = str(rule["expr"])
    return rules


def alerts_now(prometheus: LocalPrometheus | None) -> dict[str, Any]:
    """What the alerting said: Prometheus's pending and firing alerts, and which rules' expressions hold.

    The rule groups evaluate every minute with ``for:`` of 1 to 10 minutes, longer than a bounded
    experiment; so each rule's expression is also evaluated now: one that holds would be pending.
    """
    if prometheus is None:
        return {"available": False}
    try:
        with urllib.request.urlopen(f"{prometheus.url}/api/v1/alerts", timeout=5) as response:
            active = json.loads(response.read())["data"]["alerts"]
    except OSError as error:
        return {"available": False, "error": f"Prometheus did not answer: {error}"}
    holding = []
    for name, expr in alert_rules().items():
        try:
            if prometheus.query(expr):
                holding.append(name)
        except PrometheusError:
            holding.append(f"{name} (query failed)")
    return {
        "available": True,
        "active": sorted(f"{a['labels'].get('alertname')}:{a.get('state')}" for a in active),
        "expressions_holding": holding,
    }
