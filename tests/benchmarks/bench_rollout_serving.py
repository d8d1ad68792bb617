"""What a rollout costs the caller: ``ab`` routing and ``shadow`` over plain serving, in one run.

The same app (``create_app``), the same model and the same one-instance request, invoked
in-process through the Mangum handler as ``run.py``'s handler overhead is, with capture
deferred as in Lambda with the capture extension (the handler only queues; the flush is what
the extension's thread runs after the answer). Per request, the overhead is the handler's time
minus the model's own predict time on the caller's path. Handlers:

- ``plain`` and ``plain_again``: the model with no rollout (twice: the A/A difference is the
  measurement's own resolution on this machine);
- ``ab_request_id`` and ``ab_header``: an ``ab`` rollout at share 0.5 whose candidate is the
  same artifact as production (so both variants predict alike), keyed by the request id or by
  an ``x-variant-key`` header;
- ``shadow``: a ``shadow`` rollout at share 1.0: every request is scored again by the candidate,
  after the answer, in the flush.

Handlers take turns, one request each (``--block``), in an order shuffled every round (seeded),
so the drift of a shared machine, and what the request before leaves in the caches, spread over
all of them alike. The baseline is the two plain handlers' requests pooled. Reported: each
handler's overhead p50/p99 and flush p50, the p50 differences to the baseline in µs and as
ratios (goal: ``ab`` at most 20 µs; ``shadow`` on the caller's path 0), the A/A difference
(the resolution), and shadow's after-response cost (its flush over plain's, and the
candidate's predict time in it).

    python tests/benchmarks/bench_rollout_serving.py --requests 4000 --output .bench/rollout_serving.json
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

GOALS = {"ab_overhead_over_plain_p50_us": 20.0, "shadow_caller_overhead_over_plain_p50_us": 0.0}
ROLLOUT_ID = "bench-rollout"
SEED = 12


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


class _Clock:
    """The predict time of the last call on any wrapped predictor."""

    def __init__(self) -> None:
        self.last_seconds = 0.0


class _TimedPredictor:
    def __init__(self, inner: Any, clock: _Clock) -> None:
        self.inner = inner
        self.clock = clock

    def predict(self, rows: Any) -> list[Any]:
        started = time.perf_counter()
        result: list[Any] = self.inner.predict(rows)
        self.clock.last_seconds = time.perf_counter() - started
        return result


class _StaticManifests:
    def __init__(self, manifest: Any) -> None:
        self.manifest = manifest

    def read(self, model: str, alias: str, if_none_match: str | None = None) -> Any:
        from modelwatch.stores.manifests import ManifestRead

        return None if if_none_match == "etag" else ManifestRead(self.manifest, "etag")


@dataclass
class _Handler:
    name: str
    handler: Any
    context: Any
    clock: _Clock
    event: dict[str, Any]
    overhead_us: list[float] = field(default_factory=list)
    model_us: list[float] = field(default_factory=list)
    flush_us: list[float] = field(default_factory=list)
    flush_model_us: list[float] = field(default_factory=list)  # a shadow candidate's predict, in the flush
    variants: dict[str, int] = field(default_factory=dict)

    def once(self, lambda_context: Any, record: bool) -> None:
        self.clock.last_seconds = 0.0
        started = time.perf_counter()
        response = self.handler(self.event, lambda_context)
        returned = time.perf_counter()
        model_seconds = self.clock.last_seconds  # read before the flush: shadow predicts again there
        self.clock.last_seconds = 0.0
        self.context.capture.flush()
        flushed = time.perf_counter()
        flush_model_seconds = self.clock.last_seconds
        if response["statusCode"] != 200:
            raise RuntimeError(f"{self.name}: {response}")
        if record:
            self.overhead_us.append((returned - started - model_seconds) * 1e6)
            self.model_us.append(model_seconds * 1e6)
            self.flush_us.append((flushed - returned) * 1e6)
            self.flush_model_us.append(flush_model_seconds * 1e6)
            variant = json.loads(response["body"])["variant"]
            self.variants[variant] = self.variants.get(variant, 0) + 1

    def summary(self) -> dict[str, Any]:
        return {
            "requests": len(self.overhead_us),
            "overhead_p50_us": round(_percentile(self.overhead_us, 50), 1),
            "overhead_p99_us": round(_percentile(self.overhead_us, 99), 1),
            "model_predict_p50_us": round(_percentile(self.model_us, 50), 1),
            "flush_p50_us": round(_percentile(self.flush_us, 50), 1),
            "model_predict_in_flush_p50_us": round(_percentile(self.flush_model_us, 50), 1),
            "answered_by": self.variants,
        }


def _build(name: str, manifest: Any, tmp: str, headers: dict[str, str] | None = None) -> _Handler:
    from mangum import Mangum
    from modelwatch_local.fraud import synthetic_transactions

    from modelwatch.serving.app import create_app
    from modelwatch.serving.context import ServingContext
    from modelwatch.serving.metrics import InMemoryServingMetrics
    from modelwatch.serving.model_cache import ModelCache, _default_loader
    from modelwatch.settings import ServingSettings
    from modelwatch.stores.artifacts import ArtifactStore
    from modelwatch.stores.capture import MemorySink
    from modelwatch.stores.objects import InMemoryStorage
    from tests.integration.conftest import http_api_event

    clock = _Clock()

    def loader(m: Any, path: Path) -> Any:
        return _TimedPredictor(_default_loader(m, path), clock)

    settings = ServingSettings(
        models_bucket="b", events_stream="events", rejected_stream="rejected", manifest_ttl_seconds=30
    )
    cache = ModelCache(
        _StaticManifests(manifest),
        ArtifactStore(InMemoryStorage(), tmp),
        ["fraud_detection"],
        ttl_seconds=30,
        loader=loader,
    )
    context = ServingContext(
        settings=settings, models=cache, sink=MemorySink(), metrics=InMemoryServingMetrics()
    )
    context.capture.mode = "deferred"  # as with the capture extension: the handler only queues
    handler = Mangum(create_app(context), lifespan="off")
    row = synthetic_transactions(1, seed=5)[0][0]
    event = http_api_event("POST", "/v1/models/fraud_detection/predict", {"instances": [row]}, headers)
    return _Handler(name, handler, context, clock, event)


def _with_rollout(manifest: Any, mode: str, share: float, key: str = "request_id") -> Any:
    from modelwatch.contracts.rollout import Rollout, RolloutCandidate

    candidate = RolloutCandidate(
        version="2",
        flavor=manifest.flavor,
        artifact_uri=manifest.artifact_uri,  # the same artifact: both variants predict alike
        input_schema=manifest.input_schema,
        prediction_type=manifest.prediction_type,
    )
    rollout = Rollout(
        id=ROLLOUT_ID,
        mode=mode,
        candidate=candidate,
        production_version=manifest.version,
        share=share,
        key=key,
    )
    return manifest.model_copy(update={"rollout": rollout})


def bench_assignment_hash(count: int = 100_000) -> float:
    """The assignment hash alone (µs per call, median of 5 runs)."""
    from modelwatch.contracts.rollout import assigned_variant

    keys = [uuid.uuid4().hex for _ in range(count)]
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        for key in keys:
            assigned_variant(ROLLOUT_ID, key, 0.5)
        runs.append((time.perf_counter() - started) / count * 1e6)
    return round(sorted(runs)[2], 2)


def run(requests: int, block: int, trees: int) -> dict[str, Any]:
    from modelwatch_local.fraud import FRAUD_SCHEMA, save_model, train_fraud_model

    from modelwatch.contracts.manifest import ServingManifest
    from tests.integration.conftest import LambdaContext

    with tempfile.TemporaryDirectory() as tmp:
        path = save_model(train_fraud_model(n=3000, n_estimators=trees), Path(tmp) / "model.joblib")
        plain = ServingManifest(
            model="fraud_detection",
            version="1",
            flavor="sklearn",
            artifact_uri=str(path),
            input_schema=FRAUD_SCHEMA,
            prediction_type="probability",
        )
        handlers = [
            _build("plain", plain, tmp),
            _build("plain_again", plain, tmp),
            _build("ab_request_id", _with_rollout(plain, "ab", 0.5), tmp),
            _build(
                "ab_header",
                _with_rollout(plain, "ab", 0.5, key="header:x-variant-key"),
                tmp,
                headers={"x-variant-key": "customer-42"},
            ),
            _build("shadow", _with_rollout(plain, "shadow", 1.0), tmp),
        ]
        lambda_context = LambdaContext()
        for handler in handlers:  # warm-up: model load, first-call caches
            for _ in range(300):
                handler.once(lambda_context, record=False)
        rounds = max(1, requests // block)
        order = random.Random(SEED)
        for round_index in range(rounds):
            if round_index % 500 == 0:
                gc.collect()
            order.shuffle(handlers)  # a rotation would keep who follows whom (shadow's flush is heavy)
            for handler in handlers:
                for _ in range(block):
                    handler.once(lambda_context, record=True)
        by_name = {handler.name: handler.summary() for handler in handlers}
        pooled_plain = [us for h in handlers if h.name.startswith("plain") for us in h.overhead_us]
        pooled_flush = [us for h in handlers if h.name.startswith("plain") for us in h.flush_us]

    # The baseline is both plain handlers' requests together: what differs between the two (the
    # A/A difference) is what this machine cannot resolve, and pooling halves its share.
    floor = round(_percentile(pooled_plain, 50), 1)
    shadow = by_name["shadow"]
    plain_flush = round(_percentile(pooled_flush, 50), 1)

    def over_plain(name: str) -> float:
        return round(by_name[name]["overhead_p50_us"] - floor, 1)

    return {
        "handlers": by_name,
        "plain_pooled_overhead_p50_us": floor,
        "a_a_difference_p50_us": round(
            by_name["plain_again"]["overhead_p50_us"] - by_name["plain"]["overhead_p50_us"], 1
        ),
        "ab_overhead_over_plain_p50_us": {name: over_plain(name) for name in ("ab_request_id", "ab_header")},
        "shadow_caller_overhead_over_plain_p50_us": over_plain("shadow"),
        "ratio_to_plain_p50": {
            name: round(summary["overhead_p50_us"] / floor, 3) for name, summary in by_name.items()
        },
        "shadow_after_response": {
            # the whole flush: the candidate's predict, its validation, encoding, the sink
            "flush_p50_us": shadow["flush_p50_us"],
            "plain_flush_p50_us": plain_flush,
            "over_plain_flush_p50_us": round(shadow["flush_p50_us"] - plain_flush, 1),
            "candidate_predict_p50_us": shadow["model_predict_in_flush_p50_us"],
            "flush_ratio_to_plain": round(shadow["flush_p50_us"] / plain_flush, 2),
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=4000, help="measured requests per handler")
    parser.add_argument("--block", type=int, default=1, help="requests per handler before the next")
    parser.add_argument("--trees", type=int, default=100, help="trees of the fraud forest (run.py: 100)")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    result: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "goals": GOALS,
        "assignment_hash_us": bench_assignment_hash(),
        **run(args.requests, args.block, args.trees),
    }
    text = json.dumps(result, indent=2)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
