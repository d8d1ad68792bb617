"""A real Prometheus on 127.0.0.1 with its remote-write receiver: the local stand-in for AMP.

It loads the same rule files that are deployed to AMP (``dashboards/rules/*.yml``),
evaluates them, and accepts remote writes at ``/api/v1/write``, so everything that
writes to AMP in the cloud writes here locally through the same client (a plain
URL, no SigV4). It is Debian's ``prometheus`` package on these machines
(``apt-get install prometheus``; ``brew install prometheus`` on macOS); set
``MODELWATCH_PROMETHEUS_BIN`` to use another binary.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

from modelwatch_local.paths import RULES_DIR
from modelwatch_local.processes import HOST, port_free, spawn, terminate

DEFAULT_PORT: Final = 9090
INSTALL_HINT: Final = (
    "install Prometheus: `apt-get install prometheus` (Debian/Ubuntu) or `brew install prometheus` "
    "(macOS), or set MODELWATCH_PROMETHEUS_BIN to its binary"
)


class PrometheusError(RuntimeError):
    """Prometheus is missing, its configuration is invalid, or it did not come up."""


@dataclass
class LocalPrometheus:
    """A running local Prometheus: where it answers and its process."""

    url: str
    pid: int
    data_dir: str
    config_file: str
    log_file: str

    @property
    def remote_write_url(self) -> str:
        """The remote-write endpoint (``MODELWATCH_REMOTE_WRITE_URL`` for local jobs)."""
        return f"{self.url}/api/v1/write"

    def query(self, promql: str, at: float | None = None, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Run an instant query; return the result vector (``[{"metric": {...}, "value": [t, "v"]}]``).

        Raises
        ------
        PrometheusError
            The query is invalid or Prometheus answered an error.
        """
        params = {"query": promql}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = _get_json(f"{self.url}/api/v1/query?{urllib.parse.urlencode(params)}", timeout)
        result = data["data"]["result"]
        if data["data"]["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": result}]
        return list(result)

    def env(self) -> dict[str, str]:
        """Environment that points modelwatch's metrics sink at this Prometheus."""
        return {"MODELWATCH_REMOTE_WRITE_URL": self.remote_write_url}


def _get_json(url: str, timeout: float) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body = response.read()
    except urllib.error.HTTPError as error:
        body = error.read()
        try:
            message = json.loads(body).get("error", body.decode(errors="replace"))
        except ValueError:
            message = body.decode(errors="replace")
        raise PrometheusError(f"Prometheus answered {error.code}: {message}") from None
    data: dict[str, Any] = json.loads(body)
    if data.get("status") != "success":
        raise PrometheusError(f"Prometheus answered: {data.get('error')}")
    return data


def prometheus_binary() -> str:
    """Return the path of the ``prometheus`` binary.

    Raises
    ------
    PrometheusError
        It is not installed, saying how to install it.
    """
    configured = os.environ.get("MODELWATCH_PROMETHEUS_BIN")
    found = configured or shutil.which("prometheus")
    if not found or not Path(found).exists():
        raise PrometheusError(f"prometheus not found; {INSTALL_HINT}")
    return found


def rule_files(rules_dir: Path = RULES_DIR) -> list[Path]:
    """Return the rule files deployed to AMP (and loaded locally), sorted."""
    return sorted(rules_dir.glob("*.yml"))


def write_config(path: Path, rules: list[Path], evaluation_interval: str = "15s") -> Path:
    """Write a Prometheus configuration that only evaluates ``rules`` (no scraping)."""
    config = {
        "global": {"evaluation_interval": evaluation_interval, "scrape_interval": "1m"},
        "rule_files": [str(p.resolve()) for p in rules],
    }
    path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    return path


