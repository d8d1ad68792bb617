"""The load profile: what ``make load`` and ``make chaos`` send, locally or to a deployed API.

A mix of valid predictions (one instance, and batches), schema violations and feedback labels
for earlier predictions, each with its own ``x-request-id`` so every captured event can be
matched to the request that made it. Each answered or failed request is one line of the
*ledger* (``MODELWATCH_LOAD_LEDGER``, JSON lines), which the reconciliation reads.

Run by ``python -m modelwatch_local load`` (``run.py``), or by hand against a deployed API::

    MODELWATCH_LOAD_AUTH=sigv4 MODELWATCH_LOAD_STAGES=10:60 MODELWATCH_LOAD_LEDGER=ledger.jsonl \\
      locust -f local/modelwatch_local/load/locustfile.py --headless --host "$API_URL"

Settings (environment): ``MODELWATCH_LOAD_MODEL`` (fraud_detection), ``MODELWATCH_LOAD_STAGES``
(``users:seconds`` stages, comma-separated), ``MODELWATCH_LOAD_USER_RATE`` (requests per second
per user; 0: as fast as answers come), ``MODELWATCH_LOAD_MIX`` (``full`` or ``predict``),
``MODELWATCH_LOAD_MAX_BATCH`` (20), ``MODELWATCH_LOAD_RUN_ID`` (prefix of request ids),
``MODELWATCH_LOAD_TIMEOUT`` (seconds, 60), ``MODELWATCH_LOAD_STOP_FILE`` (stop once it exists),
``MODELWATCH_LOAD_AUTH`` (``none``, ``sigv4``, ``jwt``)
with ``MODELWATCH_LOAD_REGION`` or ``MODELWATCH_LOAD_TOKEN``.
"""

from __future__ import annotations

import json
import os
import random
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any, ClassVar

from locust import FastHttpUser, LoadTestShape, constant, constant_throughput, events, task
from locust.env import Environment

from modelwatch_local.fraud import synthetic_transactions
from modelwatch_local.load.auth import signer_from_environment
from modelwatch_local.load.stages import parse_stages

MODEL = os.environ.get("MODELWATCH_LOAD_MODEL", "fraud_detection")
RUN_ID = os.environ.get("MODELWATCH_LOAD_RUN_ID") or f"load-{uuid.uuid4().hex[:8]}"
STAGES = parse_stages(os.environ.get("MODELWATCH_LOAD_STAGES", "4:20"))
USER_RATE = float(os.environ.get("MODELWATCH_LOAD_USER_RATE", "0"))
MIX = os.environ.get("MODELWATCH_LOAD_MIX", "full")
MAX_BATCH = int(os.environ.get("MODELWATCH_LOAD_MAX_BATCH", "20"))
TIMEOUT = float(os.environ.get("MODELWATCH_LOAD_TIMEOUT", "60"))
STOP_FILE = os.environ.get("MODELWATCH_LOAD_STOP_FILE")
ROWS, _LABELS = synthetic_transactions(2000, seed=11)
SIGN = signer_from_environment()
PREDICT = f"/v1/models/{MODEL}/predict"
FEEDBACK = f"/v1/models/{MODEL}/feedback"

_stage = [0]
_ledger: list[Any] = []


def _open_ledger(environment: Environment, **_: Any) -> None:
    path = os.environ.get("MODELWATCH_LOAD_LEDGER")
    if path:
        _ledger.append(open(path, "a", buffering=1))  # noqa: SIM115  # closed on test_stop


def _close_ledger(environment: Environment, **_: Any) -> None:
    while _ledger:
        _ledger.pop().close()


events.test_start.add_listener(_open_ledger)  # type: ignore[no-untyped-call]
events.test_stop.add_listener(_close_ledger)  # type: ignore[no-untyped-call]


def _record(entry: dict[str, Any]) -> None:
    if _ledger:
        _ledger[0].write(json.dumps(entry, separators=(",", ":")) + "\n")


def _version_of(text: str | None) -> str | None:
    """The version a prediction was answered by (to see serving switch, or not, under a fault)."""
    try:
        return str(json.loads(text or "")["version"])
    except (ValueError, KeyError, TypeError):
        return None


def _invalid_instance(rng: random.Random) -> dict[str, Any]:
    """An instance that breaks the schema in one of the ways clients do."""
    row = dict(ROWS[rng.randrange(len(ROWS))])
    kind = rng.randrange(4)
    if kind == 0:
        row.pop("amount")
    elif kind == 1:
        row["hour"] = "late"
    elif kind == 2:
        row["merchant_risk"] = None
    else:
        row["coupon"] = "SPRING"
    return row


