"""The capture replay's throughput through moto: lines replayed per second, and S3 calls per line.

A ``moto_server`` process on 127.0.0.1 (real HTTP) holds the capture DLQ, the events bucket and
a Firehose stream. The DLQ is filled by the real writer (``SqsDeadLetter``) with ``--events``
prediction-event lines, ``--per-request`` to a message as serving sends them, and
``build_capture_replay`` (what the CLI and the function run) drains it once per concurrency.
moto serves one request at a time in about 7-15 ms, so the figures are moto's more than the
replay's: read them for the calls per line (two S3 PUTs per event, one Firehose call and one
delete per message), not as what AWS would do.

    python tests/benchmarks/bench_replay.py --events 5000 --output .bench/replay.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

STREAM = "modelwatch-events-fraud"
BUCKET = "modelwatch-events"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for(port: int, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"moto_server did not listen on port {port}")


def _event_line(i: int) -> str:
    return json.dumps(
        {
            "schema_version": 1, "event_id": f"{i:032x}", "request_id": f"r{i // 5}", "index": i % 5,
            "model": "fraud", "version": "3", "timestamp": "2027-01-15T08:00:00Z",
            "features": {"amount": 120.5, "hour": 3, "is_foreign": True, "channel": "online"},
            "prediction": 0.12, "latency_ms": 4.2,
        }
    )  # fmt: skip


def _count_calls(client: Any, counts: dict[str, int]) -> None:
    def count(model: Any, **_: Any) -> None:
        name = f"{model.service_model.service_name}.{model.name}"
        counts[name] = counts.get(name, 0) + 1

    client.meta.events.register("before-call.*.*", count)


def run(events: int, per_request: int, concurrencies: list[int]) -> dict[str, Any]:
    import boto3

    from modelwatch.jobs.capture_replay import build_capture_replay
    from modelwatch.settings import CaptureReplaySettings
    from modelwatch.stores.capture import pack_lines
    from modelwatch.stores.dead_letters import SqsDeadLetter

    logging.getLogger("modelwatch").setLevel(logging.WARNING)
    port = _free_port()
    moto_server = Path(sys.executable).with_name("moto_server")
    server = subprocess.Popen(
        [str(moto_server), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_for(port)
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )
    results: list[dict[str, Any]] = []
    try:
        s3, sqs = boto3.client("s3"), boto3.client("sqs")
        s3.create_bucket(Bucket=BUCKET)
        boto3.client("firehose").create_delivery_stream(
            DeliveryStreamName=STREAM,
            ExtendedS3DestinationConfiguration={
                "RoleARN": "arn:aws:iam::123456789012:role/firehose",
                "BucketARN": f"arn:aws:s3:::{BUCKET}",
                "Prefix": "events/model=fraud/",
            },
        )
        for concurrency in concurrencies:
            queue_url = sqs.create_queue(QueueName=f"capture-dlq-{concurrency}")["QueueUrl"]
            writer = SqsDeadLetter(sqs, queue_url)
            offset = concurrency * 10_000_000  # fresh event ids for every run
            lines = [_event_line(offset + i) for i in range(events)]
            for start in range(0, events, per_request):  # one dead letter per request, as serving sends
                writer.send(STREAM, pack_lines(lines[start : start + per_request]), "bench")
            settings = CaptureReplaySettings(
                capture_dlq_url=queue_url, events_bucket=BUCKET, replay_concurrency=concurrency
            )
            replay = build_capture_replay(settings)
            counts: dict[str, int] = {}
            _count_calls(replay.claims._storage.client, counts)  # type: ignore[attr-defined]
            started = time.perf_counter()
            report = replay.run(max_messages=1_000_000)
            seconds = time.perf_counter() - started
            assert report.lines == events and report.clean, report
            results.append(
                {
                    "concurrency": concurrency,
                    "messages": report.messages,
                    "lines": report.lines,
                    "seconds": round(seconds, 2),
                    "lines_per_second": round(report.lines / seconds),
                    "s3_calls_per_line": round(sum(counts.values()) / report.lines, 2),
                    "s3_calls": counts,
                }
            )
            print(json.dumps(results[-1]), file=sys.stderr)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {"events": events, "events_per_message": per_request, "runs": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--per-request", type=int, default=5, help="event lines per dead letter")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    result = run(args.events, args.per_request, args.concurrency)
    text = json.dumps(result, indent=2)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