def start_prometheus(
    state_dir: str | Path = ".local",
    port: int = DEFAULT_PORT,
    rules_dir: Path = RULES_DIR,
    evaluation_interval: str = "15s",
    timeout: float = 30.0,
    log_file: Path | None = None,
) -> LocalPrometheus:
    """Start Prometheus on 127.0.0.1:``port`` with the remote-write receiver and the rule files.

    Storage is a fresh directory under ``state_dir`` (``prometheus-data``), removed first,
    so a restart does not reject new samples as out of order against an old run's. Its output
    goes to ``log_file`` (by default ``<state_dir>/prometheus.log``).

    Raises
    ------
    PrometheusError
        The binary is missing, the port is taken, or Prometheus did not become ready.
    """
    binary = prometheus_binary()
    if not port_free(port):
        raise PrometheusError(f"port {HOST}:{port} is in use")
    state = Path(state_dir).resolve()
    state.mkdir(parents=True, exist_ok=True)
    data_dir = state / "prometheus-data"
    shutil.rmtree(data_dir, ignore_errors=True)
    config = write_config(state / "prometheus.yml", rule_files(rules_dir), evaluation_interval)
    log = log_file or state / "prometheus.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    args = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={data_dir}",
        "--storage.tsdb.retention.time=2d",
        f"--web.listen-address={HOST}:{port}",
        "--web.enable-remote-write-receiver",
        "--web.enable-lifecycle",
        "--log.level=warn",
    ]
    process = spawn(args, {}, log)
    running = LocalPrometheus(
        url=f"http://{HOST}:{port}",
        pid=process.pid,
        data_dir=str(data_dir),
        config_file=str(config),
        log_file=str(log),
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise PrometheusError(f"prometheus exited with code {process.returncode}; log {log}:\n{tail}")
        try:
            with urllib.request.urlopen(f"{running.url}/-/ready", timeout=1.0) as response:
                if response.status == 200:
                    (state / "prometheus.json").write_text(json.dumps(asdict(running), indent=2))
                    return running
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    stop_prometheus(running)
    raise PrometheusError(
        f"prometheus did not become ready at {running.url} within {timeout:.0f} s (log: {log})"
    )


def stop_prometheus(prometheus: LocalPrometheus, timeout: float = 10.0) -> None:
    """Stop Prometheus (SIGTERM, then SIGKILL after ``timeout`` s); its data directory is kept."""
    terminate(prometheus.pid, grace_seconds=timeout)


def reload_rules(prometheus: LocalPrometheus) -> None:
    """Ask Prometheus to re-read its configuration and rule files."""
    request = urllib.request.Request(f"{prometheus.url}/-/reload", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        if response.status != 200:
            raise PrometheusError(f"reload answered {response.status}")


DEMO_QUERIES: Final = {
    "predictions": "sum(modelwatch_predictions_total)",
    "requests_per_second": "sum(rate(modelwatch_prediction_requests_total[5m]))",
    "rejected_share": (
        "sum(rate(modelwatch_rejections_total[5m])) / (sum(rate(modelwatch_rejections_total[5m]))"
        " + sum(rate(modelwatch_prediction_requests_total[5m])))"
    ),
    "p99_latency_seconds": (
        "histogram_quantile(0.99, sum by (le) (rate(modelwatch_prediction_latency_seconds_bucket[5m])))"
    ),
    # Scores of different methods are on different scales: rank only the features that drifted.
    "most_drifted_feature": (
        "topk(1, max by (model, feature) (last_over_time(modelwatch_feature_drift_score[1d])"
        " and on (model, version, feature, method)"
        " last_over_time(modelwatch_feature_drift_detected[1d]) == 1))"
    ),
    "firing_alerts": 'count(ALERTS{alertstate="firing"})',
}


def demo_figures(prometheus: LocalPrometheus) -> dict[str, str]:
    """Return a few live figures read back from Prometheus, formatted for the demo's summary.

    A figure without data reads ``n/a``; the most drifted feature reads ``model.feature = score``.
    """
    figures: dict[str, str] = {}
    for name, query in DEMO_QUERIES.items():
        try:
            result = prometheus.query(query)
        except PrometheusError as error:
            figures[name] = f"error: {error}"
            continue
        if not result:
            figures[name] = {"firing_alerts": "0", "most_drifted_feature": "none drifted"}.get(name, "n/a")
            continue
        value = float(result[0]["value"][1])
        if name == "most_drifted_feature":
            labels = result[0]["metric"]
            figures[name] = f"{labels.get('model')}.{labels.get('feature')} = {value:.3f}"
        elif name == "rejected_share":
            figures[name] = f"{value:.1%}"
        elif name == "p99_latency_seconds":
            figures[name] = f"{value * 1000:.0f} ms"
        else:
            figures[name] = f"{value:.2f}" if not value.is_integer() else f"{value:.0f}"
    return figures