class PredictionUser(FastHttpUser):
    """One client of the API: predictions, some invalid, and labels for what it was answered."""

    wait_time = constant_throughput(USER_RATE) if USER_RATE > 0 else constant(0)
    network_timeout = TIMEOUT
    connection_timeout = TIMEOUT
    weights: ClassVar[dict[str, int]] = (
        {"predict_one": 6, "predict_batch": 2, "invalid": 1, "feedback": 1}
        if MIX == "full"
        else {"predict_one": 3, "predict_batch": 1}
    )

    def on_start(self) -> None:
        self.rng = random.Random()
        self.served: deque[tuple[str, int]] = deque(maxlen=50)
        self.sequence = 0
        kinds: dict[str, Callable[[], None]] = {
            "predict_one": self.predict_one,
            "predict_batch": self.predict_batch,
            "invalid": self.invalid,
            "feedback": self.feedback,
        }
        self.plan = [kinds[name] for name, weight in self.weights.items() for _ in range(weight)]

    def _request_id(self, kind: str) -> str:
        self.sequence += 1
        return f"{RUN_ID}-{kind}-{uuid.uuid4().hex[:12]}-{self.sequence}"

    def _post(
        self, kind: str, path: str, payload: dict[str, Any], expected: int, **fields: Any
    ) -> tuple[str, int]:
        request_id = self._request_id(kind)
        text = json.dumps(payload)
        headers = SIGN(
            "POST",
            f"{self.host}{path}",
            text.encode(),
            {"content-type": "application/json", "x-request-id": request_id},
        )
        started = time.time()
        clock = time.perf_counter()
        status = 0
        error = ""
        version = None
        with self.client.post(path, data=text, headers=headers, name=kind, catch_response=True) as response:
            status = int(response.status_code or 0)
            if status != expected:
                error = (response.text or str(response.error or ""))[:200] if status else str(response.error)
                response.failure(f"{status}: {error[:80]}")
            else:
                response.success()
                if status == 200:
                    version = _version_of(response.text)
        _record({
            "t": started,
            "ms": round((time.perf_counter() - clock) * 1000.0, 3),
            "stage": _stage[0],
            "kind": kind,
            "request_id": request_id,
            "status": status,
            "expected": expected,
            "error": error[:200],
            **({"version": version} if version is not None else {}),
            **fields,
        })  # fmt: skip
        return request_id, status

    def _predict(self, kind: str, size: int) -> None:
        start = self.rng.randrange(len(ROWS))
        instances = [ROWS[(start + i) % len(ROWS)] for i in range(size)]
        request_id, status = self._post(kind, PREDICT, {"instances": instances}, 200, instances=size)
        if status == 200:
            self.served.append((request_id, size))

    def predict_one(self) -> None:
        self._predict("predict_one", 1)

    def predict_batch(self) -> None:
        self._predict("predict_batch", self.rng.randint(2, MAX_BATCH))

    def invalid(self) -> None:
        size = self.rng.randint(1, 3)
        instances = [ROWS[self.rng.randrange(len(ROWS))] for _ in range(size)]
        instances[self.rng.randrange(size)] = _invalid_instance(self.rng)
        self._post("invalid", PREDICT, {"instances": instances}, 422, instances=size)

    def feedback(self) -> None:
        if not self.served:
            self.predict_one()
            return
        target, size = self.served[self.rng.randrange(len(self.served))]
        labels = [{"request_id": target, "index": i, "label": self.rng.randint(0, 1)} for i in range(size)]
        self._post(
            "feedback",
            FEEDBACK,
            {"labels": labels},
            202,
            labels=[[target, i] for i in range(size)],
        )

    @task
    def next_request(self) -> None:
        self.rng.choice(self.plan)()


class StagesShape(LoadTestShape):
    """``MODELWATCH_LOAD_STAGES``: so many users for so many seconds, stage after stage, then stop
    (or as soon as ``MODELWATCH_LOAD_STOP_FILE`` exists)."""

    def tick(self) -> tuple[int, float] | None:
        if STOP_FILE and os.path.exists(STOP_FILE):  # asked to stop: users finish their request
            return None
        elapsed = float(self.get_run_time())  # type: ignore[no-untyped-call]
        end = 0.0
        for index, stage in enumerate(STAGES):
            end += stage.seconds
            if elapsed < end:
                _stage[0] = index
                return stage.users, float(max(stage.users, 1) * 10)
        return None
