"""Demo traffic: real HTTP requests to the prediction API, some of them invalid on purpose."""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class TrafficReport:
    sent: int = 0
    served_requests: int = 0
    served_instances: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    versions: Counter[str] = field(default_factory=Counter)

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return float("nan")
        rank = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
        return ordered[rank]

    @property
    def rejected(self) -> int:
        return sum(count for status, count in self.statuses.items() if status >= 400)


def _invalid_request(
    model: str, rows: Sequence[dict[str, Any]], rng: random.Random, max_instances: int
) -> tuple[str, bytes]:
    """A request that must be rejected, of one of the kinds a client gets wrong."""
    kind = rng.randrange(6)
    row = dict(rows[rng.randrange(len(rows))])
    path = f"/v1/models/{model}/predict"
    if kind == 0:
        row.pop("amount")
    elif kind == 1:
        row["hour"] = "late"
    elif kind == 2:
        row["merchant_risk"] = None
    elif kind == 3:
        return path, json.dumps({"instances": [row] * (max_instances + 1)}).encode()
    elif kind == 4:
        return "/v1/models/no_such_model/predict", json.dumps({"instances": [row]}).encode()
    else:
        return path, b"{not json"
    return path, json.dumps({"instances": [row]}).encode()


def send_traffic(
    api_url: str,
    model: str,
    rows: Sequence[dict[str, Any]],
    requests: int,
    invalid_share: float = 0.05,
    max_batch: int = 8,
    max_instances: int = 1000,
    seed: int = 0,
    workers: int = 2,
    on_response: Callable[[int], None] | None = None,
) -> TrafficReport:
    """Send ``requests`` predict requests (batches of 1 to ``max_batch`` rows), some invalid.

    ``on_response`` is called with each answer's status code, as it comes (a progress bar).
    """
    rng = random.Random(seed)
    plan: list[tuple[str, bytes]] = []
    cursor = 0
    for _ in range(requests):
        if rng.random() < invalid_share:
            path, body = _invalid_request(model, rows, rng, max_instances)
        else:
            size = rng.randint(1, max_batch)
            batch = [rows[(cursor + i) % len(rows)] for i in range(size)]
            cursor += size
            path, body = f"/v1/models/{model}/predict", json.dumps({"instances": batch}).encode()
        plan.append((path, body))

    report = TrafficReport()

    def send(client: httpx.Client, item: tuple[str, bytes]) -> tuple[int, float, dict[str, Any] | None]:
        path, body = item
        started = time.perf_counter()
        response = client.post(path, content=body, headers={"content-type": "application/json"})
        elapsed = (time.perf_counter() - started) * 1000
        payload = response.json() if response.status_code == 200 else None
        return response.status_code, elapsed, payload

    with httpx.Client(base_url=api_url, timeout=30.0) as client, ThreadPoolExecutor(workers) as pool:
        for status, elapsed, payload in pool.map(lambda item: send(client, item), plan):
            report.sent += 1
            report.statuses[status] += 1
            report.latencies_ms.append(elapsed)
            if on_response is not None:
                on_response(status)
            if payload is not None:
                report.served_requests += 1
                report.served_instances += len(payload["predictions"])
                report.versions[payload["version"]] += 1
    return report
